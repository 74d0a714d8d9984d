"""The ``gcc-flow`` command line: look inside a model, run it on .npy feeds, optimize it.

    gcc-flow inspect model.pb [--json] [--graph]
    gcc-flow run model.pb --feed x=x.npy --fetch y:0 [--target init] [-o out.npz [--force]]
    gcc-flow optimize model.pb -o small.pb [--passes a,b] [--fetch y:0] [--report r.json]
                      [--check N]
    gcc-flow convert model.pb model.onnx [--opset N] [--optimize] [--check N] [--force]
    gcc-flow convert model.onnx model.pb [--optimize] [--check N] [--force]

Exit codes: 0 success; 2 invalid input (a bad file, graph, feed or command line: every
``GccFlowError``); 1 an internal error (a bug). Errors are one line on stderr,
``gcc-flow: error: ...``; ``--debug`` adds the traceback. Nothing from argv or a model is ever
evaluated or unpickled: feeds are read with ``allow_pickle=False`` after their header was checked
against the file size and ``GCC_FLOW_MAX_TENSOR_BYTES``, and outputs are written atomically.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from schema.dtypes import DType
from schema.errors import GccFlowError
from schema.io import TEXT_SUFFIXES, atomic_write, read_graph_def
from schema.limits import DEFAULT_LIMITS
from schema.serde import graph_from_graph_def
from schema.tensors import check_byte_budget

__all__ = ["main", "build_parser", "summarize", "UsageError", "cmd_convert"]

PROG = "gcc-flow"
MAX_MESSAGE = 2000  # an error line never exceeds this (a model may hold 1 MB names)
INPUT_OPS = ("Placeholder", "PlaceholderWithDefault")
VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable")
NOT_OUTPUTS = ("Const", "NoOp", "Placeholder") + VARIABLE_OPS


class UsageError(GccFlowError):
    """A bad command line, an unreadable feed file, or an output that may not be written."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so every error is one line (exit 2)."""

    def error(self, message: str):
        raise UsageError(message)


# -- entry point ---------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one command; returns the exit code (0 ok, 2 invalid input, 1 internal error).

    main(["inspect", "model.pb"]) -> 0;  main(["inspect", "missing.pb"]) -> 2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        debug = args.debug
        return args.handler(args)
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 130
    except GccFlowError as err:
        return _fail(2, str(err) or type(err).__name__, debug)
    except Exception as err:  # anything else is a bug in gcc-flow, not in the input
        return _fail(1, f"internal error: {type(err).__name__}: {err}", debug)


def _fail(code: int, message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    line = " ".join(message.split())
    if len(line) > MAX_MESSAGE:
        line = line[:MAX_MESSAGE] + "..."
    if code == 1 and not debug:
        line += " (rerun with --debug for the traceback)"
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Inspect and run TensorFlow-compatible GraphDefs.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks")
    common.add_argument("--allow-unknown", action="store_true",
                        help="keep ops the registry does not declare as opaque nodes")
    common.add_argument("model", help="a GraphDef: .pb (binary) or .pbtxt (text)")

    inspect = subs.add_parser("inspect", parents=[common], help="summarize a model")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--graph", action="store_true",
                         help="also list every node in the one-line-per-node text form")
    inspect.set_defaults(handler=cmd_inspect)

    run = subs.add_parser("run", parents=[common], help="run a model on .npy feeds")
    run.add_argument("--feed", action="append", default=[], metavar="NAME=FILE.npy",
                     help="feed a tensor (x or x:0) from a .npy file; repeatable")
    run.add_argument("--fetch", action="append", default=[], metavar="NAME",
                     help="a tensor (y:0) or node (y) to fetch; repeatable")
    run.add_argument("--target", action="append", default=[], metavar="NAME",
                     help="a node to run without fetching it; repeatable")
    run.add_argument("-o", "--output", metavar="OUT.npz", help="save the fetched tensors")
    run.add_argument("--force", action="store_true", help="overwrite an existing --output")
    run.set_defaults(handler=cmd_run)

    opt = subs.add_parser("optimize", parents=[common], help="optimize a model with the passes")
    opt.add_argument("-o", "--output", required=True, metavar="OUT.pb",
                     help="the optimized GraphDef (.pb binary or .pbtxt text)")
    opt.add_argument("--passes", metavar="A,B,C",
                     help="comma-separated pipeline (default: passes.DEFAULT_PIPELINE)")
    opt.add_argument("--fetch", action="append", default=[], metavar="NAME",
                     help="a tensor that must survive (default: every sink); repeatable")
    opt.add_argument("--target", action="append", default=[], metavar="NAME",
                     help="a node that must survive and still run; repeatable")
    opt.add_argument("--report", metavar="FILE.json", help="write the pass report as JSON")
    opt.add_argument("--check", type=int, default=0, metavar="N",
                     help="compare input and output on N random feeds; exit 1 on a mismatch")
    opt.add_argument("--max-folded-bytes", type=int, metavar="BYTES",
                     help="largest constant that folding may create (default 10 MiB)")
    opt.add_argument("--force", action="store_true", help="overwrite an existing output")
    opt.set_defaults(handler=cmd_optimize)
    _add_convert_parser(subs)
    return parser


