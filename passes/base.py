"""The pass contract: a registered function from (graph, context) to a PassResult.

    @register_pass("fold_constants")
    def fold_constants(graph: Graph, ctx: PassContext) -> PassResult:
        ...
        return PassResult(graph, modified=True, stats={"folded": 3})

``stats`` counts rewrites by rule name; ``ctx.notes`` collects things a pass chose not to do
(a fold skipped because its result would be too big), which the report shows.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from schema.errors import GccFlowError
from schema.plugins import LazyImport
from schema.ir import Graph, Node, parse_tensor_name

__all__ = ["PassContext", "PassResult", "PassError", "register_pass", "get_pass", "available",
           "DEFAULT_MAX_FOLDED_BYTES", "count"]

DEFAULT_MAX_FOLDED_BYTES = 10 << 20  # 10 MiB (Grappler uses 100 KiB)


class PassError(GccFlowError):
    """A pass failed or left an invalid graph; the message names it and the passes before it."""


@dataclasses.dataclass
class PassContext:
    """What passes may read: what must survive, limits, devices; and where they leave notes."""
    fetches: list[str] = dataclasses.field(default_factory=list)      # tensor names
    targets: list[str] = dataclasses.field(default_factory=list)      # node names
    preserved: set[str] = dataclasses.field(default_factory=set)      # node names kept as is
    max_folded_bytes: int = DEFAULT_MAX_FOLDED_BYTES
    devices: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in self.fetches:
            self.preserved.add(parse_tensor_name(name.lstrip("^"))[0])
        self.preserved.update(self.targets)

    def is_preserved(self, node: Node) -> bool:
        return node.name in self.preserved

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)


@dataclasses.dataclass
class PassResult:
    graph: Graph
    modified: bool
    stats: dict[str, int] = dataclasses.field(default_factory=dict)


PassFn = Callable[[Graph, PassContext], PassResult]
_PASSES: dict[str, PassFn] = {}


def register_pass(name: str) -> Callable[[PassFn], PassFn]:
    def register(fn: PassFn) -> PassFn:
        if name in _PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        _PASSES[name] = fn
        fn.pass_name = name  # type: ignore[attr-defined]
        return fn
    return register


def get_pass(name: str) -> PassFn:
    _load_passes()
    try:
        return _PASSES[name]
    except KeyError:
        raise PassError(f"unknown pass {name!r}; available: {sorted(_PASSES)}") from None


def available() -> list[str]:
    _load_passes()
    return sorted(_PASSES)


_load_passes = LazyImport("passes")  # every module; those with @register_pass register


def count(stats: dict[str, int], rule: str, n: int = 1) -> None:
    stats[rule] = stats.get(rule, 0) + n
