"""The pass manager: runs a named pipeline to a fixed point, verifies, reports.

    graph_def, report = optimize(graph_def, fetches=["probs:0"])
    print(report.table());  report.to_json()

Each round runs every pass of the pipeline in order; rounds repeat until no pass changes the
graph or ``max_iterations`` is reached (Grappler once looped forever: tensorflow#57816). After
each pass the graph is validated (always under pytest, else when ``validate=True`` or
GCC_FLOW_VALIDATE=1); a failure is re-raised as
"pass 'cse' failed after ['prune', 'fold_constants']: ...".

GCC_FLOW_DEBUG=1 prints pass names and timings to stderr, 2 adds per-pass stats, 3 dumps the
graph before and after each pass.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Optional, Sequence

from passes.base import PassContext, PassError, get_pass
from schema.errors import GccFlowError
from schema.gc_pause import gc_paused
from schema.ir import Graph
from schema.serde import graph_from_graph_def, graph_to_graph_def
from schema.validate import validate

__all__ = ["optimize", "optimize_graph", "run_pipeline", "Report", "PassRun",
           "DEFAULT_PIPELINE"]

DEFAULT_PIPELINE = ("prune", "fold_constants", "simplify_arithmetic", "cse", "fuse", "layout",
                    "prune")
DEFAULT_MAX_ITERATIONS = 8


@dataclasses.dataclass
class PassRun:
    name: str
    iteration: int
    nodes_before: int
    nodes_after: int
    modified: bool
    seconds: float
    rewrites: dict


@dataclasses.dataclass
class Report:
    pipeline: list
    runs: list = dataclasses.field(default_factory=list)
    iterations: int = 0
    nodes_before: int = 0
    nodes_after: int = 0
    notes: list = dataclasses.field(default_factory=list)

    def rewrites(self) -> dict:
        """Total rewrites by pass and rule over all iterations."""
        total: dict = {}
        for run in self.runs:
            per = total.setdefault(run.name, {})
            for rule, n in run.rewrites.items():
                if _is_gauge(rule):  # a count of what is left, not of rewrites: keep the last
                    per[rule] = n
                else:
                    per[rule] = per.get(rule, 0) + n
        return total

    def to_dict(self) -> dict:
        return {"pipeline": list(self.pipeline), "iterations": self.iterations,
                "nodes_before": self.nodes_before, "nodes_after": self.nodes_after,
                "runs": [dataclasses.asdict(r) for r in self.runs],
                "rewrites": self.rewrites(), "notes": list(self.notes)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def table(self) -> str:
        """A per-pass table (summed over iterations)."""
        rows = {}
        for run in self.runs:
            row = rows.setdefault(run.name, {"runs": 0, "removed": 0, "seconds": 0.0,
                                             "rewrites": 0})
            row["runs"] += 1
            row["removed"] += run.nodes_before - run.nodes_after
            row["seconds"] += run.seconds
            row["rewrites"] += sum(n for k, n in run.rewrites.items() if not _is_gauge(k))
        lines = [f"{'pass':<22}{'runs':>6}{'rewrites':>10}{'nodes -':>10}{'ms':>10}"]
        for name, row in rows.items():
            lines.append(f"{name:<22}{row['runs']:>6}{row['rewrites']:>10}{row['removed']:>10}"
                         f"{row['seconds'] * 1e3:>10.1f}")
        lines.append(f"nodes: {self.nodes_before} -> {self.nodes_after} in {self.iterations} "
                     f"round(s)")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def _is_gauge(stat: str) -> bool:
    """Stats named "*_remaining" report what a pass left (Transposes), not rewrites it made."""
    return stat.endswith("_remaining")


def _debug_level() -> int:
    raw = os.environ.get("GCC_FLOW_DEBUG", "")
    return int(raw) if raw.isdigit() else 0


def _should_validate(validate_flag: Optional[bool]) -> bool:
    if validate_flag is not None:
        return validate_flag
    return "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("GCC_FLOW_VALIDATE") == "1"


def run_pipeline(graph: Graph, ctx: PassContext, pipeline: Sequence[str],
                 max_iterations: int = DEFAULT_MAX_ITERATIONS,
                 validate_after: Optional[bool] = None) -> Report:
    """Runs ``pipeline`` on ``graph`` in place until a fixed point; returns the report."""
    fns = [(name, get_pass(name)) for name in pipeline]
    report = Report(pipeline=list(pipeline), nodes_before=len(graph))
    check = _should_validate(validate_after)
    debug = _debug_level()
    done: list[str] = []
    for iteration in range(1, max_iterations + 1):
        report.iterations = iteration
        changed = False
        for name, fn in fns:
            before = len(graph)
            if debug >= 3:
                print(f"--- before {name} (round {iteration})\n{graph}", file=sys.stderr)
            start = time.perf_counter()
            try:
                result = fn(graph, ctx)
                graph = result.graph
                if check:
                    validate(graph)
            except Exception as err:
                kind = PassError if isinstance(err, GccFlowError) else PassError
                raise kind(f"pass {name!r} failed after {done}: {type(err).__name__}: "
                           f"{err}") from err
            seconds = time.perf_counter() - start
            done.append(name)
            run = PassRun(name, iteration, before, len(graph), result.modified, seconds,
                          dict(result.stats))
            report.runs.append(run)
            changed |= result.modified
            if debug >= 1:
                print(f"[gcc-flow] {name}: {before} -> {len(graph)} nodes, "
                      f"{seconds * 1e3:.1f} ms" + (f" {result.stats}" if debug >= 2 else ""),
                      file=sys.stderr)
            if debug >= 3:
                print(f"--- after {name}\n{graph}", file=sys.stderr)
        if not changed:
            break
    report.nodes_after = len(graph)
    report.notes = list(ctx.notes)
    return report


def optimize_graph(graph: Graph, fetches: Optional[Sequence[str]] = None,
                   pipeline: Optional[Sequence[str]] = None, **options) -> Report:
    """Optimizes an IR graph in place. Without fetches, every sink node is kept."""
    targets = list(options.pop("targets", []))
    if fetches is None:
        fetch_list, sink_ops = _sinks(graph)
        targets += sink_ops
    else:
        fetch_list = list(fetches)
    ctx = PassContext(fetches=fetch_list, targets=targets,
                      devices=list(options.pop("devices", [])))
    if "max_folded_bytes" in options:
        ctx.max_folded_bytes = int(options.pop("max_folded_bytes"))
    max_iterations = int(options.pop("max_iterations", DEFAULT_MAX_ITERATIONS))
    validate_after = options.pop("validate", None)
    ctx.options.update(options)
    with gc_paused():
        return run_pipeline(graph, ctx, tuple(pipeline or DEFAULT_PIPELINE), max_iterations,
                            validate_after)


def optimize(graph_def, fetches: Optional[Sequence[str]] = None,
             pipeline: Optional[Sequence[str]] = None, **options):
    """GraphDef in, (optimized GraphDef, Report) out. Invalid graphs are refused before any
    pass runs."""
    with gc_paused():  # load, passes and save: one pause, not a full collection between them
        graph = graph_from_graph_def(graph_def)
        report = optimize_graph(graph, fetches, pipeline, **options)
        return graph_to_graph_def(graph), report


def _sinks(graph: Graph) -> tuple[list[str], list[str]]:
    """(tensors, ops) nothing consumes: what a graph without declared fetches produces."""
    tensors, ops = [], []
    for node in graph:
        if not node.users:
            if node.num_outputs:
                tensors.extend(r.name for r in node.outputs)
            else:
                ops.append(node.name)
    return tensors, ops
