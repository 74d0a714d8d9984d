"""Writing an ONNX model to disk: one protobuf, or past protobuf's 2 GiB limit the model plus one
side file of external data (its large initializers).

    files = save_model(model, "out/model.onnx")   # -> [out/model.onnx]
    files = save_model(big, "out/big.onnx")       # -> [out/big.onnx, out/big.onnx.data]
    external_data_name("out/big.onnx")            # -> "big.onnx.data"

Both files are written atomically (temp name, fsync, rename); the side file's tensors sit at
page-aligned offsets. ``gcc_flow.onnx.exporter`` and ``gcc_flow.onnx`` re-export these names.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional, Union

import onnx
from onnx import numpy_helper

from gcc_flow.onnx.export_ops.builder import OnnxExportError
from schema.io import PROTOBUF_LIMIT, _fsync_dir, atomic_write

__all__ = ["save_model", "external_data_name", "MAX_PROTOBUF_BYTES", "EXTERNAL_MIN_BYTES"]

MAX_PROTOBUF_BYTES = PROTOBUF_LIMIT   # past this, save_model writes external data
EXTERNAL_MIN_BYTES = 1024     # tensors smaller than this stay inside the protobuf
_ALIGN = 4096                 # side-file offsets are page aligned (onnxruntime maps them)


def external_data_name(path: Union[str, os.PathLike]) -> str:
    """The side file ``save_model`` writes next to ``path``: "model.onnx" -> "model.onnx.data"."""
    return Path(path).name + ".data"


def save_model(model: onnx.ModelProto, path: Union[str, os.PathLike], *,
               max_protobuf_bytes: Optional[int] = None,
               external_min_bytes: Optional[int] = None) -> list[Path]:
    """Writes ``model`` atomically; returns the files written.

    Up to ``max_protobuf_bytes`` (default MAX_PROTOBUF_BYTES, protobuf's 2 GiB limit) the
    model is one file. Past it, every initializer of ``external_min_bytes`` (default
    EXTERNAL_MIN_BYTES) or more moves to one side file, ``external_data_name(path)``, in the
    same folder (created O_EXCL | O_NOFOLLOW under a temp
    name, then renamed); the model keeps the rest. Tensors kept in typed fields are converted
    to raw_data. A model that already points at external data is refused (its locations are
    not ours to copy).
    """
    path = Path(path)
    if max_protobuf_bytes is None:
        max_protobuf_bytes = MAX_PROTOBUF_BYTES
    if external_min_bytes is None:
        external_min_bytes = EXTERNAL_MIN_BYTES
    tensors = list(_all_tensors(model.graph))
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise OnnxExportError(f"tensor {tensor.name!r} already refers to external data; "
                                  f"load the data into the model before saving it")
    if model.ByteSize() <= max_protobuf_bytes:
        atomic_write(path, model.SerializeToString())
        return [path]
    big = [t for t in model.graph.initializer
           if t.data_type != onnx.TensorProto.STRING and _data_bytes(t) >= external_min_bytes]
    moved = _move_to_side_file(big, path)
    try:
        size = model.ByteSize()
        if size > max_protobuf_bytes:
            raise OnnxExportError(f"the model is {size} bytes even with its large weights in "
                                  f"external data, over the {max_protobuf_bytes}-byte limit; "
                                  f"nothing was written")
        data_tmp = _write_side_file(path, moved)
        try:
            os.replace(data_tmp, path.parent / external_data_name(path))
        except OSError as err:
            _unlink(data_tmp)
            raise OnnxExportError(f"cannot write {path.parent}: {err.strerror or err}") from None
        _fsync_dir(path.parent if str(path.parent) else Path("."))
        atomic_write(path, model.SerializeToString())
    finally:
        _restore(moved)
    return [path, path.parent / external_data_name(path)]


def _all_tensors(graph: onnx.GraphProto):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _all_tensors(sub)


def _data_bytes(tensor: onnx.TensorProto) -> int:
    if tensor.raw_data:
        return len(tensor.raw_data)
    return onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize * _count(tensor)


def _count(tensor: onnx.TensorProto) -> int:
    n = 1
    for d in tensor.dims:
        n *= d
    return n


def _move_to_side_file(tensors: list, path: Path) -> list:
    """Takes the bytes out of ``tensors`` (pointing them at the side file); returns
    (tensor, bytes, offset, had data_location) for writing and for restoring the model."""
    moved, offset = [], 0
    location = external_data_name(path)
    for tensor in tensors:
        if not tensor.raw_data:  # typed fields -> raw bytes, the same values
            tensor.raw_data = numpy_helper.to_array(tensor).tobytes()
            for field in ("float_data", "int32_data", "int64_data", "double_data",
                          "uint64_data"):
                tensor.ClearField(field)
        data, had_location = tensor.raw_data, tensor.HasField("data_location")
        offset = -(-offset // _ALIGN) * _ALIGN
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        del tensor.external_data[:]
        for key, value in (("location", location), ("offset", str(offset)),
                           ("length", str(len(data)))):
            tensor.external_data.add(key=key, value=value)
        moved.append((tensor, data, offset, had_location))
        offset += len(data)
    return moved


def _restore(moved: list) -> None:
    for tensor, data, _, had_location in moved:
        del tensor.external_data[:]
        tensor.ClearField("data_location")
        if had_location:
            tensor.data_location = onnx.TensorProto.DEFAULT
        tensor.raw_data = data


def _write_side_file(path: Path, moved: list) -> Path:
    """The side file's bytes under a fresh temp name in the output folder (never following or
    reusing an existing file); the caller renames it into place."""
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{external_data_name(path)}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
    except OSError as err:
        raise OnnxExportError(f"cannot write into {folder}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            for _, data, offset, _ in moved:
                handle.seek(offset)
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as err:
        _unlink(tmp)
        if isinstance(err, OSError):
            raise OnnxExportError(f"cannot write {tmp}: {err.strerror or err}") from None
        raise
    return tmp


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
