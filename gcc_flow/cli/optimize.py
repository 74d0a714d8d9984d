"""``gcc-flow optimize``: runs the pass pipeline, and optionally places and partitions the result.

    gcc-flow optimize model.pb -o small.pb [--passes a,b] [--fetch y:0] [--report r.json]
                      [--check N] [--devices cpu:0,gpu:0] [--force]

With ``--devices`` the optimized graph is then placed (passes.place: TensorFlow's rules and the
cost model) and partitioned (passes.partition): OUT holds the placed graph with its _Send/_Recv
pairs (what the ``partition`` pass returns, one graph that runs anywhere
``runtime.load(OUT, devices=[...])`` does), and each device that received nodes gets its
partition as OUT with the device before the extension:

    -o m.opt.pb --devices cpu:0,cpu:1  ->  m.opt.pb, m.opt.CPU_0.pb, m.opt.CPU_1.pb

Every output path is checked (not the input, existing folder, --force to replace) before any
work, and each file is written atomically. ``--check N`` compares the input, run on one device,
with the output on N random feeds; with ``--devices`` the output runs partitioned over the same
devices (runtime.multi_device.MultiDeviceSession).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from schema.io import TEXT_SUFFIXES, atomic_write
from schema.serde import graph_from_graph_def

from gcc_flow.cli import devices as cli_devices
from gcc_flow.cli.files import (NOT_OUTPUTS, PROG, UsageError, check_new_file,
                                check_written_file, read_model, split_names, tagged_path)

__all__ = ["add_parser", "cmd_optimize", "partition_paths"]

GRAPH_SUFFIXES = (".pb",) + TEXT_SUFFIXES


def add_parser(subs, common: argparse.ArgumentParser) -> None:
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
    opt.add_argument("--devices", metavar="cpu:0,gpu:0",
                     help="then place and partition over these devices; also writes one "
                          "partition per device as OUT.<DEVICE>.pb")
    opt.add_argument("--force", action="store_true", help="overwrite existing outputs")
    opt.set_defaults(handler=cmd_optimize)


def cmd_optimize(args: argparse.Namespace) -> int:
    import passes
    from schema.io import write_graph_def

    out = check_written_file(args, args.output, GRAPH_SUFFIXES)
    report_path = check_written_file(args, args.report, (".json",)) if args.report else None
    pipeline = split_names(args.passes)
    for name in pipeline or ():
        passes.get_pass(name)  # unknown pass names are invalid input, before any work
    if args.check < 0:
        raise UsageError("--check needs a non-negative number of trials")
    devices = _devices(args, out)
    graph_def = read_model(args.model)
    options = {"targets": list(args.target)}
    if args.max_folded_bytes is not None:
        options["max_folded_bytes"] = args.max_folded_bytes
    if devices:
        options["devices"] = [d.name for d in devices]  # for a pipeline naming place/partition
    optimized, report = passes.optimize(graph_def, fetches=args.fetch or None,
                                        pipeline=pipeline, **options)
    print(report.table())
    if devices:
        optimized = _place_and_partition(optimized, devices, out)
    else:
        write_graph_def(optimized, out)
        print(f"wrote {out} ({len(optimized.node)} nodes)")
    if report_path is not None:
        atomic_write(report_path, report.to_json().encode("utf-8"))
    if args.check:
        return _check(args, graph_def, optimized, devices)
    return 0


def _devices(args: argparse.Namespace, out: Path) -> Optional[list]:
    """The --devices (a GPU must be there); every partition file they may need is checked."""
    if args.devices is None:
        return None
    devices = cli_devices.resolve("--devices",
                                  cli_devices.parse_devices(args.devices, "--devices"))
    for path in partition_paths(out, [d.name for d in devices]).values():
        check_new_file(path, [args.model], args.force)
    return devices


def partition_paths(out: Path, device_names: list[str]) -> dict[str, Path]:
    """device -> the file of its partition: m.opt.pb, ".../device:CPU:0" -> m.opt.CPU_0.pb."""
    return {name: tagged_path(out, cli_devices.device_tag(name)) for name in device_names}


def _place_and_partition(optimized, devices: list, out: Path):
    """Places and partitions ``optimized``; writes the union to ``out`` and each partition
    next to it. Returns the union GraphDef."""
    from passes.partition import check_partitions, insert_send_recv, split_by_device
    from passes.place import place_graph
    from schema.io import write_graph_def
    from schema.serde import graph_to_graph_def
    graph = graph_from_graph_def(optimized)
    report = place_graph(graph, [d.name for d in devices])
    transfers = insert_send_recv(graph)
    parts = split_by_device(graph)
    check_partitions(parts)
    union = graph_to_graph_def(graph)
    written = [(out, union)] + [(path, graph_to_graph_def(parts[name])) for name, path
                                in partition_paths(out, list(parts)).items()]
    for path, graph_def in written:  # the union first: no partition is larger than it
        write_graph_def(graph_def, path)
    print(f"placed on {cli_devices.describe_devices(devices, report.estimated_step_s)}: "
          f"{transfers.get('send_recv_pairs', 0)} send/recv pairs, "
          f"{transfers.get('control_pairs', 0)} control pairs")
    print(f"wrote {out} ({len(union.node)} nodes, every partition with its transfers)")
    for (path, graph_def), name in zip(written[1:], parts):
        print(f"wrote {path} ({len(graph_def.node)} nodes on {cli_devices.short_name(name)})")
    return union


# -- --check -------------------------------------------------------------------------------------

def _check(args: argparse.Namespace, graph_def, optimized, devices: Optional[list]) -> int:
    import runtime
    from runtime.check import check_equivalent
    fetches = args.fetch or _sink_tensors(graph_from_graph_def(graph_def))
    after = runtime.load(optimized, devices=[d.name for d in devices]) if devices \
        else optimized
    try:
        result = check_equivalent(graph_def, after, fetches, trials=args.check)
    finally:
        getattr(after, "close", lambda: None)()
    if not result.ok:
        name, problem = result.first_mismatch
        print(f"{PROG}: check failed: {name} differs between input and output: {problem}",
              file=sys.stderr)
        return 1
    where = f" (output partitioned over {cli_devices.describe_devices(devices)})" \
        if devices else ""
    print(f"check: {result.compared} tensors equal on {args.check} random feeds{where}")
    return 0


def _sink_tensors(graph) -> list[str]:
    return [r.name for node in graph if not node.users and node.op not in NOT_OUTPUTS
            for r in node.outputs]
