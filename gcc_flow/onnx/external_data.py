"""ONNX external data, read safely: every tensor carrier, contained paths, checked sizes.

    model = resolve_external_data(model, base_dir="/models/resnet")
    # -> a copy whose tensors hold their bytes in raw_data; the input model is not modified

A tensor with ``data_location: EXTERNAL`` names a file by ``location`` (relative to the model's
folder), an ``offset`` and a ``length``. Each one is checked before any byte is read
(BAD_INPUTS.md section E; CVE-2022-25882, CVE-2024-27318, CVE-2026-27489, CVE-2026-34445/6):

- keys: only location, offset, length, checksum, each at most once; offset and length are
  non-negative decimal integers; length must equal what the dims need, offset + length must lie
  inside the file, and the byte budget (``Limits.max_tensor_bytes`` per tensor,
  ``MAX_EXTERNAL_BYTES`` per model) is checked before anything is allocated;
- location: relative, no ``..`` component, no backslash, no NUL. The file is opened one path
  component at a time below the model's folder with O_NOFOLLOW (a symlink anywhere is refused),
  must be a regular file (no directory, FIFO or device; checked with lstat before opening, and
  with fstat after) with a single hard link, and its realpath must lie inside the folder
  (``os.path.commonpath`` on components, never ``str.startswith``);
- carriers: initializers, sparse initializers, Constant and other node attrs (tensor, tensors,
  sparse tensors), subgraphs at any depth (iteratively, at most ``MAX_SUBGRAPH_DEPTH``),
  function bodies and function attr defaults, training-info graphs;
- a model given as bytes or a ModelProto has no folder: external data is refused unless
  ``base_dir`` is given.

onnx's own ``load_external_data_for_model`` is never called.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from typing import Iterator, Optional

import onnx

from gcc_flow.onnx.context import OnnxImportError, raw_byte_size
from schema.errors import GccFlowError
from schema.limits import DEFAULT_LIMITS, Limits
from schema.tensors import check_byte_budget

__all__ = ["resolve_external_data", "iter_tensors", "uses_external_data",
           "MAX_EXTERNAL_BYTES", "MAX_SUBGRAPH_DEPTH", "ALLOWED_KEYS"]

ALLOWED_KEYS = frozenset({"location", "offset", "length", "checksum"})
# Total external bytes one model may pull in (GCC_FLOW_MAX_EXTERNAL_BYTES overrides).
_env = os.environ.get("GCC_FLOW_MAX_EXTERNAL_BYTES", "")
MAX_EXTERNAL_BYTES = int(_env) if _env.isascii() and _env.isdigit() else 16 << 30
MAX_SUBGRAPH_DEPTH = 32
_MAX_OFFSET = (1 << 63) - 1
_DIGITS = re.compile(r"^[0-9]{1,19}$")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def uses_external_data(tensor: onnx.TensorProto) -> bool:
    """True for data_location EXTERNAL; entries without that flag are refused as ambiguous."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return True
    if len(tensor.external_data):
        raise OnnxImportError(f"tensor {tensor.name!r} has external_data entries but "
                              f"data_location is not EXTERNAL: refusing to guess")
    return False


def iter_tensors(model: onnx.ModelProto) -> Iterator[tuple[onnx.TensorProto, str]]:
    """Every TensorProto of the model, with where it sits, without recursion."""
    stack: list[tuple[onnx.GraphProto, str, int]] = [(model.graph, "graph", 0)]
    for info in model.training_info:
        stack += [(info.initialization, "training initialization", 0),
                  (info.algorithm, "training algorithm", 0)]
    for function in model.functions:
        where = f"function {function.name!r}"
        for attribute in function.attribute_proto:
            yield from _attr_tensors(attribute, where, stack, 0)
        for node in function.node:
            for attribute in node.attribute:
                yield from _attr_tensors(attribute, f"{where} node {node.name!r}", stack, 0)
    while stack:
        graph, where, depth = stack.pop()
        if depth > MAX_SUBGRAPH_DEPTH:
            raise OnnxImportError(f"subgraphs nested deeper than {MAX_SUBGRAPH_DEPTH} levels")
        for tensor in graph.initializer:
            yield tensor, f"{where} initializer {tensor.name!r}"
        for sparse in graph.sparse_initializer:
            yield from _sparse_tensors(sparse, f"{where} sparse initializer")
        for node in graph.node:
            for attribute in node.attribute:
                yield from _attr_tensors(attribute, f"{where} node {node.name!r}", stack,
                                         depth)


