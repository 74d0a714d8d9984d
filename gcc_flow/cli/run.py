"""``gcc-flow run``: runs a model on .npy feeds, on one device or split over several.

    gcc-flow run model.pb --feed x=x.npy --fetch y:0 [--target init] [-o out.npz [--force]]
                 [--device gpu | --devices cpu:0,cpu:1,gpu:0]

    y:0  float32  [2, 3]  [[ 0., 2., 4.], [ 6., 8., 10.]]

``--device`` runs everything on one device (runtime.load(model, device=...)); ``--devices``
places the graph over several, partitions it with _Send/_Recv and runs the partitions
concurrently (runtime.load(model, devices=[...])): the printed values are the same. Asking for
a GPU where CuPy or a CUDA device is missing is an exit-2 error that says which.
Feeds are read with ``allow_pickle=False`` after their header was checked against the file
size and ``GCC_FLOW_MAX_TENSOR_BYTES``.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

import numpy as np

from schema.dtypes import DType
from schema.errors import GccFlowError
from schema.limits import DEFAULT_LIMITS
from schema.tensors import check_byte_budget

from gcc_flow.cli import devices as cli_devices
from gcc_flow.cli.files import UsageError, check_npz_output, refuse_duplicates, write_npz

__all__ = ["add_parser", "cmd_run", "load_npy", "describe"]


def add_parser(subs, common: argparse.ArgumentParser) -> None:
    run = subs.add_parser("run", parents=[common], help="run a model on .npy feeds")
    run.add_argument("--feed", action="append", default=[], metavar="NAME=FILE.npy",
                     help="feed a tensor (x or x:0) from a .npy file; repeatable")
    run.add_argument("--fetch", action="append", default=[], metavar="NAME",
                     help="a tensor (y:0) or node (y) to fetch; repeatable")
    run.add_argument("--target", action="append", default=[], metavar="NAME",
                     help="a node to run without fetching it; repeatable")
    run.add_argument("-o", "--output", metavar="OUT.npz", help="save the fetched tensors")
    run.add_argument("--force", action="store_true", help="overwrite an existing --output")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--device", metavar="DEVICE",
                       help="run everything on one device: cpu (default) or gpu")
    where.add_argument("--devices", metavar="cpu:0,cpu:1",
                       help="place and partition over these devices and run them concurrently")
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    if not args.fetch and not args.target:
        raise UsageError("run needs at least one --fetch or --target")
    refuse_duplicates(args.fetch, "--fetch")
    open_session = _session_opener(args)
    feeds = _load_feeds(args.feed)
    output = check_npz_output(args) if args.output else None
    session = open_session()
    try:
        values = session.run(list(args.fetch) + ["^" + t for t in args.target], feeds)
    finally:
        getattr(session, "close", lambda: None)()  # a MultiDeviceSession's worker threads
    fetched = list(zip(args.fetch, values[:len(args.fetch)]))
    for name, value in fetched:
        print(describe(name, value))
    if output is not None:
        write_npz(output, [(n, v) for n, v in fetched if v is not None])
        print(f"wrote {len([v for _, v in fetched if v is not None])} tensors to {output}")
    return 0


def _session_opener(args: argparse.Namespace) -> Callable:
    """Checks --device/--devices (a GPU must be there) and returns what loads the session."""
    import runtime
    if args.devices is not None:
        specs = cli_devices.parse_devices(args.devices, "--devices")
        cli_devices.resolve("--devices", specs)
        return lambda: runtime.load(args.model, devices=specs, allow_unknown=args.allow_unknown)
    device = cli_devices.check_one_device(args.device) if args.device else "cpu"
    return lambda: runtime.load(args.model, device=device, allow_unknown=args.allow_unknown)


# -- feeds ---------------------------------------------------------------------------------------

def _load_feeds(specs: list) -> dict:
    """All specs are checked before any file is read; ``x`` and ``x:0`` are the same tensor."""
    pairs = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--feed {spec!r}: expected NAME=FILE.npy")
        pairs.append((name, path))
    refuse_duplicates([n if ":" in n else n + ":0" for n, _ in pairs], "--feed")
    return {name: load_npy(path, what=f"feed {name!r}") for name, path in pairs}


def load_npy(path: str, what: str = "array") -> np.ndarray:
    """Reads a .npy file without pickles and without trusting its header's size.

    load_npy("x.npy") -> array;  a header claiming 10^12 elements in a 100-byte file -> UsageError
    """
    from numpy.lib import format as npy
    readers: dict[tuple, Callable] = {(1, 0): npy.read_array_header_1_0,
                                      (2, 0): npy.read_array_header_2_0}
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            reader = readers.get(npy.read_magic(handle))
            if reader is None:
                raise UsageError(f"{what}: {path} uses a .npy format version this tool does "
                                 f"not read (1.0 and 2.0 are supported)")
            shape, _, dtype = reader(handle)
            _check_npy_size(path, what, shape, dtype, size - handle.tell())
        array = np.load(path, allow_pickle=False)
    except OSError as err:
        raise UsageError(f"{what}: cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise UsageError(f"{what}: {path} is not a valid .npy file: {err}") from None
    if array.dtype.kind in "SU":  # string tensors are object arrays of bytes at run time
        array = np.vectorize(_to_bytes, otypes=[object])(array)
    return array


def _check_npy_size(path: str, what: str, shape: tuple, dtype: np.dtype, left: int) -> None:
    if dtype.hasobject:
        raise UsageError(f"{what}: {path} holds Python objects; gcc-flow never unpickles "
                         f"(save strings as fixed-width bytes instead)")
    n = check_byte_budget(shape, dtype.itemsize, DEFAULT_LIMITS, what=f"{what} ({path})")
    if n * dtype.itemsize != left:
        raise UsageError(f"{what}: {path} has {left} data bytes but its header {dtype}"
                         f"{list(shape)} needs {n * dtype.itemsize} (truncated or corrupt)")


def _to_bytes(value) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


# -- printing ------------------------------------------------------------------------------------

def describe(name: str, value) -> str:
    """One line per fetched tensor: name, dtype, shape, a short preview.

    describe("y:0", np.ones((2, 3), np.float32)) -> "y:0  float32  [2, 3]  [[1, 1, 1], [1, 1, 1]]"
    """
    if value is None:
        return f"{name}  (no outputs; ran as a target)"
    arr = np.asarray(value)
    try:
        dtype = DType.from_numpy(arr.dtype).tf_name
    except GccFlowError:
        dtype = str(arr.dtype)
    preview = np.array2string(arr, threshold=8, edgeitems=2, precision=4, separator=", ",
                              max_line_width=1 << 20)
    preview = " ".join(preview.split())
    if len(preview) > 120:
        preview = preview[:117] + "..."
    return f"{name}  {dtype}  {list(arr.shape)}  {preview}"