# -- inspect -------------------------------------------------------------------------------------

def cmd_inspect(args: argparse.Namespace) -> int:
    graph_def = read_graph_def(args.model)
    graph = graph_from_graph_def(graph_def, allow_unknown=args.allow_unknown)
    summary = {"model": str(args.model), "format": _format_of(args.model),
               "producer": graph.producer,
               "functions": len(graph_def.library.function) if graph.library else 0}
    summary.update(summarize(graph))
    if args.graph:
        summary["graph"] = str(graph).splitlines()
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _format_of(path: str) -> str:
    return "text" if Path(path).suffix.lower() in TEXT_SUFFIXES else "binary"


def summarize(graph) -> dict:
    """The facts ``inspect`` reports about an IR graph, as JSON-ready values.

    Placeholder x -> Relu y  ->  {"nodes": 2, "ops": {"Placeholder": 1, "Relu": 1},
                                  "inputs": [{"name": "x:0", ...}], "outputs": [{"name": "y:0"...
    """
    variables = [_variable(n) for n in graph.nodes.values() if n.op in VARIABLE_OPS]
    const_params = sum(int(n.attrs["value"].size) for n in graph.nodes.values() if _is_weight(n))
    var_params = sum(_count(v["shape"]) or 0 for v in variables)
    ops = Counter(n.op for n in graph.nodes.values())
    return {
        "nodes": len(graph.nodes),
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "inputs": [_tensor_info(n, 0) for n in graph.nodes.values() if n.op in INPUT_OPS],
        "outputs": [_tensor_info(n, i) for n in graph.nodes.values() if _is_output(n)
                    for i in range(n.num_outputs)],
        "variables": variables,
        "parameters": const_params + var_params,
        "const_parameters": const_params,
        "variable_parameters": var_params,
        "variables_of_unknown_size": [v["name"] for v in variables if _count(v["shape"]) is None],
        "devices": dict(sorted(Counter(n.device for n in graph.nodes.values() if n.device)
                               .items())),
    }


def _is_output(node) -> bool:
    return not node.users and node.num_outputs > 0 and node.op not in NOT_OUTPUTS


def _is_weight(node) -> bool:
    dtype, value = node.attrs.get("dtype"), node.attrs.get("value")
    return (node.op == "Const" and isinstance(dtype, DType) and dtype.is_floating
            and isinstance(value, np.ndarray))


def _tensor_info(node, index: int) -> dict:
    known = index < node.num_outputs
    dtype = node.out_types[index] if known else node.attrs.get("dtype")
    shape = node.out_shapes[index] if known else node.attrs.get("shape")
    return {"name": f"{node.name}:{index}", "op": node.op, "dtype": _dtype_name(dtype),
            "shape": _json_shape(shape)}


def _variable(node) -> dict:
    return {"name": node.name, "op": node.op, "dtype": _dtype_name(node.attrs.get("dtype")),
            "shape": _json_shape(node.attrs.get("shape"))}


def _dtype_name(dtype: Any) -> str:
    return dtype.tf_name if isinstance(dtype, DType) and dtype != DType.INVALID else "unknown"


def _json_shape(shape) -> Optional[list]:
    return None if shape is None else list(shape)