def _sparse_tensors(sparse: onnx.SparseTensorProto, where: str):
    yield sparse.values, f"{where} {sparse.values.name!r} values"
    yield sparse.indices, f"{where} {sparse.values.name!r} indices"


def _attr_tensors(attribute: onnx.AttributeProto, where: str, stack: list, depth: int):
    label = f"{where} attr {attribute.name!r}"
    if attribute.HasField("t"):
        yield attribute.t, label
    for tensor in attribute.tensors:
        yield tensor, label
    if attribute.HasField("sparse_tensor"):
        yield from _sparse_tensors(attribute.sparse_tensor, label)
    for sparse in attribute.sparse_tensors:
        yield from _sparse_tensors(sparse, label)
    if attribute.HasField("g"):
        stack.append((attribute.g, f"{label} subgraph", depth + 1))
    for graph in attribute.graphs:
        stack.append((graph, f"{label} subgraph", depth + 1))


def resolve_external_data(model: onnx.ModelProto, base_dir: Optional[str],
                          limits: Limits = DEFAULT_LIMITS) -> onnx.ModelProto:
    """``model`` itself when no tensor uses external data, else a copy with every external
    tensor's bytes read (after all checks) into raw_data."""
    if not any(uses_external_data(t) for t, _ in iter_tensors(model)):
        return model
    if base_dir is None:
        raise OnnxImportError("the model uses external data but was given as bytes or a "
                              "ModelProto, which has no folder: pass base_dir=")
    root = os.path.realpath(os.fspath(base_dir))
    if not os.path.isdir(root):
        raise OnnxImportError(f"base_dir {os.fspath(base_dir)!r} is not a directory")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    total = 0
    for tensor, where in iter_tensors(copy):
        if uses_external_data(tensor):
            total += _inline(tensor, where, root, limits, MAX_EXTERNAL_BYTES - total)
    return copy


def _inline(tensor: onnx.TensorProto, where: str, root: str, limits: Limits,
            budget: int) -> int:
    info = _parse_entries(tensor, where)
    parts = _location_parts(info["location"], where)
    size = _expected_size(tensor, where, limits)
    if size > budget:
        raise OnnxImportError(f"{where}: external data of the model exceeds "
                              f"MAX_EXTERNAL_BYTES={MAX_EXTERNAL_BYTES} "
                              f"(set GCC_FLOW_MAX_EXTERNAL_BYTES)")
    offset = _parse_int(info.get("offset", "0"), "offset", where)
    if "length" in info and _parse_int(info["length"], "length", where) != size:
        raise OnnxImportError(f"{where}: external data length {info['length']} disagrees with "
                              f"dims {list(tensor.dims)}, which need {size} bytes")
    data = _read(root, parts, offset, size, "length" in info, where)
    if "checksum" in info and hashlib.sha1(data).hexdigest() != info["checksum"].lower():
        raise OnnxImportError(f"{where}: external data checksum mismatch")
    tensor.raw_data = data
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT
    return size


