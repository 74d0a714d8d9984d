"""gcc-flow's checkpoint format (docs/CHECKPOINTS.md): written by SaveV2, read by RestoreV2.

    write_checkpoint("ckpt/model-10", ["w", "step"], [w, np.int64(10)])
      -> ckpt/model-10.data-3f9c0a1b2c4d5e6f   raw little-endian tensor bytes, written first
         ckpt/model-10.index                   JSON: per tensor dtype, shape, extent, sha256; last
    read_tensors("ckpt/model-10", [("w", DType.FLOAT)]) -> [w]

Every file is written to a temp file in the same folder, fsynced and renamed. The data file's
name carries a fresh random token recorded in the index, so a save that dies before its index is
renamed leaves the previous checkpoint (its index and its own data file) intact, even at the same
prefix; stale data files of a prefix are removed after the new index is in place.

Reading trusts nothing in the index: it checks names, dtypes, shapes, extents against the data
file's size, the byte budget (``Limits.max_tensor_bytes``) before allocating, and the checksum.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import sys
import tempfile
import threading
from typing import Optional, Sequence

import numpy as np

from schema.dtypes import DType
from schema.errors import DecodeError, GccFlowError, TensorError
from schema.limits import DEFAULT_LIMITS, Limits
from schema.tensors import check_byte_budget

__all__ = ["CheckpointError", "CheckpointNotFoundError", "TensorEntry", "write_checkpoint",
           "read_index", "read_tensors", "checkpoint_exists", "delete_checkpoint",
           "data_path", "atomic_file", "FORMAT", "VERSION", "MAX_INDEX_BYTES"]

FORMAT = "gcc-flow-checkpoint"
VERSION = 1
MAX_INDEX_BYTES = 64 << 20  # an index is a few hundred bytes per tensor
_INT64_MAX = (1 << 63) - 1
_TOKEN = re.compile(r"[0-9a-f]{16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_WRITE_LOCK = threading.Lock()  # in-process saves to one folder never interleave their cleanup


class CheckpointError(DecodeError):
    """A checkpoint is missing, corrupt, or disagrees with what is asked of it."""


class CheckpointNotFoundError(CheckpointError):
    """No checkpoint at the prefix, or no tensor of the asked name in it."""


@dataclasses.dataclass(frozen=True)
class TensorEntry:
    """One tensor of the index: its bytes are data[offset : offset + length]."""
    name: str
    dtype: DType
    shape: tuple
    offset: int
    length: int
    sha256: str


def data_path(prefix: str, token: str) -> str:
    return f"{prefix}.data-{token}"


# -- encoding ------------------------------------------------------------------------------------

def _encode(name: str, dtype: DType, value) -> bytes:
    """Raw little-endian bytes, C order; a string tensor is its uint64 lengths then its bytes."""
    if dtype == DType.STRING:
        items = [_as_bytes(name, x) for x in np.asarray(value, dtype=object).reshape(-1)]
        return np.array([len(b) for b in items], "<u8").tobytes() + b"".join(items)
    arr = np.ascontiguousarray(np.asarray(value).astype(dtype.np, copy=False))
    if sys.byteorder == "big" and arr.dtype.itemsize > 1:
        arr = arr.byteswap()
    return arr.tobytes()


def _as_bytes(name: str, item) -> bytes:
    if isinstance(item, (bytes, np.bytes_)):
        return bytes(item)
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TensorError(f"cannot save tensor {name!r}: a string tensor holds a "
                      f"{type(item).__name__}")


def _decode(entry: TensorEntry, data: bytearray) -> np.ndarray:
    if entry.dtype == DType.STRING:
        return _decode_strings(entry, data)
    arr = np.frombuffer(data, dtype=entry.dtype.np)
    if sys.byteorder == "big" and arr.dtype.itemsize > 1:
        arr = arr.byteswap()
    if entry.dtype == DType.BOOL and np.frombuffer(data, np.uint8).max(initial=0) > 1:
        raise CheckpointError(f"tensor {entry.name!r}: bool bytes other than 0 and 1")
    return arr.reshape(entry.shape)


def _decode_strings(entry: TensorEntry, data: bytearray) -> np.ndarray:
    count = int(np.prod(entry.shape, dtype=object))
    lengths = np.frombuffer(data, "<u8", count)
    if lengths.size and int(lengths.max()) > len(data):
        raise CheckpointError(f"tensor {entry.name!r}: a string length runs past its extent")
    ends = 8 * count + np.cumsum(lengths.astype(np.int64))
    if (int(ends[-1]) if count else 8 * count) != len(data):
        raise CheckpointError(f"tensor {entry.name!r}: string lengths add up to "
                              f"{int(ends[-1]) if count else 0} bytes, its extent has "
                              f"{len(data)}")
    out = np.empty(count, dtype=object)
    start = 8 * count
    for i, end in enumerate(ends.tolist()):
        out[i] = bytes(data[start:end])
        start = end
    return out.reshape(entry.shape)


# -- writing -------------------------------------------------------------------------------------

@contextlib.contextmanager
def atomic_file(path: str):
    """A binary file at ``path`` that appears only complete: temp file, fsync, rename."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_checkpoint(prefix, names: Sequence[str], values: Sequence,
                     dtypes: Optional[Sequence[DType]] = None) -> str:
    """Writes the tensors as checkpoint ``prefix``; returns the prefix.

    write_checkpoint("out/m", ["w"], [np.ones(3, np.float32)]) -> "out/m"
    """
    prefix = _check_prefix(prefix)
    if len(set(names)) != len(names):
        raise TensorError(f"checkpoint {prefix}: tensor names repeat: {sorted(names)}")
    dtypes = list(dtypes) if dtypes is not None else [
        DType.from_numpy(np.asarray(v).dtype) for v in values]
    try:
        with _WRITE_LOCK:
            return _write(prefix, list(names), list(values), dtypes)
    except OSError as err:
        raise GccFlowError(f"cannot write checkpoint {prefix}: {err.strerror or err}") from None


