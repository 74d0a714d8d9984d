"""``gcc-flow convert``: GraphDef (.pb/.pbtxt) <-> ONNX (.onnx); the direction follows the
extensions.

    gcc-flow convert model.pb model.onnx [--opset N] [--optimize] [--check N] [--force]
    gcc-flow convert model.onnx model.pb [--optimize] [--check N] [--force]

    wrote model.onnx (ONNX opset 17, 12 nodes, 4 initializers)

``--check N`` runs our runtime and onnxruntime on the same N random feeds and compares every
output (exit 1 on a mismatch). Large models show a progress bar on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from runtime.check import difference, random_array
from schema.io import TEXT_SUFFIXES
from schema.serde import graph_from_graph_def

from gcc_flow.cli.files import (MAX_MESSAGE, PROG, UsageError, check_new_file, read_model,
                                same_file, split_names)

__all__ = ["add_parser", "cmd_convert"]

ONNX_SUFFIXES = (".onnx",)
GRAPH_SUFFIXES = (".pb",) + TEXT_SUFFIXES
PROGRESS_MIN_NODES = 2000   # a progress bar for models this large even when stderr is no tty
CHECK_RTOL, CHECK_ATOL = 1e-4, 1e-5  # two runtimes: float results differ in the last bits


def add_parser(subs, common: argparse.ArgumentParser) -> None:
    """The convert command takes IN and OUT instead of the common MODEL argument."""
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
    from gcc_flow.onnx.save import external_data_name
    out = Path(args.output)
    if not Path(args.input).exists():
        raise UsageError(f"no such file: {args.input}")
    side = [out.parent / external_data_name(out)] if exporting else []
    for path in side:
        if same_file(path, Path(args.input)):
            raise UsageError(f"refusing to overwrite the input {args.input} with the output "
                             f"{path}")
    return check_new_file(out, [args.input], args.force)


def _export(args: argparse.Namespace, out: Path) -> int:
    from gcc_flow.onnx import exporter, save
    graph_def = read_model(args.input)
    inputs, outputs = split_names(args.inputs), split_names(args.outputs)
    progress = _Progress("export", len(graph_def.node), args.progress)
    converted = graph_def
    if args.optimize:
        import passes
        fetches = outputs or exporter.default_outputs(graph_from_graph_def(graph_def))
        converted, report = passes.optimize(graph_def, fetches=fetches + (inputs or []))
        print(report.table())
    model = exporter.export_model(converted, inputs, outputs, args.opset, progress=progress)
    progress.done()
    side = out.parent / save.external_data_name(out)
    if model.ByteSize() > save.MAX_PROTOBUF_BYTES and not args.force \
            and (side.exists() or side.is_symlink()):
        raise UsageError(f"the model needs external data and {side} already exists; pass "
                         f"--force to overwrite it")
    files = save.save_model(model, out)
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
    return _run_check(args.check, read_model(out), args.input, feeds_of, pairs)


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
            problem = difference(np.asarray(a), np.asarray(b), CHECK_RTOL, CHECK_ATOL)
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
    feeds = {}
    for name in tensors:
        ref = graph.tensor(name)
        dims = (2,) if ref.shape is None else tuple(2 if d is None else d for d in ref.shape)
        feeds[name] = random_array(ref.dtype.base, dims, rng)
    return feeds



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