def _count(shape: Optional[list]) -> Optional[int]:
    if shape is None or any(d is None for d in shape):
        return None
    return int(np.prod(shape, dtype=object)) if shape else 1


def _shape_text(shape: Optional[list]) -> str:
    if shape is None:
        return "[unknown rank]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def format_summary(s: dict) -> str:
    """The human-readable form of ``summarize`` (plus file facts), one fact per line."""
    lines = [f"model: {s['model']} ({s['format']} GraphDef, producer {s['producer']}, "
             f"{s['functions']} library functions)",
             f"nodes: {s['nodes']}", "ops:"]
    lines += [f"  {op:<24} {n}" for op, n in s["ops"].items()]
    for title, key in (("inputs", "inputs"), ("likely outputs", "outputs")):
        lines.append(f"{title}:" + ("" if s[key] else " none"))
        lines += [f"  {t['name']:<24} {t['dtype']}{_shape_text(t['shape'])}" for t in s[key]]
    lines.append("variables:" + ("" if s["variables"] else " none"))
    lines += [f"  {v['name']:<24} {v['dtype']}{_shape_text(v['shape'])} ({v['op']})"
              for v in s["variables"]]
    unknown = s["variables_of_unknown_size"]
    lines.append(f"parameters: {s['parameters']:,} (float Const elements "
                 f"{s['const_parameters']:,}, variable elements {s['variable_parameters']:,}"
                 + (f"; {len(unknown)} variables of unknown size)" if unknown else ")"))
    lines.append("devices requested:" + ("" if s["devices"] else " none"))
    lines += [f"  {d:<24} {n} nodes" for d, n in s["devices"].items()]
    if "graph" in s:
        lines += ["graph:"] + [f"  {line}" for line in s["graph"]]
    return "\n".join(lines)


# -- run -----------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    import runtime
    if not args.fetch and not args.target:
        raise UsageError("run needs at least one --fetch or --target")
    _refuse_duplicates(args.fetch, "--fetch")
    feeds = _load_feeds(args.feed)
    output = _check_output(args) if args.output else None
    session = runtime.load(args.model, allow_unknown=args.allow_unknown)
    values = session.run(list(args.fetch) + ["^" + t for t in args.target], feeds)
    fetched = list(zip(args.fetch, values[:len(args.fetch)]))
    for name, value in fetched:
        print(describe(name, value))
    if output is not None:
        _write_npz(output, [(n, v) for n, v in fetched if v is not None])
        print(f"wrote {len([v for _, v in fetched if v is not None])} tensors to {output}")
    return 0


def _refuse_duplicates(names: list, flag: str) -> None:
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    if dupes:
        raise UsageError(f"{flag} {dupes[0]!r} is given more than once")


def _load_feeds(specs: list) -> dict:
    """All specs are checked before any file is read; ``x`` and ``x:0`` are the same tensor."""
    pairs = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--feed {spec!r}: expected NAME=FILE.npy")
        pairs.append((name, path))
    _refuse_duplicates([n if ":" in n else n + ":0" for n, _ in pairs], "--feed")
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


def _check_output(args: argparse.Namespace) -> Path:
    """Refuses an output that is not .npz, is the model or a feed, or exists without --force."""
    out = Path(args.output)
    inputs = [args.model] + [spec.partition("=")[2] for spec in args.feed]
    for source in inputs:
        if _same_file(out, Path(source)):
            raise UsageError(f"refusing to overwrite the input {source} with the output {out}")
    if out.suffix.lower() != ".npz":
        raise UsageError(f"output {out} must end in .npz")
    if out.is_dir():
        raise UsageError(f"output {out} is a directory")
    if not out.parent.is_dir():
        raise UsageError(f"output folder {out.parent} does not exist")
    if (out.exists() or out.is_symlink()) and not args.force:
        raise UsageError(f"output {out} already exists; pass --force to overwrite it")
    return out


# -- optimize ------------------------------------------------------------------------------------