def _write(prefix: str, names: list, values: list, dtypes: list) -> str:
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    token = secrets.token_hex(8)
    entries, offset = [], 0
    with atomic_file(data_path(prefix, token)) as handle:
        for name, value, dtype in zip(names, values, dtypes):
            payload = _encode(name, dtype, value)
            handle.write(payload)
            entries.append({"name": name, "dtype": dtype.tf_name,
                            "shape": list(np.shape(value)), "offset": offset,
                            "length": len(payload),
                            "sha256": hashlib.sha256(payload).hexdigest()})
            offset += len(payload)
    try:
        with atomic_file(prefix + ".index") as handle:
            handle.write(_index_text(token, offset, entries).encode("utf-8"))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(data_path(prefix, token))
        raise
    _remove_data_files(prefix, keep=token)
    return prefix


def _index_text(token: str, data_size: int, entries: list) -> str:
    """The index JSON with one tensor per line, so it reads well in a text editor."""
    head = json.dumps({"format": FORMAT, "version": VERSION, "data": token,
                       "data_size": data_size})
    tensors = ",\n".join("  " + json.dumps(e) for e in entries)
    return f'{head[:-1]}, "tensors": [\n{tensors}\n]}}\n'


def _check_prefix(prefix) -> str:
    prefix = os.fspath(prefix)
    if isinstance(prefix, bytes):
        prefix = prefix.decode("utf-8", "surrogateescape")
    if not prefix or prefix.endswith(("/", os.sep)) or "\x00" in prefix:
        raise GccFlowError(f"checkpoint prefix {prefix!r} must name a file prefix, e.g. "
                           f"'ckpt/model'")
    return prefix


def _data_files(prefix: str) -> list[str]:
    folder, base = os.path.dirname(prefix) or ".", os.path.basename(prefix) + ".data-"
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(os.path.dirname(prefix), n) for n in names
            if n.startswith(base) and _TOKEN.fullmatch(n[len(base):])]


def _remove_data_files(prefix: str, keep: Optional[str] = None) -> None:
    for path in _data_files(prefix):
        if keep is None or not path.endswith(keep):
            with contextlib.suppress(OSError):
                os.unlink(path)


def delete_checkpoint(prefix) -> None:
    """Removes a checkpoint: its index first (so no index points at missing data), then data."""
    prefix = _check_prefix(prefix)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(prefix + ".index")
    _remove_data_files(prefix)


def checkpoint_exists(prefix) -> bool:
    return os.path.isfile(_check_prefix(prefix) + ".index")


# -- reading -------------------------------------------------------------------------------------

def read_index(prefix, limits: Limits = DEFAULT_LIMITS) -> tuple[str, int, dict]:
    """(data token, data size, {name: TensorEntry}) of checkpoint ``prefix``, all checked."""
    path = _check_prefix(prefix) + ".index"
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_INDEX_BYTES + 1)
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"no checkpoint at {prefix}: {path} does not exist") \
            from None
    except OSError as err:
        raise CheckpointError(f"cannot read {path}: {err.strerror or err}") from None
    if len(raw) > MAX_INDEX_BYTES:
        raise CheckpointError(f"{path} is over {MAX_INDEX_BYTES} bytes: not a checkpoint index")
    doc = _parse_json(raw, path)
    token, size = doc.get("data"), doc.get("data_size")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token) or not _is_int(size) \
            or size < 0 or not isinstance(doc.get("tensors"), list):
        raise CheckpointError(f"{path}: malformed index (fields data, data_size, tensors)")
    entries: dict[str, TensorEntry] = {}
    for item in doc["tensors"]:
        entry = _parse_entry(item, size, path, limits)
        if entry.name in entries:
            raise CheckpointError(f"{path}: tensor {entry.name!r} is listed twice")
        entries[entry.name] = entry
    return token, size, entries


