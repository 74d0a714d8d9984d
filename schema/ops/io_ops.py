"""Checkpoint ops, with TensorFlow's names and attrs (the file format is docs/CHECKPOINTS.md).

    SaveV2(prefix: string[], tensor_names: string[N], shape_and_slices: string[N],
           tensors: dtypes)                                  -> nothing; writes <prefix>.index
    RestoreV2(prefix, tensor_names, shape_and_slices) dtypes=[float32, int32]
                                                             -> f32[?...], i32[?...]
    MergeV2Checkpoints(checkpoint_prefixes: string[K], destination_prefix: string[])

All three touch the file system, so they are stateful (never folded, merged or pruned by value);
SaveV2 and MergeV2Checkpoints are also side-effecting. Only whole tensors are supported: every
``shape_and_slices`` entry must be "" (the kernels refuse a slice spec with a clear error).
"""
from __future__ import annotations

from schema.registry import op

__all__: list[str] = []


def _check_rank(ctx, index: int, rank: int, what: str) -> None:
    shape = ctx.shape(index)
    if shape is not None and len(shape) != rank:
        raise ctx.fail(f"{what} must be {'a scalar' if rank == 0 else f'of rank {rank}'}, "
                       f"got shape {list(shape)}")


def _check_count(ctx, index: int, count: int, what: str) -> None:
    """A rank-1 name/slice list must have one entry per tensor when its length is known."""
    _check_rank(ctx, index, 1, what)
    shape = ctx.shape(index)
    if shape is not None and shape[0] is not None and shape[0] != count:
        raise ctx.fail(f"{what} has {shape[0]} entries but there are {count} tensors")


def _save_shape(ctx):
    count = len(ctx.attr("dtypes") or [])
    _check_rank(ctx, 0, 0, "prefix")
    _check_count(ctx, 1, count, "tensor_names")
    _check_count(ctx, 2, count, "shape_and_slices")
    return []


def _restore_shape(ctx):
    count = len(ctx.attr("dtypes") or [])
    _check_rank(ctx, 0, 0, "prefix")
    _check_count(ctx, 1, count, "tensor_names")
    _check_count(ctx, 2, count, "shape_and_slices")
    return [None] * count  # the shapes are in the file, known only when it is read


def _merge_shape(ctx):
    _check_rank(ctx, 0, 1, "checkpoint_prefixes")
    _check_rank(ctx, 1, 0, "destination_prefix")
    return []


op("SaveV2",
   inputs=["prefix: string", "tensor_names: string", "shape_and_slices: string",
           "tensors: dtypes"],
   attrs=["dtypes: list(type) >= 1"], shape=_save_shape, stateful=True, side_effecting=True,
   doc="Writes tensors to the checkpoint <prefix> (atomically: data file first, index last).")
op("RestoreV2",
   inputs=["prefix: string", "tensor_names: string", "shape_and_slices: string"],
   outputs=["tensors: dtypes"], attrs=["dtypes: list(type) >= 1"], shape=_restore_shape,
   stateful=True,
   doc="Reads the named tensors of checkpoint <prefix>, checking dtype, extent and checksum.")
op("MergeV2Checkpoints",
   inputs=["checkpoint_prefixes: string", "destination_prefix: string"],
   attrs=["delete_old_dirs: bool = true", "allow_missing_files: bool = false"],
   shape=_merge_shape, stateful=True, side_effecting=True,
   doc="Merges checkpoints into one at destination_prefix, then deletes the sources.")