def cmd_optimize(args: argparse.Namespace) -> int:
    import passes
    from runtime.check import check_equivalent
    from schema.io import write_graph_def

    out = _check_written_file(args, args.output, (".pb",) + TEXT_SUFFIXES)
    report_path = _check_written_file(args, args.report, (".json",)) if args.report else None
    pipeline = [p.strip() for p in args.passes.split(",") if p.strip()] if args.passes else None
    for name in pipeline or ():
        passes.get_pass(name)  # unknown pass names are invalid input, before any work
    if args.check < 0:
        raise UsageError("--check needs a non-negative number of trials")
    graph_def = read_graph_def(args.model)
    options = {"targets": list(args.target)}
    if args.max_folded_bytes is not None:
        options["max_folded_bytes"] = args.max_folded_bytes
    optimized, report = passes.optimize(graph_def, fetches=args.fetch or None,
                                        pipeline=pipeline, **options)
    print(report.table())
    write_graph_def(optimized, out)
    if report_path is not None:
        atomic_write(report_path, report.to_json().encode("utf-8"))
    print(f"wrote {out} ({len(optimized.node)} nodes)")
    if args.check:
        fetches = args.fetch or _sink_tensors(graph_from_graph_def(graph_def))
        result = check_equivalent(graph_def, optimized, fetches, trials=args.check)
        if not result.ok:
            name, problem = result.first_mismatch
            print(f"{PROG}: check failed: {name} differs between input and output: {problem}",
                  file=sys.stderr)
            return 1
        print(f"check: {result.compared} tensors equal on {args.check} random feeds")
    return 0


def _sink_tensors(graph) -> list[str]:
    return [r.name for node in graph if not node.users and node.op not in NOT_OUTPUTS
            for r in node.outputs]


def _check_written_file(args: argparse.Namespace, name: str, suffixes: tuple) -> Path:
    """Refuses an output that is the model, has a wrong extension, or exists without --force."""
    out = Path(name)
    if _same_file(out, Path(args.model)):
        raise UsageError(f"refusing to overwrite the input {args.model} with the output {out}")
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"output {out} must end in one of {', '.join(suffixes)}")
    if out.is_dir() or not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: not a file in an existing folder")
    if (out.exists() or out.is_symlink()) and not args.force:
        raise UsageError(f"output {out} already exists; pass --force to overwrite it")
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _write_npz(path: Path, items: list) -> None:
    arrays = {name: _savable(value) for name, value in items}
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    atomic_write(path, buffer.getvalue())


def _savable(value) -> np.ndarray:
    arr = np.asarray(value)
    return arr.astype(np.bytes_) if arr.dtype == object else arr


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


# -- convert -------------------------------------------------------------------------------------

ONNX_SUFFIXES = (".onnx",)
GRAPH_SUFFIXES = (".pb",) + TEXT_SUFFIXES
PROGRESS_MIN_NODES = 2000   # a progress bar for models this large even when stderr is no tty
CHECK_RTOL, CHECK_ATOL = 1e-4, 1e-5  # two runtimes: float results differ in the last bits