def _parse_json(raw: bytes, path: str) -> dict:
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate keys {sorted(keys)}")
        return dict(pairs)
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path} is not a gcc-flow checkpoint index (TensorFlow's own "
                              f"checkpoint format is not supported): {err}"[:400]) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gcc-flow checkpoint index (no format tag)")
    if doc.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {doc.get('version')!r}; "
                              f"this runtime reads version {VERSION}")
    return doc


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_entry(item, data_size: int, path: str, limits: Limits) -> TensorEntry:
    fields = ("name", "dtype", "shape", "offset", "length", "sha256")
    if not isinstance(item, dict) or any(f not in item for f in fields) \
            or not isinstance(item["name"], str) or not isinstance(item["shape"], list) \
            or not all(_is_int(item[f]) for f in ("offset", "length")) \
            or not all(_is_int(d) for d in item["shape"]):
        raise CheckpointError(f"{path}: malformed tensor entry {str(item)[:120]}")
    name, shape, offset, length = item["name"], tuple(item["shape"]), item["offset"], \
        item["length"]
    where = f"{path}: tensor {name!r}"
    dtype = _entry_dtype(item["dtype"], where)
    if any(d < 0 for d in shape):
        raise CheckpointError(f"{where} has a negative dimension in shape {list(shape)}")
    if len(shape) > limits.max_rank:
        raise CheckpointError(f"{where} has rank {len(shape)}, over the limit {limits.max_rank}")
    if offset < 0 or length < 0:
        raise CheckpointError(f"{where} has a negative extent start or length "
                              f"(offset {offset}, length {length})")
    if offset + length > data_size:
        raise CheckpointError(f"{where}: its extent [{offset}, {offset + length}) ends past the "
                              f"end of the data ({data_size} bytes)")
    _check_length(where, dtype, shape, length)
    if not isinstance(item["sha256"], str) or not _SHA256.fullmatch(item["sha256"]):
        raise CheckpointError(f"{where} has no valid sha256 checksum")
    return TensorEntry(name, dtype, shape, offset, length, item["sha256"])


def _entry_dtype(text, where: str) -> DType:
    try:
        dtype = DType.parse(text) if isinstance(text, str) else None
    except TensorError:
        dtype = None
    if dtype is None or dtype.is_ref or not dtype.has_numpy:
        raise CheckpointError(f"{where} has unsupported tensor type {str(text)[:40]!r}")
    return dtype


def _check_length(where: str, dtype: DType, shape: tuple, length: int) -> None:
    count = 1
    for d in shape:
        count *= d
    itemsize = 8 if dtype == DType.STRING else dtype.itemsize
    need = count * itemsize  # a string tensor needs at least its 8-byte lengths
    if need > _INT64_MAX:
        raise CheckpointError(f"{where}: tensor size overflows int64 (shape {list(shape)} of "
                              f"{dtype.tf_name} is {need} bytes)")
    if need != length and not (dtype == DType.STRING and length > need):
        raise CheckpointError(f"{where}: its extent has {length} bytes but shape "
                              f"{list(shape)} of {dtype.tf_name} needs {need}")


def read_tensors(prefix, requests: Sequence[tuple[str, Optional[DType]]],
                 limits: Limits = DEFAULT_LIMITS) -> list[np.ndarray]:
    """The named tensors, each checked against its index entry, budget and checksum.

    read_tensors("out/m", [("w", DType.FLOAT)]) -> [array([1., 1., 1.], dtype=float32)]
    """
    prefix = _check_prefix(prefix)
    token, size, entries = read_index(prefix, limits)
    chosen = [_lookup(prefix, entries, name, dtype) for name, dtype in requests]
    for entry in chosen:
        check_byte_budget(entry.shape, 8 if entry.dtype == DType.STRING else
                          entry.dtype.itemsize, limits, what=f"checkpoint tensor {entry.name!r}")
        if entry.length > limits.max_tensor_bytes:
            raise CheckpointError(f"checkpoint tensor {entry.name!r} is {entry.length} bytes, "
                                  f"over the limit {limits.max_tensor_bytes}")
    path = data_path(prefix, token)
    try:
        with open(path, "rb") as handle:
            actual = os.fstat(handle.fileno()).st_size
            if actual < size:
                raise CheckpointError(f"missing tensor data: {path} holds {actual} bytes, the "
                                      f"index says {size} (truncated)")
            return [_read_one(handle, entry, path) for entry in chosen]
    except FileNotFoundError:
        raise CheckpointError(f"missing tensor data: the data file {path} of checkpoint "
                              f"{prefix} does not exist") from None


def _lookup(prefix: str, entries: dict, name: str, dtype: Optional[DType]) -> TensorEntry:
    entry = entries.get(name)
    if entry is None:
        raise CheckpointNotFoundError(f"tensor {name!r} not found in checkpoint {prefix}")
    if dtype is not None and entry.dtype != dtype.base:
        raise CheckpointError(f"tensor {name!r} is {entry.dtype.tf_name} in checkpoint "
                              f"{prefix} but is restored as {dtype.base.tf_name}")
    return entry


def _read_one(handle, entry: TensorEntry, path: str) -> np.ndarray:
    handle.seek(entry.offset)
    data = bytearray(entry.length)
    got = handle.readinto(data)
    if got != entry.length:
        raise CheckpointError(f"missing tensor data: {path} ended after {got} of the "
                              f"{entry.length} bytes of tensor {entry.name!r}")
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise CheckpointError(f"checksum mismatch for tensor {entry.name!r} in {path}: the "
                              f"data file is corrupt")
    return _decode(entry, data)

