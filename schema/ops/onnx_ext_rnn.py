"""ONNX's recurrent layers as extension ops, run by a numpy loop over time
(runtime/kernels/onnx_ext_rnn.py). Inputs and attrs are ONNX's; an absent optional input is
an empty tensor (shape [0]).

    OnnxLSTM(X f32[seq=5, batch=2, in=3], W f32[1,4*4,3], R f32[1,16,4], B[0], lens[0], h0[0],
             c0[0], P[0]) hidden_size=4 -> Y f32[5,1,2,4], Y_h f32[1,2,4], Y_c f32[1,2,4]

layout=1 puts the batch first: X [batch, seq, in], Y [batch, seq, dirs, hidden],
Y_h [batch, dirs, hidden].
"""
from __future__ import annotations

from schema.registry import op

__all__ = ["RNN_ACTIVATIONS", "DEFAULT_ACTIVATIONS", "GATES"]

# Activation name (lowercase) -> (uses alpha, uses beta, default alpha, default beta).
RNN_ACTIVATIONS = {
    "relu": (False, False, 0.0, 0.0), "tanh": (False, False, 0.0, 0.0),
    "sigmoid": (False, False, 0.0, 0.0), "softsign": (False, False, 0.0, 0.0),
    "softplus": (False, False, 0.0, 0.0), "affine": (True, True, 1.0, 0.0),
    "leakyrelu": (True, False, 0.01, 0.0), "thresholdedrelu": (True, False, 1.0, 0.0),
    "scaledtanh": (True, True, 1.0, 1.0), "hardsigmoid": (True, True, 0.2, 0.5),
    "elu": (True, False, 1.0, 0.0),
}
DEFAULT_ACTIVATIONS = {"OnnxRNN": ["tanh"], "OnnxGRU": ["sigmoid", "tanh"],
                       "OnnxLSTM": ["sigmoid", "tanh", "tanh"]}
GATES = {"OnnxRNN": 1, "OnnxGRU": 3, "OnnxLSTM": 4}


def _directions(ctx) -> int:
    return 2 if ctx.attr("direction", "forward") == "bidirectional" else 1


def _rnn_shape(ctx):
    x, hidden, dirs = ctx.shape(0), ctx.attr("hidden_size"), _directions(ctx)
    gates = GATES[ctx.node.op]
    w = ctx.shape(1)
    if w is not None and len(w) == 3 and None not in w and w[:2] != (dirs, gates * hidden):
        raise ctx.fail(f"W has shape {list(w)}, expected [{dirs}, {gates * hidden}, input_size]")
    states = len(ctx.node.out_types) - 1
    if x is None:
        return [None] * (states + 1)
    if len(x) != 3:
        raise ctx.fail(f"X must be 3-D, got shape {list(x)}")
    if ctx.attr("layout", 0) == 0:
        seq, batch = x[0], x[1]
        return [(seq, dirs, batch, hidden)] + [(dirs, batch, hidden)] * states
    batch, seq = x[0], x[1]
    return [(batch, seq, dirs, hidden)] + [(batch, dirs, hidden)] * states


_COMMON = ["hidden_size: int >= 1", "activations: list(string) = []",
           "activation_alpha: list(float) = []", "activation_beta: list(float) = []",
           "clip: float = 0.0", "has_clip: bool = false",
           "direction: {'forward', 'reverse', 'bidirectional'} = 'forward'",
           "layout: int = 0", "T: {half, float, double}"]
_INPUTS = ["X: T", "W: T", "R: T", "B: T", "sequence_lens: int32", "initial_h: T"]

op("OnnxRNN", inputs=_INPUTS, outputs=["Y: T", "Y_h: T"], attrs=_COMMON, shape=_rnn_shape)
op("OnnxGRU", inputs=_INPUTS, outputs=["Y: T", "Y_h: T"],
   attrs=_COMMON + ["linear_before_reset: int = 0"], shape=_rnn_shape)
op("OnnxLSTM", inputs=_INPUTS + ["initial_c: T", "P: T"], outputs=["Y: T", "Y_h: T", "Y_c: T"],
   attrs=_COMMON + ["input_forget: int = 0"], shape=_rnn_shape)
