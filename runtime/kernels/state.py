"""Variable kernels over the Session's ResourceManager (``ctx.resources``).

    VarHandleOp(shared_name="w")   -> ResourceHandle("", "w", float32, (4, 3))
    AssignVariableOp(handle, value) stores a copy; ReadVariableOp(handle) -> the stored array
    VariableV2(...) -> the RefVariable cell; Assign(ref, value) replaces its value -> the cell

Values are replaced, never mutated in place: an array a kernel read earlier stays unchanged.
An empty shared_name means the node's own name, as in TensorFlow's graph mode.

Resource-variable kernels run on a GPU too (values stay in device memory, updates use
``xp = ctx.xp``); reference variables (RefVariable cells) live on the host.
"""
from __future__ import annotations

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from runtime.resources import RefVariable, ResourceHandle
from schema.ops.state import shapes_compatible


def _show(shape) -> str:
    return "unknown" if shape is None else str([("?" if d is None else d) for d in shape])


def _shared_name(ctx: KernelContext) -> str:
    name = ctx.attr("shared_name", "")
    return name if isinstance(name, str) and name else ctx.node.name


def _handle(ctx: KernelContext, value) -> ResourceHandle:
    if not isinstance(value, ResourceHandle):
        raise ctx.fail(f"expected a resource handle from a VarHandleOp, got "
                       f"{type(value).__name__}")
    return value


def _check_dtype(ctx: KernelContext, handle: ResourceHandle) -> None:
    dtype = ctx.attr("dtype")
    if handle.dtype is not None and dtype is not None and handle.dtype != dtype:
        raise ctx.fail(f"variable {handle.name!r} is {handle.dtype.tf_name} but the op's dtype "
                       f"is {dtype.tf_name}")


# -- resource variables -----------------------------------------------------------------------

@kernel("VarHandleOp", device=BOTH)
def var_handle(ctx: KernelContext):
    handle = ResourceHandle(str(ctx.attr("container", "")), _shared_name(ctx),
                            ctx.attr("dtype"), ctx.attr("shape"))
    return lambda: handle


@kernel("ReadVariableOp", device=BOTH)
def read_variable(ctx: KernelContext):
    dtype = ctx.attr("dtype")

    def read(handle):
        return ctx.resources.read(_handle(ctx, handle), dtype)
    return read


@kernel("AssignVariableOp", device=BOTH)
def assign_variable(ctx: KernelContext):
    validate = bool(ctx.attr("validate_shape", False))

    def assign(handle, value):
        handle = _handle(ctx, handle)
        _check_dtype(ctx, handle)
        if validate and not shapes_compatible(handle.shape, np.shape(value)):
            raise ctx.fail(f"Trying to assign to variable {handle.name!r} with tensor with wrong "
                           f"shape. Expected {_show(handle.shape)} got {list(np.shape(value))}")
        ctx.resources.assign(handle, value)
    return assign


_UPDATES = {"AssignAddVariableOp": "add", "AssignSubVariableOp": "subtract",
            "AssignAdd": "add", "AssignSub": "subtract"}


def _same_shape_update(ctx: KernelContext, name: str, fn, delta):
    """fn(old, delta) as the new value, refusing a delta that would change the shape."""
    xp = ctx.xp

    def apply(old):
        if np.shape(old) != np.shape(delta):
            raise ctx.fail(f"Cannot update variable {name!r} with shape {list(np.shape(old))} "
                           f"using a Tensor with shape {list(np.shape(delta))}, shapes must be "
                           f"equal.")
        old = xp.asarray(old)
        return xp.asarray(fn(old, delta)).astype(old.dtype, copy=False)
    return apply


@kernel("AssignAddVariableOp", "AssignSubVariableOp", device=BOTH)
def update_variable(ctx: KernelContext):
    fn = getattr(ctx.xp, _UPDATES[ctx.node.op])

    def update(handle, delta):
        handle = _handle(ctx, handle)
        _check_dtype(ctx, handle)
        ctx.resources.update(handle, _same_shape_update(ctx, handle.name, fn, delta))
    return update


@kernel("VarIsInitializedOp", device=BOTH)
def var_is_initialized(ctx: KernelContext):
    xp = ctx.xp
    return lambda handle: xp.asarray(ctx.resources.is_initialized(_handle(ctx, handle)))


@kernel("DestroyResourceOp", device=BOTH)
def destroy_resource(ctx: KernelContext):
    ignore_missing = bool(ctx.attr("ignore_lookup_error", True))

    def destroy(handle):
        handle = _handle(ctx, handle)
        if not ignore_missing and not ctx.resources.exists(handle):
            raise ctx.fail(f"resource {handle.name!r} does not exist")
        ctx.resources.destroy(handle)
    return destroy


# -- reference variables ----------------------------------------------------------------------

@kernel("VariableV2", "Variable")
def variable(ctx: KernelContext):
    cell = ctx.resources.ref_variable(str(ctx.attr("container", "")), _shared_name(ctx),
                                      ctx.attr("dtype"), ctx.attr("shape"))
    return lambda: cell


def _cell(ctx: KernelContext, ref) -> RefVariable:
    if not isinstance(ref, RefVariable):
        raise ctx.fail(f"expected a reference variable, got {type(ref).__name__}")
    return ref


@kernel("Assign")
def assign(ctx: KernelContext):
    validate = bool(ctx.attr("validate_shape", True))

    def assign_ref(ref, value):
        cell = _cell(ctx, ref)
        expected = np.shape(cell.value) if cell.is_initialized else cell.shape
        if validate and not shapes_compatible(expected, np.shape(value)):
            raise ctx.fail(f"Assign requires shapes of both tensors to match. lhs shape= "
                           f"{_show(expected)} rhs shape= {list(np.shape(value))}")
        cell.set(value)
        return cell
    return assign_ref


@kernel("AssignAdd", "AssignSub")
def update_ref(ctx: KernelContext):
    fn = getattr(np, _UPDATES[ctx.node.op])

    def update(ref, delta):
        cell = _cell(ctx, ref)
        cell.update(_same_shape_update(ctx, cell.name, fn, delta))
        return cell
    return update


@kernel("IsVariableInitialized")
def is_variable_initialized(ctx: KernelContext):
    return lambda ref: np.asarray(_cell(ctx, ref).is_initialized)
