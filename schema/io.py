"""Reading and writing GraphDef files: binary ``.pb`` or text ``.pbtxt``, chosen by extension.

    graph_def = read_graph_def("model.pb")        # DecodeError on anything that is not one
    write_graph_def(graph_def, "out.pbtxt")        # atomic: temp file, fsync, rename

Reading never guesses silently: an empty file, random bytes, a truncated file, an ONNX model, a
text file given as binary, or nesting deeper than ``Limits.max_recursion_depth`` each give a
DecodeError that says which. Writing refuses a message over protobuf's 2 GiB limit before
writing a byte, and never leaves half a file under the final name.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from google.protobuf import message as _message
from google.protobuf import text_format

from schema import graph_pb2
from schema.errors import DecodeError, GccFlowError
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["read_graph_def", "parse_graph_def", "write_graph_def", "atomic_write",
           "TEXT_SUFFIXES", "PROTOBUF_LIMIT"]

TEXT_SUFFIXES = (".pbtxt", ".pbtext", ".txt", ".prototxt")
PROTOBUF_LIMIT = (2 << 30) - 1
PathLike = Union[str, os.PathLike]


def read_graph_def(path: PathLike, limits: Limits = DEFAULT_LIMITS) -> graph_pb2.GraphDef:
    path = Path(path)
    try:
        if path.is_dir():
            raise DecodeError(f"{path} is a directory, not a graph file")
        size = path.stat().st_size
        if size > PROTOBUF_LIMIT:
            raise DecodeError(f"{path} is {size} bytes, over protobuf's 2 GiB message limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DecodeError(f"no such file: {path}") from None
    except OSError as err:
        raise DecodeError(f"cannot read {path}: {err.strerror or err}") from None
    text = path.suffix.lower() in TEXT_SUFFIXES
    return parse_graph_def(data, text=text, limits=limits, source=str(path))


def parse_graph_def(data: bytes, text: bool = False, limits: Limits = DEFAULT_LIMITS,
                    source: str = "input") -> graph_pb2.GraphDef:
    if not data:
        raise DecodeError(f"{source} is empty (0 bytes): not a GraphDef")
    graph_def = graph_pb2.GraphDef()
    if text:
        try:
            text_format.Parse(data.decode("utf-8"), graph_def,
                              max_recursion_depth=limits.max_recursion_depth)
        except UnicodeDecodeError:
            raise DecodeError(f"{source} is not UTF-8 text; a binary GraphDef needs the .pb "
                              f"extension") from None
        except RecursionError:
            raise DecodeError(f"{source} nests messages deeper than "
                              f"{limits.max_recursion_depth} levels") from None
        except text_format.ParseError as err:
            if "too deep" in str(err):
                raise DecodeError(f"{source} nests messages deeper than "
                                  f"{limits.max_recursion_depth} levels") from None
            if _looks_binary(data):
                raise DecodeError(f"{source} holds binary data, not text; a binary GraphDef "
                                  f"needs the .pb extension") from None
            raise DecodeError(f"{source} is not a text GraphDef: {err}") from None
        return graph_def
    _refuse_other_formats(data, source)
    try:
        graph_def.ParseFromString(data)
    except (_message.DecodeError, RecursionError) as err:
        if isinstance(err, RecursionError) or "MaxDepth" in str(err):
            raise DecodeError(f"{source} nests messages deeper than protobuf's limit of 100 "
                              f"levels") from None
        raise DecodeError(f"{source} is not a binary GraphDef (truncated, corrupt or another "
                          f"format): {err}") from None
    if not graph_def.node and _unknown_field_bytes(graph_def):
        raise DecodeError(f"{source} parsed as protobuf but holds no GraphDef fields: it is "
                          f"another kind of file")
    return graph_def


def _looks_binary(data: bytes) -> bool:
    """Control bytes other than tab/newline/CR in the first 4 KiB: not a text file."""
    return any(b < 9 or (13 < b < 32 and b != 27) for b in data[:4096])


def _refuse_other_formats(data: bytes, source: str) -> None:
    head = data[:64].lstrip()
    if data[:1] == b"\x08":  # field 1 as a varint: ONNX's ir_version; GraphDef's field 1 is nodes
        raise DecodeError(f"{source} looks like an ONNX model, not a GraphDef; convert it with "
                          f"'gcc-flow convert'")
    if head.startswith((b"node", b"versions", b"library", b"#")) and b"{" in data[:4096]:
        raise DecodeError(f"{source} looks like a text GraphDef; give it a .pbtxt extension")


def _unknown_field_bytes(graph_def) -> int:
    probe = graph_pb2.GraphDef()
    probe.CopyFrom(graph_def)
    for field in ("node", "versions", "version", "library"):
        probe.ClearField(field)
    return probe.ByteSize()


def write_graph_def(graph_def: graph_pb2.GraphDef, path: PathLike) -> None:
    path = Path(path)
    size = graph_def.ByteSize()
    if size > PROTOBUF_LIMIT:
        raise GccFlowError(f"graph is {size} bytes, over protobuf's 2 GiB limit; nothing was "
                           f"written (move large weights to external data)")
    if path.suffix.lower() in TEXT_SUFFIXES:
        data = text_format.MessageToString(graph_def).encode("utf-8")
    else:
        data = graph_def.SerializeToString()
    atomic_write(path, data)


def atomic_write(path: PathLike, data: bytes) -> None:
    """Writes ``data`` to a temp file in the same folder, fsyncs, then renames over ``path``.

    On any error the previous file is untouched and the temp file is removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise GccFlowError(f"cannot write into {folder}: {err.strerror or err}") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a written file follows the umask
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise GccFlowError(f"cannot write {path}: {err.strerror or err}") from None
        raise
    _fsync_dir(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