def _add_convert_parser(subs) -> None:
    conv = subs.add_parser("convert", help="convert between ONNX (.onnx) and GraphDef (.pb)",
                           description="Convert a GraphDef to ONNX or ONNX to a GraphDef; the "
                                       "direction follows the extensions.")
    conv.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                      help="show tracebacks")
    conv.add_argument("input", metavar="IN", help="a .onnx model, or a .pb/.pbtxt GraphDef")
    conv.add_argument("output", metavar="OUT", help="the converted model (.pb/.pbtxt or .onnx)")
    conv.add_argument("--opset", type=int, metavar="N",
                      help="ONNX opset to write (.pb -> .onnx; default the newest supported)")
    conv.add_argument("--optimize", action="store_true",
                      help="run the default pass pipeline on the GraphDef side")
    conv.add_argument("--inputs", metavar="A,B",
                      help="tensors that become the ONNX inputs (.pb -> .onnx; default the "
                           "placeholders)")
    conv.add_argument("--outputs", metavar="Y,Z",
                      help="tensors that become the ONNX outputs (.pb -> .onnx; default every "
                           "sink)")
    conv.add_argument("--check", type=int, default=0, metavar="N",
                      help="compare our runtime and onnxruntime on N random feeds; exit 1 on a "
                           "mismatch")
    conv.add_argument("--progress", action="store_true",
                      help="show progress on stderr even for small models")
    conv.add_argument("--force", action="store_true", help="overwrite an existing output")
    conv.set_defaults(handler=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    exporting = _direction(args.input, args.output)
    if args.check < 0:
        raise UsageError("--check needs a non-negative number of trials")
    if not exporting and (args.opset is not None or args.inputs or args.outputs):
        raise UsageError("--opset, --inputs and --outputs apply to .pb -> .onnx only")
    if args.check:
        _require_onnxruntime()
    out = _check_convert_output(args, exporting)
    convert = _export if exporting else _import
    return convert(args, out)


def _direction(source: str, target: str) -> bool:
    """True for GraphDef -> ONNX, False for ONNX -> GraphDef; UsageError otherwise."""
    kinds = {s: "onnx" for s in ONNX_SUFFIXES} | {s: "graph" for s in GRAPH_SUFFIXES}
    src, dst = (kinds.get(Path(p).suffix.lower()) for p in (source, target))
    if src is None or dst is None or src == dst:
        raise UsageError(f"cannot tell what to convert: {source} -> {target}; give a .onnx "
                         f"model and a GraphDef ({', '.join(GRAPH_SUFFIXES)}), one each way")
    return src == "graph"


def _require_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UsageError("--check needs onnxruntime (pip install onnxruntime)") from None


def _check_convert_output(args: argparse.Namespace, exporting: bool) -> Path:
    """The output may not be the input (nor, for ONNX, its external-data side file), must sit
    in an existing folder, and may replace an existing file only with --force."""
    from gcc_flow.onnx.exporter import external_data_name
    out = Path(args.output)
    if not Path(args.input).exists():
        raise UsageError(f"no such file: {args.input}")
    written = [out] + ([out.parent / external_data_name(out)] if exporting else [])
    for path in written:
        if _same_file(path, Path(args.input)):
            raise UsageError(f"refusing to overwrite the input {args.input} with the output "
                             f"{path}")
    if out.is_dir() or not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: not a file in an existing folder")
    if (out.exists() or out.is_symlink()) and not args.force:
        raise UsageError(f"output {out} already exists; pass --force to overwrite it")
    return out


def _names(text: Optional[str]) -> Optional[list]:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def _export(args: argparse.Namespace, out: Path) -> int:
    from gcc_flow.onnx import exporter
    graph_def = read_graph_def(args.input)
    inputs, outputs = _names(args.inputs), _names(args.outputs)
    progress = _Progress("export", len(graph_def.node), args.progress)
    converted = graph_def
    if args.optimize:
        import passes
        fetches = outputs or exporter.default_outputs(graph_from_graph_def(graph_def))
        converted, report = passes.optimize(graph_def, fetches=fetches + (inputs or []))
        print(report.table())
    model = exporter.export_model(converted, inputs, outputs, args.opset, progress=progress)
    progress.done()
    side = out.parent / exporter.external_data_name(out)
    if model.ByteSize() > exporter.MAX_PROTOBUF_BYTES and not args.force \
            and (side.exists() or side.is_symlink()):
        raise UsageError(f"the model needs external data and {side} already exists; pass "
                         f"--force to overwrite it")
    files = exporter.save_model(model, out)
    extra = f" + external data {files[1].name}" if len(files) > 1 else ""
    print(f"wrote {out}{extra} (ONNX opset {model.opset_import[0].version}, "
          f"{len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers)")
    if not args.check:
        return 0
    pairs = [(exporter.tensor_name_of(o.name), o.name) for o in model.graph.output]
    feeds_of = {exporter.tensor_name_of(i.name): i.name for i in model.graph.input
                if i.name not in {t.name for t in model.graph.initializer}}
    return _run_check(args.check, graph_def, str(out), feeds_of, pairs)


def _import(args: argparse.Namespace, out: Path) -> int:
    from gcc_flow.onnx.importer import import_graph, load_model, optimize_result
    from schema.io import write_graph_def
    proto, folder = load_model(args.input, None)
    progress = _Progress("import", len(proto.graph.node), args.progress)
    result = import_graph(proto, base_dir=folder)
    progress(1, 3)
    if args.optimize:
        optimize_result(result)
    progress(2, 3)
    graph_def = result.graph.as_graph_def()
    write_graph_def(graph_def, out)
    progress(3, 3)
    progress.done()
    print(f"wrote {out} ({len(graph_def.node)} nodes; inputs "
          f"{', '.join(t for _, t in result.inputs) or 'none'}; outputs "
          f"{', '.join(t for _, t in result.outputs)})")
    if not args.check:
        return 0
    feeds_of = {t: o for o, t in result.feed_inputs}
    pairs = [(t, o) for o, t in result.outputs]
    return _run_check(args.check, read_graph_def(out), args.input, feeds_of, pairs)


def _run_check(trials: int, graph_def, onnx_path: str, feeds_of: dict, pairs: list) -> int:
    """Our runtime on ``graph_def`` against onnxruntime on ``onnx_path``: the same random feeds
    (``feeds_of``: tensor -> ONNX input), every (tensor, ONNX output) pair compared."""
    import onnxruntime as ort
    import runtime
    options = ort.SessionOptions()
    options.log_severity_level = 3
    theirs = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    ours = runtime.load(graph_def)
    rng = np.random.default_rng(0)
    for _ in range(trials):
        feeds = _random_feeds(ours.graph, list(feeds_of), rng)
        try:
            want = ours.run([t for t, _ in pairs], feeds)
            got = theirs.run([o for _, o in pairs], {feeds_of[k]: v for k, v in feeds.items()})
        except Exception as err:  # noqa: BLE001 - either runtime failing is a failed check
            print(f"{PROG}: check failed: running on random feeds: {type(err).__name__}: "
                  f"{' '.join(str(err).split())[:MAX_MESSAGE]}", file=sys.stderr)
            return 1
        for (tensor, name), a, b in zip(pairs, want, got):
            problem = _difference(np.asarray(a), np.asarray(b))
            if problem:
                print(f"{PROG}: check failed: {tensor} (ONNX {name!r}) differs between "
                      f"our runtime and onnxruntime: {problem}", file=sys.stderr)
                return 1
    print(f"check: {len(pairs)} tensors equal on {trials} random feeds (our runtime and "
          f"onnxruntime)")
    return 0


def _random_feeds(graph, tensors: list, rng: np.random.Generator) -> dict:
    """Random values for the given tensors (placeholders, or tensors an ONNX export cut the
    graph at), unknown dims 2, as the optimize check makes them."""
    from runtime.check import _random_array
    feeds = {}
    for name in tensors:
        ref = graph.tensor(name)
        dims = (2,) if ref.shape is None else tuple(2 if d is None else d for d in ref.shape)
        feeds[name] = _random_array(ref.dtype.base, dims, rng)
    return feeds


def _difference(a: np.ndarray, b: np.ndarray) -> Optional[str]:
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"{a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}"
    if a.dtype.kind in "fc":
        close = np.isclose(a, b, rtol=CHECK_RTOL, atol=CHECK_ATOL, equal_nan=True)
    else:
        close = a == b
    if close.all():
        return None
    index = np.unravel_index(int(np.argmin(close)), a.shape) if a.shape else ()
    return f"first at index {tuple(int(i) for i in index)}: {a[index]!r} vs {b[index]!r}"


class _Progress:
    """A one-line bar on stderr ("export [#####.....] 120/240"), redrawn in place on a tty and
    printed at every tenth otherwise. Shown when stderr is a tty, the model has more than
    PROGRESS_MIN_NODES nodes, or --progress asks for it."""

    WIDTH = 30

    def __init__(self, label: str, nodes: int, force: bool = False):
        self.label = label
        self.tty = sys.stderr.isatty()
        self.enabled = force or self.tty or nodes > PROGRESS_MIN_NODES
        self.last = -1
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        tenth = done * 10 // total
        if not self.tty and tenth == self.last:
            return
        if self.tty and done != total and done % max(total // 200, 1):
            return
        self.last = tenth
        filled = done * self.WIDTH // total
        bar = f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}"
        print(("\r" + bar) if self.tty else bar, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)
        self.shown = True

    def done(self) -> None:
        if self.enabled and self.tty and self.shown:
            print(file=sys.stderr, flush=True)
