"""gf.io: GraphDef files by extension, atomic writes, clear errors on anything else."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gcc_flow as gf
import schema.io
from schema import graph_pb2
from schema.errors import DecodeError, GccFlowError
from schema.serde import graph_from_graph_def

ROOT = Path(__file__).resolve().parents[2]


def _small_graph() -> gf.Graph:
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 3], name="x")
        gf.add(x, gf.constant(np.arange(3, dtype=np.float32), name="b"), name="y")
    return g


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_binary_round_trip_writes_the_serialized_bytes(tmp_path):
    g = _small_graph()
    path = gf.io.write_graph(g, tmp_path / "m.pb")
    assert path == str(tmp_path / "m.pb")
    assert (tmp_path / "m.pb").read_bytes() == g.as_graph_def().SerializeToString()
    assert gf.io.read_graph(path) == g.as_graph_def()
    assert _listing(tmp_path) == ["m.pb"]


def test_text_round_trip_by_extension(tmp_path):
    g = _small_graph()
    gf.io.write_graph(g, tmp_path / "m.pbtxt")
    text = (tmp_path / "m.pbtxt").read_text()
    assert text.startswith("node {") and 'name: "y"' in text
    assert gf.io.read_graph(tmp_path / "m.pbtxt") == g.as_graph_def()


def test_tensorflow_logdir_name_form_and_as_text(tmp_path):
    g = _small_graph()
    path = gf.io.write_graph(g, tmp_path, "graph.pbtxt", as_text=True)
    assert path == str(tmp_path / "graph.pbtxt")
    assert gf.io.read_graph(path).node[0].name == "x"


@pytest.mark.parametrize("name, as_text", [("m.pb", True), ("m.pbtxt", False)])
def test_as_text_disagreeing_with_the_extension_is_refused(tmp_path, name, as_text):
    with pytest.raises(GccFlowError, match="disagrees with the extension"):
        gf.io.write_graph(_small_graph(), tmp_path / name, as_text=as_text)
    assert _listing(tmp_path) == []


def test_accepts_graph_def_ir_graph_and_foreign_graph_defs(tmp_path):
    graph_def = _small_graph().as_graph_def()

    class ForeignGraphDef:  # stands for TensorFlow's own GraphDef class
        node = graph_def.node

        def SerializeToString(self):
            return graph_def.SerializeToString()

    for i, value in enumerate([graph_def, graph_from_graph_def(graph_def), ForeignGraphDef()]):
        gf.io.write_graph(value, tmp_path / f"{i}.pb")
        assert gf.io.read_graph(tmp_path / f"{i}.pb") == graph_def
    gf.io.write_graph(gf.Graph(), tmp_path / "no_nodes.pbtxt")
    assert gf.io.read_graph(tmp_path / "no_nodes.pbtxt") == gf.Graph().as_graph_def()


def test_an_empty_graph_def_is_not_written(tmp_path):
    class EmptyForeignGraphDef:
        node = []

        def SerializeToString(self):
            return b""
    for value in (graph_pb2.GraphDef(), EmptyForeignGraphDef()):
        with pytest.raises(GccFlowError, match="empty GraphDef"):
            gf.io.write_graph(value, tmp_path / "m.pb")
    assert _listing(tmp_path) == []


def test_refuses_what_is_not_a_graph(tmp_path):
    with pytest.raises(GccFlowError, match="cannot write a dict"):
        gf.io.write_graph({"node": []}, tmp_path / "m.pb")
    with pytest.raises(GccFlowError, match="is a directory"):
        gf.io.write_graph(_small_graph(), tmp_path)
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("content, name, fragment", [
    (None, "missing.pb", "no such file"),
    (b"", "empty.pb", "empty"),
    (b'node { name: "x" op: "NoOp" }\n', "text.pb", "looks like a text GraphDef"),
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image.pb", "not a binary GraphDef"),
    (b"\xff\xfe\x00binary", "bin.pbtxt", "not UTF-8 text"),
])
def test_read_errors_name_the_problem(tmp_path, content, name, fragment):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DecodeError, match=fragment):
        gf.io.read_graph(path)


def test_read_refuses_a_directory(tmp_path):
    with pytest.raises(DecodeError, match="is a directory"):
        gf.io.read_graph(tmp_path)


def test_overwrite_replaces_the_file_atomically(tmp_path):
    target = tmp_path / "m.pb"
    target.write_bytes(b"old")
    gf.io.write_graph(_small_graph(), target)
    assert gf.io.read_graph(target) == _small_graph().as_graph_def()
    assert _listing(tmp_path) == ["m.pb"]


@pytest.mark.parametrize("broken", ["fsync", "replace"])
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, broken):
    target = tmp_path / "m.pb"
    target.write_bytes(b"previous contents")

    def fail(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(schema.io.os, broken, fail)
    with pytest.raises(GccFlowError, match="Read-only file system"):
        gf.io.write_graph(_small_graph(), target)
    assert target.read_bytes() == b"previous contents"
    assert _listing(tmp_path) == ["m.pb"]


def test_unwritable_folder_is_a_clear_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(schema.io.tempfile, "mkstemp", refuse)
    with pytest.raises(GccFlowError, match="cannot write into .*Permission denied"):
        gf.io.write_graph(_small_graph(), tmp_path / "m.pb")
    assert _listing(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(GccFlowError, match="cannot write"):
            gf.io.write_graph(_small_graph(), folder / "m.pb")
        assert _listing(folder) == []
    finally:
        folder.chmod(0o755)


def test_over_the_protobuf_limit_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(schema.io, "PROTOBUF_LIMIT", 10)
    with pytest.raises(GccFlowError, match="2 GiB.*nothing was written"):
        gf.io.write_graph(_small_graph(), tmp_path / "m.pb")
    assert _listing(tmp_path) == []


_KILL_MID_WRITE = """
import os, signal, sys
import schema.io
from schema import graph_pb2
def die(fd):  # the data is in the temp file, not yet renamed: the worst moment to die
    os.kill(os.getpid(), signal.SIGKILL)
schema.io.os.fsync = die
graph_def = graph_pb2.GraphDef()
graph_def.node.add(name="new", op="NoOp")
schema.io.write_graph_def(graph_def, sys.argv[1])
"""


def test_killed_mid_write_leaves_the_previous_file_whole(tmp_path):
    target = tmp_path / "m.pb"
    gf.io.write_graph(_small_graph(), target)
    before = target.read_bytes()
    proc = subprocess.run([sys.executable, "-c", _KILL_MID_WRITE, str(target)], cwd=ROOT,
                          timeout=60, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == before
    leftovers = [n for n in _listing(tmp_path) if n != "m.pb"]
    assert all(n.startswith(".m.pb.") and n.endswith(".tmp") for n in leftovers)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(allow_nan=False, width=32), min_size=0, max_size=40),
       st.booleans())
def test_constants_survive_a_round_trip(tmp_path_factory, values, text):
    folder = tmp_path_factory.mktemp("rt")
    g = gf.Graph()
    with g.as_default():
        gf.constant(np.array(values, np.float32), name="c")
    path = gf.io.write_graph(g, folder / ("m.pbtxt" if text else "m.pb"))
    graph = graph_from_graph_def(gf.io.read_graph(path))
    np.testing.assert_array_equal(graph.nodes["c"].attrs["value"], np.array(values, np.float32))