def _parse_entries(tensor: onnx.TensorProto, where: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for entry in tensor.external_data:
        if entry.key not in ALLOWED_KEYS:
            raise OnnxImportError(f"{where}: unknown external data key {entry.key!r} "
                                  f"(allowed: {sorted(ALLOWED_KEYS)})")
        if entry.key in info:
            raise OnnxImportError(f"{where}: external data key {entry.key!r} given twice")
        info[entry.key] = entry.value
    if not info.get("location"):
        raise OnnxImportError(f"{where}: external data without a location")
    if tensor.HasField("raw_data") or any(
            len(getattr(tensor, f)) for f in ("float_data", "int32_data", "int64_data",
                                              "double_data", "uint64_data", "string_data")):
        raise OnnxImportError(f"{where}: tensor has both external and inline data")
    return info


def _location_parts(location: str, where: str) -> list[str]:
    """'weights/w.bin' -> ['weights', 'w.bin']; refuses anything that could leave the folder."""
    shown = repr(location[:200])
    if "\x00" in location or "\\" in location:
        raise OnnxImportError(f"{where}: external data location {shown} contains a NUL or a "
                              f"backslash")
    if os.path.isabs(location) or re.match(r"^[A-Za-z]:", location):
        raise OnnxImportError(f"{where}: external data location {shown} is an absolute path")
    parts = [p for p in location.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise OnnxImportError(f"{where}: external data location {shown} contains '..'")
    if not parts:
        raise OnnxImportError(f"{where}: external data location {shown} names no file")
    return parts


def _parse_int(text: str, key: str, where: str) -> int:
    if not _DIGITS.match(text) or int(text) > _MAX_OFFSET:
        raise OnnxImportError(f"{where}: external data {key} {text[:40]!r} is not a "
                              f"non-negative integer below 2^63")
    return int(text)


def _expected_size(tensor: onnx.TensorProto, where: str, limits: Limits) -> int:
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise OnnxImportError(f"{where}: negative dimension in {dims}")
    if tensor.data_type == onnx.TensorProto.STRING:
        raise OnnxImportError(f"{where}: string tensors cannot use external data")
    try:
        check_byte_budget(dims, 1, limits, what=where)
        size = raw_byte_size(tensor.data_type, dims)
    except GccFlowError as err:
        raise OnnxImportError(str(err)) from None
    if size > limits.max_tensor_bytes:
        raise OnnxImportError(f"{where}: {size} bytes of external data, above the limit "
                              f"max_tensor_bytes={limits.max_tensor_bytes}")
    return size


def _read(root: str, parts: list[str], offset: int, size: int, exact_length: bool,
          where: str) -> bytes:
    fd = _open_inside(root, parts, where)
    try:
        file_size = os.fstat(fd).st_size
        if offset + size > file_size:
            raise OnnxImportError(f"{where}: external data offset {offset} + length {size} "
                                  f"runs past the end of {'/'.join(parts)!r} "
                                  f"({file_size} bytes)")
        if not exact_length and offset + size != file_size:
            raise OnnxImportError(f"{where}: external data without a length: the file holds "
                                  f"{file_size - offset} bytes after offset {offset}, the "
                                  f"dims need {size}")
        chunks, done = [], 0
        while done < size:
            chunk = os.pread(fd, min(size - done, 1 << 24), offset + done)
            if not chunk:
                raise OnnxImportError(f"{where}: {'/'.join(parts)!r} shrank while reading")
            chunks.append(chunk)
            done += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _open_inside(root: str, parts: list[str], where: str) -> int:
    """Opens root/parts... component by component with O_NOFOLLOW; returns a file descriptor
    of a regular, singly linked file whose realpath lies inside ``root``."""
    shown = "/".join(parts)
    resolved = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, resolved]) != root:
        raise OnnxImportError(f"{where}: external data location {shown!r} resolves outside the "
                              f"model folder")
    dir_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _O_CLOEXEC
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
    except OSError as err:
        raise OnnxImportError(f"{where}: cannot open the model folder: {err.strerror}") from None
    try:
        for part in parts[:-1]:
            next_fd = _open_component(part, dir_flags, fd, shown, where, "folder")
            os.close(fd)
            fd = next_fd
        before = _lstat_regular(parts[-1], fd, shown, where)
        file_fd = _open_component(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                                  | _O_CLOEXEC, fd, shown, where, "file")
    finally:
        os.close(fd)
    after = os.fstat(file_fd)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or \
            not stat.S_ISREG(after.st_mode) or after.st_nlink != 1:
        os.close(file_fd)
        raise OnnxImportError(f"{where}: external data file {shown!r} changed while opening "
                              f"or is not a singly linked regular file")
    return file_fd


def _open_component(name: str, flags: int, dir_fd: int, shown: str, where: str,
                    kind: str) -> int:
    """os.open relative to ``dir_fd``; a symlink is named as such (lstat first, for the
    message; O_NOFOLLOW makes the refusal race-free)."""
    try:
        if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise OnnxImportError(f"{where}: external data location {shown!r}: {kind} {name!r} "
                                  f"is a symbolic link")
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as err:
        reason = ("is a symbolic link" if err.errno in (errno.ELOOP, errno.EMLINK) else
                  "is not a folder" if err.errno == errno.ENOTDIR else err.strerror)
        raise OnnxImportError(f"{where}: external data location {shown!r}: {kind} {name!r} "
                              f"{reason}") from None


def _lstat_regular(name: str, dir_fd: int, shown: str, where: str) -> os.stat_result:
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as err:
        raise OnnxImportError(f"{where}: external data file {shown!r}: {err.strerror}"
                              ) from None
    if stat.S_ISLNK(info.st_mode):
        raise OnnxImportError(f"{where}: external data file {shown!r} is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise OnnxImportError(f"{where}: external data file {shown!r} is {kind}")
    if info.st_nlink != 1:
        raise OnnxImportError(f"{where}: external data file {shown!r} has {info.st_nlink} hard "
                              f"links; refusing (it may be a link to a file elsewhere)")
    return info
