"""Optimizer update kernels with TensorFlow's formulas (core/kernels/training_ops.cc).

    ApplyGradientDescent(var, alpha, delta):  var -= alpha * delta
    ApplyAdam(var, m, v, b1p, b2p, lr, b1, b2, eps, g):
        lr_t = lr * sqrt(1 - b2p) / (1 - b1p);  m += (g - m) * (1 - b1);  v += (g*g - v) * (1 - b2)
        var -= lr_t * m / (sqrt(v) + eps)

``Apply<Name>`` takes reference variables (the RefVariable cells) and returns ``var``'s cell;
``ResourceApply<Name>`` takes resource handles and returns nothing. An update reads every state
variable, computes, and replaces the values under the Session's resource lock, so concurrent
runs never interleave halves of two updates. New values are new arrays: nothing read earlier
changes.

The update formulas take ``xp`` (numpy or cupy): ``ResourceApply<Name>`` runs on a GPU too, with
the variables' values in device memory. ``Apply<Name>`` (reference variables) runs on the host.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from runtime.resources import RefVariable, ResourceHandle
from schema.ops.array_rules import fmt_shape
from schema.ops.training import OPTIMIZER_OPS, OptimizerSignature

Values = dict  # input name -> numpy array


def _gradient_descent(x: Values, attrs: dict, xp=np) -> Values:
    step = x["alpha"] * x["delta"]
    if isinstance(step, xp.ndarray) and step.shape == np.shape(x["var"]):
        # var - step written into step's fresh buffer: one allocation per update, not two
        return {"var": xp.subtract(x["var"], step, out=step)}
    return {"var": x["var"] - step}


def _momentum(x: Values, attrs: dict, xp=np) -> Values:
    accum = x["accum"] * x["momentum"] + x["grad"]
    if attrs["use_nesterov"]:
        var = x["var"] - (x["grad"] * x["lr"] + accum * x["momentum"] * x["lr"])
    else:
        var = x["var"] - accum * x["lr"]
    return {"var": var, "accum": accum}


def _adam(x: Values, attrs: dict, xp=np) -> Values:
    one = xp.ones((), x["var"].dtype)
    lr = x["lr"] * xp.sqrt(one - x["beta2_power"]) / (one - x["beta1_power"])
    m = x["m"] + (x["grad"] - x["m"]) * (one - x["beta1"])
    v = x["v"] + (xp.square(x["grad"]) - x["v"]) * (one - x["beta2"])
    step = (x["grad"] * (one - x["beta1"]) + x["beta1"] * m) if attrs["use_nesterov"] else m
    return {"var": x["var"] - (step * lr) / (xp.sqrt(v) + x["epsilon"]), "m": m, "v": v}


def _adagrad(x: Values, attrs: dict, xp=np) -> Values:
    accum = x["accum"] + xp.square(x["grad"]) if attrs["update_slots"] else x["accum"]
    return {"var": x["var"] - x["grad"] * x["lr"] / xp.sqrt(accum), "accum": accum}


def _rms_prop(x: Values, attrs: dict, xp=np) -> Values:
    one = xp.ones((), x["var"].dtype)
    ms = x["ms"] + (xp.square(x["grad"]) - x["ms"]) * (one - x["rho"])
    mom = x["mom"] * x["momentum"] + (x["grad"] * x["lr"]) / xp.sqrt(ms + x["epsilon"])
    return {"var": x["var"] - mom, "ms": ms, "mom": mom}


def _centered_rms_prop(x: Values, attrs: dict, xp=np) -> Values:
    one = xp.ones((), x["var"].dtype)
    ms = x["ms"] + (xp.square(x["grad"]) - x["ms"]) * (one - x["rho"])
    mg = x["mg"] + (x["grad"] - x["mg"]) * (one - x["rho"])
    denom = (ms - xp.square(mg)) + x["epsilon"]
    mom = x["mom"] * x["momentum"] + (x["grad"] * x["lr"]) / xp.sqrt(denom)
    return {"var": x["var"] - mom, "mg": mg, "ms": ms, "mom": mom}


UPDATES: dict[str, Callable[..., Values]] = {
    "GradientDescent": _gradient_descent, "Momentum": _momentum, "Adam": _adam,
    "Adagrad": _adagrad, "RMSProp": _rms_prop, "CenteredRMSProp": _centered_rms_prop,
}


def _check(ctx: KernelContext, sig: OptimizerSignature, x: Values) -> None:
    """TensorFlow's checks: var has type T, scalars are scalars, shapes equal var's."""
    var = x["var"]
    if var.dtype != ctx.attr("T").np:
        raise ctx.fail(f"var holds {var.dtype} but the op's type T is {ctx.attr('T').tf_name}")
    for name in sig.scalars:
        if np.ndim(x[name]) != 0:
            raise ctx.fail(f"{name} is not a scalar: {fmt_shape(np.shape(x[name]))}")
    for name in sig.state[1:] + (sig.grad_name,):
        if np.shape(x[name]) != var.shape:
            raise ctx.fail(f"var and {name} do not have the same shape"
                           f"{fmt_shape(var.shape)} {fmt_shape(np.shape(x[name]))}")


def _compute(ctx: KernelContext, sig: OptimizerSignature, update, x: Values) -> Values:
    _check(ctx, sig, x)
    attrs = {name: ctx.attr(name) for name in ("use_nesterov", "update_slots")}
    dtype, xp = x["var"].dtype, ctx.xp
    with np.errstate(all="ignore"):  # inf/nan propagate as in TensorFlow, silently
        new = update(x, attrs, xp)
    return {name: xp.asarray(value).astype(dtype, copy=False) for name, value in new.items()}


def _lock(ctx: KernelContext):
    lock = getattr(ctx.resources, "lock", None)
    return lock if lock is not None else contextlib.nullcontext()


def _ref_kernel(name: str, sig: OptimizerSignature):
    update, n = UPDATES[name], len(sig.state)

    def factory(ctx: KernelContext):
        def run(*args):
            cells = list(args[:n])
            for cell in cells:
                if not isinstance(cell, RefVariable):
                    raise ctx.fail(f"expected a reference variable, got {type(cell).__name__}")
            with _lock(ctx):
                x = {s: cell.get() for s, cell in zip(sig.state, cells)}
                x.update((r, np.asarray(v)) for r, v in zip(sig.rest, args[n:]))
                new = _compute(ctx, sig, update, x)
                for s, cell in zip(sig.state, cells):
                    if s in new:
                        cell.set(new[s])
            return cells[0]
        return run
    return factory


def _resource_kernel(name: str, sig: OptimizerSignature):
    update, n = UPDATES[name], len(sig.state)

    def factory(ctx: KernelContext):
        def run(*args):
            handles = list(args[:n])
            for handle in handles:
                if not isinstance(handle, ResourceHandle):
                    raise ctx.fail(f"expected a resource handle from a VarHandleOp, got "
                                   f"{type(handle).__name__}")
            xp = ctx.xp
            with _lock(ctx):
                x = {s: xp.asarray(ctx.resources.read(h)) for s, h in zip(sig.state, handles)}
                x.update((r, xp.asarray(v)) for r, v in zip(sig.rest, args[n:]))
                new = _compute(ctx, sig, update, x)
                for s, handle in zip(sig.state, handles):
                    if s in new:  # fresh results are handed over; an input passed on is copied
                        ctx.resources.assign(handle, new[s],
                                             copy=any(new[s] is a for a in args[n:]))
        return run
    return factory


for _name, _sig in OPTIMIZER_OPS.items():
    kernel(f"Apply{_name}")(_ref_kernel(_name, _sig))
    kernel(f"ResourceApply{_name}", device=BOTH)(_resource_kernel(_name, _sig))
