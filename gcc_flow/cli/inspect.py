"""``gcc-flow inspect``: what a model holds, and where its nodes would run.

    gcc-flow inspect model.pb [--json] [--graph] [--placement [--devices cpu:0,gpu:0]]

    model: model.pb (binary GraphDef, producer 1994, 0 library functions)
    nodes: 8
    ...
    placement on CPU:0, CPU:1; estimated step 16.7 us; 1 send/recv pairs, 0 control pairs
    /job:localhost/replica:0/task:0/device:CPU:1  (5 nodes)
      MatMul    MatMul
    decisions:
      MatMul_1  -> CPU:1  by cost: compute 5.8 us, done at 16.7 us (elsewhere: CPU:0 36.7 us)

``--placement`` places the graph as ``runtime.load(model, devices=...)`` would (TensorFlow's
placer rules, soft placement, the cost model) on ``--devices`` or, by default, on the devices
``runtime.devices.discover()`` finds, and lists each decision with its estimate.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import numpy as np

from schema.dtypes import DType
from schema.io import TEXT_SUFFIXES
from schema.serde import graph_from_graph_def

from gcc_flow.cli import devices as cli_devices
from gcc_flow.cli.files import NOT_OUTPUTS, VARIABLE_OPS, UsageError, read_model

__all__ = ["add_parser", "cmd_inspect", "summarize", "format_summary"]

INPUT_OPS = ("Placeholder", "PlaceholderWithDefault")


def add_parser(subs, common: argparse.ArgumentParser) -> None:
    inspect = subs.add_parser("inspect", parents=[common], help="summarize a model")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--graph", action="store_true",
                         help="also list every node in the one-line-per-node text form")
    inspect.add_argument("--placement", action="store_true",
                         help="also place the graph and list each decision with its estimate")
    inspect.add_argument("--devices", metavar="cpu:0,gpu:0",
                         help="devices for --placement (default: the devices found here)")
    inspect.set_defaults(handler=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> int:
    if args.devices is not None and not args.placement:
        raise UsageError("--devices needs --placement")
    devices = _placement_devices(args) if args.placement else None
    graph_def = read_model(args.model)
    graph = graph_from_graph_def(graph_def, allow_unknown=args.allow_unknown)
    summary = {"model": str(args.model), "format": _format_of(args.model),
               "producer": graph.producer,
               "functions": len(graph_def.library.function) if graph.library else 0}
    summary.update(summarize(graph))
    if args.graph:
        summary["graph"] = str(graph).splitlines()
    text = None
    if devices is not None:
        summary["placement"], text = _place(graph, devices)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary, text))
    return 0


def _format_of(path: str) -> str:
    return "text" if Path(path).suffix.lower() in TEXT_SUFFIXES else "binary"


# -- placement -----------------------------------------------------------------------------------

def _placement_devices(args: argparse.Namespace) -> list:
    from runtime.devices import discover
    if args.devices is None:
        return discover()
    return cli_devices.resolve("--devices", cli_devices.parse_devices(args.devices, "--devices"))


def _place(graph, devices: list) -> tuple[dict, str]:
    """Places ``graph`` in place; (JSON facts, text lines) of the placement."""
    from passes.partition import insert_send_recv
    from passes.place import format_placement, place_graph
    report = place_graph(graph, [d.name for d in devices])
    listing = format_placement(graph)
    facts = cli_devices.placement_json(graph, report, devices)
    transfers = facts["transfers"] = insert_send_recv(graph)
    head = (f"placement on {cli_devices.describe_devices(devices, report.estimated_step_s)}; "
            f"{transfers.get('send_recv_pairs', 0)} send/recv pairs, "
            f"{transfers.get('control_pairs', 0)} control pairs")
    lines = [head, listing, "decisions:" + ("" if report.decisions else
                                            " none (each node had one possible device)")]
    lines += cli_devices.format_decisions(report)
    notes = cli_devices.other_notes(report)
    if notes:
        lines += ["notes:"] + [f"  {note}" for note in notes]
    return facts, "\n".join(lines)


# -- the summary ---------------------------------------------------------------------------------

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


def format_summary(s: dict, placement: Optional[str] = None) -> str:
    """The human-readable form of ``summarize`` (plus file facts), one fact per line; the
    placement text, when given, comes last."""
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
    if placement is not None:
        lines.append(placement)
    return "\n".join(lines)
