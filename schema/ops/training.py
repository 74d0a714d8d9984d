"""Optimizer update ops with TensorFlow's names, inputs and attrs (training_ops).

    ApplyGradientDescent(var: f32_ref[3], alpha: f32[], delta: f32[3]) -> f32_ref[3]
    ResourceApplyAdam(var, m, v: resource, beta1_power, beta2_power, lr, beta1, beta2, epsilon,
                      grad)                                           (no outputs)

Each optimizer has a reference form ``Apply<Name>`` (Ref(T) state inputs, returns the updated
``var`` ref) and a resource form ``ResourceApply<Name>`` (resource handles, no outputs). The
inputs are (state variables..., hyper-parameters and the gradient) in TensorFlow's order; the
hyper-parameters must be scalars and the state and gradient must have the variable's shape.
All are declared stateful.
"""
from __future__ import annotations

from schema.ops.array_rules import fmt_shape
from schema.ops.state import shapes_compatible, variable_shape
from schema.registry import op

__all__ = ["OPTIMIZER_OPS", "OptimizerSignature"]


class OptimizerSignature:
    """The inputs of one optimizer op: ``state`` variables first, then ``rest`` in order;
    every entry of ``rest`` is a scalar except ``grad_name``."""

    def __init__(self, state: tuple, rest: tuple, grad_name: str = "grad", attrs: tuple = ()):
        self.state, self.rest, self.grad_name, self.attrs = state, rest, grad_name, attrs

    @property
    def names(self) -> tuple:
        return self.state + self.rest

    @property
    def scalars(self) -> tuple:
        return tuple(n for n in self.rest if n != self.grad_name)


_NESTEROV = ("use_nesterov: bool = false",)

# The optimizer name (Apply<name> / ResourceApply<name>) -> its signature.
OPTIMIZER_OPS: dict[str, OptimizerSignature] = {
    "GradientDescent": OptimizerSignature(("var",), ("alpha", "delta"), grad_name="delta"),
    "Momentum": OptimizerSignature(("var", "accum"), ("lr", "grad", "momentum"),
                                   attrs=_NESTEROV),
    "Adam": OptimizerSignature(("var", "m", "v"), ("beta1_power", "beta2_power", "lr", "beta1",
                                                  "beta2", "epsilon", "grad"), attrs=_NESTEROV),
    "Adagrad": OptimizerSignature(("var", "accum"), ("lr", "grad"),
                                  attrs=("update_slots: bool = true",)),
    "RMSProp": OptimizerSignature(("var", "ms", "mom"), ("lr", "rho", "momentum", "epsilon",
                                                        "grad")),
    "CenteredRMSProp": OptimizerSignature(("var", "mg", "ms", "mom"),
                                          ("lr", "rho", "momentum", "epsilon", "grad")),
}


def _check_shapes(ctx, sig: OptimizerSignature, state_shapes: list):
    """Scalars are scalars; state and gradient agree with var. Returns var's merged shape."""
    for i, name in enumerate(sig.rest, start=len(sig.state)):
        shape = ctx.shape(i)
        if name != sig.grad_name and shape is not None and len(shape) != 0:
            raise ctx.fail(f"{name} is not a scalar: {fmt_shape(shape)}")
    grad_shape = ctx.shape(len(sig.state) + sig.rest.index(sig.grad_name))
    merged = state_shapes[0]
    for name, shape in list(zip(sig.state[1:], state_shapes[1:])) + [(sig.grad_name,
                                                                      grad_shape)]:
        if not shapes_compatible(merged, shape):
            raise ctx.fail(f"var and {name} do not have the same shape"
                           f"{fmt_shape(merged)} {fmt_shape(shape)}")
        if merged is None:
            merged = shape
        elif shape is not None:
            merged = tuple(a if a is not None else b for a, b in zip(merged, shape))
    return merged


def _ref_shape_fn(sig: OptimizerSignature):
    def shape_fn(ctx):
        return [_check_shapes(ctx, sig, [ctx.shape(i) for i in range(len(sig.state))])]
    return shape_fn


def _resource_shape_fn(sig: OptimizerSignature):
    def shape_fn(ctx):
        _check_shapes(ctx, sig, [variable_shape(ctx.node.inputs[i])
                                 for i in range(len(sig.state))])
        return []
    return shape_fn


def _declare(name: str, sig: OptimizerSignature) -> None:
    attrs = ["T: numbertype", "use_locking: bool = false", *sig.attrs]
    plain = [f"{n}: T" for n in sig.rest]
    op(f"Apply{name}", inputs=[f"{n}: Ref(T)" for n in sig.state] + plain,
       outputs=["out: Ref(T)"], attrs=attrs, shape=_ref_shape_fn(sig), stateful=True)
    op(f"ResourceApply{name}", inputs=[f"{n}: resource" for n in sig.state] + plain,
       attrs=attrs, shape=_resource_shape_fn(sig), stateful=True)


for _name, _sig in OPTIMIZER_OPS.items():
    _declare(_name, _sig)
