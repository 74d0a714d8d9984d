"""Checkpoint kernels: SaveV2, RestoreV2, MergeV2Checkpoints over runtime.checkpoint.

    SaveV2("ckpt/m", ["w", "b"], ["", ""], w, b)    writes ckpt/m.data-<token>, then ckpt/m.index
    RestoreV2("ckpt/m", ["w", "b"], ["", ""]) dtypes=[float32, float32] -> (w, b)

Names and prefixes arrive as string tensors (bytes or str elements). Only whole tensors are
supported: a non-empty shape_and_slices entry (a partitioned variable's slice) is refused.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

from runtime.checkpoint import (
    CheckpointNotFoundError, checkpoint_exists, delete_checkpoint, read_index, read_tensors,
    write_checkpoint,
)
from runtime.kernels import KernelContext, kernel


def _text(ctx: KernelContext, item, what: str) -> str:
    if isinstance(item, (bytes, np.bytes_)):
        try:
            return bytes(item).decode("utf-8")
        except UnicodeDecodeError:
            raise ctx.fail(f"{what} is not valid UTF-8: {bytes(item)[:60]!r}") from None
    if isinstance(item, str):
        return item
    raise ctx.fail(f"{what} must be a string, got {type(item).__name__}")


def _scalar_text(ctx: KernelContext, value, what: str) -> str:
    arr = np.asarray(value, dtype=object)
    if arr.shape != ():
        raise ctx.fail(f"{what} must be a scalar string, got shape {list(arr.shape)}")
    return _text(ctx, arr.item(), what)


def _texts(ctx: KernelContext, value, what: str, count: int) -> list[str]:
    arr = np.asarray(value, dtype=object)
    if arr.ndim != 1 or arr.shape[0] != count:
        raise ctx.fail(f"{what} must be a vector of {count} strings, got shape "
                       f"{list(arr.shape)}")
    return [_text(ctx, item, f"{what}[{i}]") for i, item in enumerate(arr.tolist())]


def _names(ctx: KernelContext, names, slices, count: int) -> list[str]:
    """The tensor names, after checking that every slice spec asks for the whole tensor."""
    result = _texts(ctx, names, "tensor_names", count)
    for name, spec in zip(result, _texts(ctx, slices, "shape_and_slices", count)):
        if spec.strip():
            raise ctx.fail(f"tensor {name!r}: slice spec {spec!r} is not supported; "
                           f"checkpoints hold whole tensors (shape_and_slices must be '')")
    return result


@kernel("SaveV2")
def save_v2(ctx: KernelContext):
    dtypes = list(ctx.attr("dtypes"))

    def save(prefix, names, slices, *tensors):
        path = _scalar_text(ctx, prefix, "prefix")
        keys = _names(ctx, names, slices, len(dtypes))
        if len(set(keys)) != len(keys):
            raise ctx.fail(f"tensor_names repeat a name: {keys}")
        write_checkpoint(path, keys, tensors, [t.base for t in dtypes])
    return save


@kernel("RestoreV2")
def restore_v2(ctx: KernelContext):
    dtypes = list(ctx.attr("dtypes"))

    def restore(prefix, names, slices):
        path = _scalar_text(ctx, prefix, "prefix")
        keys = _names(ctx, names, slices, len(dtypes))
        values = read_tensors(path, list(zip(keys, dtypes)), ctx.limits)
        return values[0] if len(values) == 1 else tuple(values)
    return restore


@kernel("MergeV2Checkpoints")
def merge_v2_checkpoints(ctx: KernelContext):
    delete_old_dirs = bool(ctx.attr("delete_old_dirs", True))
    allow_missing = bool(ctx.attr("allow_missing_files", False))

    def merge(prefixes, destination):
        sources = [_text(ctx, p, "checkpoint_prefixes") for p in
                   np.asarray(prefixes, dtype=object).reshape(-1).tolist()]
        target = _scalar_text(ctx, destination, "destination_prefix")
        present = [p for p in sources if checkpoint_exists(p)]
        if not allow_missing and len(present) != len(sources):
            missing = sorted(set(sources) - set(present))
            raise CheckpointNotFoundError(f"cannot merge: no checkpoint at {missing}")
        names, values, dtypes = _gather(ctx, present)
        write_checkpoint(target, names, values, dtypes)
        for source in present:
            if os.path.abspath(source) != os.path.abspath(target):
                _remove_source(source, delete_old_dirs)
    return merge


def _gather(ctx: KernelContext, prefixes: list[str]):
    names, values, dtypes = [], [], []
    for prefix in prefixes:
        _, _, entries = read_index(prefix, ctx.limits)
        clash = set(entries) & set(names)
        if clash:
            raise ctx.fail(f"cannot merge: tensor {sorted(clash)[0]!r} is in more than one "
                           f"checkpoint")
        requests = [(name, entry.dtype) for name, entry in entries.items()]
        values += read_tensors(prefix, requests, ctx.limits)
        names += [name for name, _ in requests]
        dtypes += [dtype for _, dtype in requests]
    return names, values, dtypes


def _remove_source(prefix: str, delete_dir: bool) -> None:
    delete_checkpoint(prefix)
    if delete_dir:  # only an emptied folder goes, as TensorFlow's shard folders do
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(prefix) or ".")
