"""Kernels of OnnxRNN, OnnxGRU and OnnxLSTM: ONNX's recurrent layers as a loop over time.

Each direction runs its cell over the sequence; with ``sequence_lens`` a batch entry stops at
its length (its state is carried unchanged, its outputs stay zero), and the reverse direction
starts at the entry's last valid step.

    RNN:  H = f(X W^T + H R^T + Wb + Rb)
    GRU:  z, r = f(...); h~ = g(X Wh^T + (r * H) Rh^T + Rbh + Wbh) (or r * (H Rh^T + Rbh) with
          linear_before_reset); H = (1 - z) * h~ + z * H
    LSTM: i, f = f(... + P * C); c~ = g(...); C = f * C + i * c~; o = f(... + Po * C);
          H = o * h(C)
Gate pre-activations are clipped to [-clip, clip] when a clip is given.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from runtime.kernels import KernelContext, kernel
from schema.ops.onnx_ext_rnn import DEFAULT_ACTIVATIONS, GATES, RNN_ACTIVATIONS

_FUNCTIONS: dict[str, Callable] = {
    "relu": lambda x, a, b: np.maximum(x, 0),
    "tanh": lambda x, a, b: np.tanh(x),
    "sigmoid": lambda x, a, b: 1 / (1 + np.exp(-x)),
    "softsign": lambda x, a, b: x / (1 + np.abs(x)),
    "softplus": lambda x, a, b: np.log1p(np.exp(x)),
    "affine": lambda x, a, b: a * x + b,
    "leakyrelu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "thresholdedrelu": lambda x, a, b: np.where(x > a, x, 0),
    "scaledtanh": lambda x, a, b: a * np.tanh(b * x),
    "hardsigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "elu": lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1)),
}


def activations(ctx: KernelContext, directions: int) -> list:
    """One list of activation callables per direction, alphas and betas consumed in order."""
    per_direction = len(DEFAULT_ACTIVATIONS[ctx.node.op])
    names = [n.lower() for n in ctx.attr("activations", []) or []]
    names = names or DEFAULT_ACTIVATIONS[ctx.node.op] * directions
    if len(names) == per_direction and directions == 2:
        names = names * 2
    if len(names) != per_direction * directions:
        raise ctx.fail(f"activations {names} must list {per_direction} per direction")
    alphas = list(ctx.attr("activation_alpha", []) or [])
    betas = list(ctx.attr("activation_beta", []) or [])
    fns = []
    for name in names:
        if name not in RNN_ACTIVATIONS:
            raise ctx.fail(f"activation {name!r} is not supported")
        uses_alpha, uses_beta, alpha, beta = RNN_ACTIVATIONS[name]
        alpha = alphas.pop(0) if uses_alpha and alphas else alpha
        beta = betas.pop(0) if uses_beta and betas else beta
        fns.append(lambda x, f=_FUNCTIONS[name], a=alpha, b=beta: f(x, a, b))
    return [fns[d * per_direction:(d + 1) * per_direction] for d in range(directions)]


def _clipper(ctx: KernelContext) -> Callable:
    if not ctx.attr("has_clip", False):
        return lambda x: x
    limit = ctx.attr("clip")
    return lambda x: np.clip(x, -limit, limit)


# -- cells: (x_t, h, c, weights of one direction) -> (h, c) ---------------------------------------

def _rnn_cell(fns, clip, x, h, c, w, r, b, p):
    hidden = h.shape[-1]
    return fns[0](clip(x @ w.T + h @ r.T + b[:hidden] + b[hidden:])), c


def _gru_cell(linear_before_reset: bool):
    def cell(fns, clip, x, h, c, w, r, b, p):
        n = h.shape[-1]
        gx = x @ w.T + b[:3 * n]
        rb = b[3 * n:]
        z = fns[0](clip(gx[:, :n] + h @ r[:n].T + rb[:n]))
        reset = fns[0](clip(gx[:, n:2 * n] + h @ r[n:2 * n].T + rb[n:2 * n]))
        if linear_before_reset:
            candidate = gx[:, 2 * n:] + reset * (h @ r[2 * n:].T + rb[2 * n:])
        else:
            candidate = gx[:, 2 * n:] + (reset * h) @ r[2 * n:].T + rb[2 * n:]
        return (1 - z) * fns[1](clip(candidate)) + z * h, c
    return cell


def _lstm_cell(input_forget: bool):
    def cell(fns, clip, x, h, c, w, r, b, p):
        n = h.shape[-1]
        g = x @ w.T + h @ r.T + b[:4 * n] + b[4 * n:]
        i = fns[0](clip(g[:, :n] + p[:n] * c))
        f = 1 - i if input_forget else fns[0](clip(g[:, 2 * n:3 * n] + p[2 * n:] * c))
        c = f * c + i * fns[1](clip(g[:, 3 * n:]))
        o = fns[0](clip(g[:, n:2 * n] + p[n:2 * n] * c))
        return o * fns[2](c), c
    return cell


def _run_direction(cell, fns, clip, x, lens, h, c, weights, reverse: bool, y_out):
    """Runs one direction in place into y_out [seq, batch, hidden]; returns the last (h, c)."""
    seq, batch = x.shape[:2]
    rows = np.arange(batch)
    for step in range(seq):
        active = step < lens
        if not active.any():
            break
        t = np.where(active, lens - 1 - step, 0) if reverse else np.full(batch, step)
        new_h, new_c = cell(fns, clip, x[t, rows], h, c, *weights)
        h = np.where(active[:, None], new_h, h)
        c = np.where(active[:, None], new_c, c)
        y_out[t[active], rows[active]] = new_h[active]
    return h, c


def _given_or(ctx: KernelContext, value, shape: tuple, dtype, what: str) -> np.ndarray:
    """An optional input (empty when absent) checked against ``shape``, or zeros."""
    if value is None or value.size == 0:
        return np.zeros(shape, dtype)
    if value.shape != shape:
        raise ctx.fail(f"{what} has shape {list(value.shape)}, expected {list(shape)}")
    return value.astype(dtype)


def _inputs(ctx: KernelContext, dirs: int, x, w, r, b, lens, h0, c0, p) -> tuple:
    """Checked, time-major inputs in the computation dtype, defaults filled in."""
    hidden, layout, gates = ctx.attr("hidden_size"), ctx.attr("layout", 0), GATES[ctx.node.op]
    dtype = np.float32 if x.dtype == np.float16 else x.dtype
    if x.ndim != 3:
        raise ctx.fail(f"X must be 3-D, got shape {list(x.shape)}")
    x = (x.transpose(1, 0, 2) if layout else x).astype(dtype)
    seq, batch = x.shape[:2]
    if w.shape != (dirs, gates * hidden, x.shape[2]) or r.shape != (dirs, gates * hidden, hidden):
        raise ctx.fail(f"W {list(w.shape)} and R {list(r.shape)} do not match {dirs} "
                       f"direction(s) of {gates} gates of hidden_size {hidden} on {x.shape[2]} "
                       f"inputs")
    if layout:  # initial states are [batch, dirs, hidden]
        h0, c0 = (s.transpose(1, 0, 2) if s is not None and s.ndim == 3 else s for s in (h0, c0))
    state_shape = (dirs, batch, hidden)
    states = [_given_or(ctx, s, state_shape, dtype, name) for s, name in
              ((h0, "initial_h"), (c0, "initial_c"))]
    b = _given_or(ctx, b, (dirs, 2 * gates * hidden), dtype, "B")
    p = _given_or(ctx, p, (dirs, 3 * hidden), dtype, "P")
    lens = _given_or(ctx, lens, (batch,), np.int64, "sequence_lens") if lens.size else \
        np.full(batch, seq, np.int64)
    if (lens < 0).any() or (lens > seq).any():
        raise ctx.fail(f"sequence_lens {lens.tolist()} must be in [0, {seq}]")
    return x, w.astype(dtype), r.astype(dtype), b, p, lens, states


def _recurrent(ctx: KernelContext, cell) -> Callable:
    hidden, layout = ctx.attr("hidden_size"), ctx.attr("layout", 0)
    direction = ctx.attr("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    fns_by_dir, clip = activations(ctx, dirs), _clipper(ctx)

    def run(x, w, r, b, lens, h0, c0=None, p=None):
        x, w, r, b, p, lens, states = _inputs(ctx, dirs, x, w, r, b, lens, h0, c0, p)
        seq, batch = x.shape[:2]
        y = np.zeros((seq, dirs, batch, hidden), x.dtype)
        last = [np.zeros((dirs, batch, hidden), x.dtype) for _ in range(2)]
        for d in range(dirs):
            last[0][d], last[1][d] = _run_direction(
                cell, fns_by_dir[d], clip, x, lens, states[0][d], states[1][d],
                (w[d], r[d], b[d], p[d]), direction == "reverse" or d == 1, y[:, d])
        outs = [y] + last[:len(ctx.node.out_types) - 1]
        if layout:
            outs = [outs[0].transpose(2, 0, 1, 3)] + [s.transpose(1, 0, 2) for s in outs[1:]]
        return tuple(np.ascontiguousarray(o).astype(ctx.out_np(0)) for o in outs)
    return run


@kernel("OnnxRNN")
def rnn(ctx: KernelContext):
    return _recurrent(ctx, _rnn_cell)


@kernel("OnnxGRU")
def gru(ctx: KernelContext):
    return _recurrent(ctx, _gru_cell(bool(ctx.attr("linear_before_reset", 0))))


@kernel("OnnxLSTM")
def lstm(ctx: KernelContext):
    return _recurrent(ctx, _lstm_cell(bool(ctx.attr("input_forget", 0))))
