"""``gf.io``: reading and writing GraphDef files, binary ``.pb`` or text ``.pbtxt`` by extension.

    graph_def = gf.io.read_graph("model.pb")          # DecodeError on anything that is not one
    gf.io.write_graph(g, "out/model.pbtxt")           # a gf.Graph or a GraphDef; atomic
    gf.io.write_graph(g, "out", "model.pb")           # TensorFlow's (graph, logdir, name) form

The format follows the file name: ``.pbtxt``/``.pbtext``/``.txt``/``.prototxt`` is text, anything
else binary. ``as_text`` may be given as in TensorFlow, but it must agree with the extension (a
text file named ``.pb`` could not be read back). Writes go to a temp file in the same folder, are
fsynced and renamed over the target: a failure never leaves half a file or a temp file behind.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

from schema import graph_pb2
from schema.errors import GccFlowError
from schema.io import TEXT_SUFFIXES, parse_graph_def, read_graph_def, write_graph_def
from schema.ir import Graph as IRGraph
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["read_graph", "write_graph", "as_graph_def"]

PathLike = Union[str, os.PathLike]


def read_graph(path: PathLike, limits: Limits = DEFAULT_LIMITS) -> graph_pb2.GraphDef:
    """Reads a GraphDef; the format comes from the extension and is checked, never guessed.

    read_graph("model.pbtxt") -> GraphDef(node=[...]);  read_graph("empty.pb") -> DecodeError
    """
    return read_graph_def(path, limits)


def write_graph(graph: Any, path: PathLike, name: Optional[str] = None, *,
                as_text: Optional[bool] = None) -> str:
    """Writes ``graph`` (a gf.Graph, an IR Graph or a GraphDef) atomically; returns the path.

    write_graph(g, "m.pb") -> "m.pb" (binary);  write_graph(g, "logs", "m.pbtxt") -> "logs/m.pbtxt"
    """
    target = Path(path) / name if name is not None else Path(path)
    is_text = target.suffix.lower() in TEXT_SUFFIXES
    if as_text is not None and bool(as_text) != is_text:
        raise GccFlowError(
            f"as_text={bool(as_text)} disagrees with the extension of {target}: name text files "
            f"{'/'.join(TEXT_SUFFIXES)} and binary files anything else (e.g. .pb)")
    if target.is_dir():
        raise GccFlowError(f"{target} is a directory; give a file name")
    graph_def = as_graph_def(graph)
    if graph_def.ByteSize() == 0:
        raise GccFlowError(f"refusing to write an empty GraphDef to {target}: a 0-byte file "
                           f"cannot be told from a failed write, and reading it is an error")
    write_graph_def(graph_def, target)
    return str(target)


def as_graph_def(graph: Any) -> graph_pb2.GraphDef:
    """The GraphDef of a gf.Graph, an IR Graph, or a GraphDef from any protobuf module.

    as_graph_def(gf_graph) -> GraphDef;  as_graph_def(tf_graph_def) -> GraphDef (same bytes)
    """
    if isinstance(graph, graph_pb2.GraphDef):
        return graph
    if isinstance(graph, IRGraph):
        from schema.serde import graph_to_graph_def
        return graph_to_graph_def(graph)
    if hasattr(graph, "as_graph_def"):
        return as_graph_def(graph.as_graph_def())
    if hasattr(graph, "SerializeToString") and hasattr(graph, "node"):
        # TensorFlow's own GraphDef class: the wire format is the same (empty is allowed here).
        data = graph.SerializeToString()
        return parse_graph_def(data, source="the given GraphDef") if data else \
            graph_pb2.GraphDef()
    raise GccFlowError(f"cannot write a {type(graph).__name__}: expected a gf.Graph or a "
                       f"GraphDef")
