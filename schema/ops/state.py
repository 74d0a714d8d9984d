"""Variables: TF2 resource variables and TF1 reference variables, with TensorFlow's op names.

    w = VarHandleOp(shared_name="w", dtype=float, shape=[4,3])   -> resource[]
    AssignVariableOp(w, f32[4,3]);  ReadVariableOp(w) -> f32[4,3]
    v = VariableV2(shape=[3], dtype=float) -> f32_ref[3];  Assign(v, f32[3]) -> f32_ref[3]

Every op here touches session state, so all are declared stateful: passes never fold, merge or
prune-by-value them. Reference ops (Assign, AssignAdd...) are not stateful in TensorFlow's own
registry (their effect travels through the ref input), but stateful is the safe flag here.
"""
from __future__ import annotations

from schema.registry import op
from schema.shapes import scalar

__all__ = ["variable_shape", "shapes_compatible"]

_HANDLE_PASSTHROUGH = ("Identity", "StopGradient")


def variable_shape(ref):
    """The declared shape of the variable a resource tensor refers to, or None if unknown.

    Follows Identity chains back to the VarHandleOp: (4, 3) for VarHandleOp(shape=[4,3]).
    """
    node = ref.node
    for _ in range(64):
        if node.op == "VarHandleOp":
            return node.attrs.get("shape")
        if node.op not in _HANDLE_PASSTHROUGH or not node.inputs:
            return None
        node = node.inputs[0].node
    return None


def shapes_compatible(a, b) -> bool:
    """Static shapes that could describe the same tensor: (None, 3) and (2, 3) are."""
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _merge(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return tuple(x if x is not None else y for x, y in zip(a, b))


def _read_shape(ctx):
    return [variable_shape(ctx.node.inputs[0])]


def _check_assign(ctx, declared, validate: bool):
    value = ctx.shape(1)
    if validate and not shapes_compatible(declared, value):
        raise ctx.fail(f"cannot assign a value of shape {_show(value)} to a variable of shape "
                       f"{_show(declared)}")


def _assign_variable_shape(ctx):
    _check_assign(ctx, variable_shape(ctx.node.inputs[0]), bool(ctx.attr("validate_shape")))
    return []


def _update_variable_shape(ctx):
    declared, value = variable_shape(ctx.node.inputs[0]), ctx.shape(1)
    if not shapes_compatible(declared, value):
        raise ctx.fail(f"cannot update a variable of shape {_show(declared)} with a value of "
                       f"shape {_show(value)}; shapes must be equal")
    return []


def _variable_shape(ctx):
    return [ctx.attr("shape")]


def _assign_ref_shape(ctx):
    validate = bool(ctx.attr("validate_shape", True))
    _check_assign(ctx, ctx.shape(0), validate)
    return [_merge(ctx.shape(0), ctx.shape(1)) if validate else ctx.shape(1)]


def _update_ref_shape(ctx):
    if not shapes_compatible(ctx.shape(0), ctx.shape(1)):
        raise ctx.fail(f"cannot update a variable of shape {_show(ctx.shape(0))} with a value "
                       f"of shape {_show(ctx.shape(1))}; shapes must be equal")
    return [_merge(ctx.shape(0), ctx.shape(1))]


def _show(shape) -> str:
    return "unknown" if shape is None else str([("?" if d is None else d) for d in shape])


# -- resource variables (TF2) ----------------------------------------------------------------

op("VarHandleOp", outputs=["resource: resource"],
   attrs=["container: string = ''", "shared_name: string = ''", "debug_name: string = ''",
          "dtype: type", "shape: shape", "allowed_devices: list(string) = []"],
   shape=scalar, stateful=True)
op("ReadVariableOp", inputs=["resource: resource"], outputs=["value: dtype"],
   attrs=["dtype: type"], shape=_read_shape, stateful=True)
op("AssignVariableOp", inputs=["resource: resource", "value: dtype"],
   attrs=["dtype: type", "validate_shape: bool = false"], shape=_assign_variable_shape,
   stateful=True)
for _name in ("AssignAddVariableOp", "AssignSubVariableOp"):
    op(_name, inputs=["resource: resource", "value: dtype"], attrs=["dtype: type"],
       shape=_update_variable_shape, stateful=True)
op("VarIsInitializedOp", inputs=["resource: resource"], outputs=["is_initialized: bool"],
   shape=scalar, stateful=True)
op("DestroyResourceOp", inputs=["resource: resource"],
   attrs=["ignore_lookup_error: bool = true"], stateful=True)

# -- reference variables (TF1) ---------------------------------------------------------------

for _name in ("VariableV2", "Variable"):
    op(_name, outputs=["ref: Ref(dtype)"],
       attrs=["shape: shape", "dtype: type", "container: string = ''",
              "shared_name: string = ''"], shape=_variable_shape, stateful=True)
op("Assign", inputs=["ref: Ref(T)", "value: T"], outputs=["output_ref: Ref(T)"],
   attrs=["T: type", "validate_shape: bool = true", "use_locking: bool = true"],
   shape=_assign_ref_shape, stateful=True)
for _name in ("AssignAdd", "AssignSub"):
    op(_name, inputs=["ref: Ref(T)", "value: T"], outputs=["output_ref: Ref(T)"],
       attrs=["T: numbertype", "use_locking: bool = false"], shape=_update_ref_shape,
       stateful=True)
op("IsVariableInitialized", inputs=["ref: Ref(dtype)"], outputs=["is_initialized: bool"],
   attrs=["dtype: type"], shape=scalar, stateful=True)
