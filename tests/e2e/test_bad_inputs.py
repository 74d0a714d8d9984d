"""Bad inputs (docs: /work/shared/BAD_INPUTS.md sections A, B, C, F): each one gives a typed
error with a clear message in Python, and exit code 2 with one line on stderr from the CLI,
run in a subprocess under a 2 GiB address-space limit and a timeout. The CLI's output folder is
unchanged after every refused run.
"""
from __future__ import annotations

import dataclasses
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
from google.protobuf import text_format

import runtime
from schema import graph_pb2, tensor_pb2
from schema.errors import (
    DecodeError, FeedError, FetchError, GraphError, LimitExceeded, TensorError, UnknownOpError,
    ValidationError,
)
from schema.registry import find_op
from schema.tensors import from_numpy

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 2 << 30
TIMEOUT = 60

_T_FLOAT = 'attr { key: "T" value { type: DT_FLOAT } }'
X = ('node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } '
     'attr { key: "shape" value { shape { dim { size: 2 } } } } }\n')
GOOD = X + f'node {{ name: "y" op: "Neg" input: "x" {_T_FLOAT} }}\n'


# -- building bad models --------------------------------------------------------------------------

def _graph(text: str) -> graph_pb2.GraphDef:
    return text_format.Parse(text, graph_pb2.GraphDef())


def _pb(text: str) -> Callable[[], bytes]:
    return lambda: _graph(text).SerializeToString()


def _y(inputs: str, extra: str = _T_FLOAT, op: str = "Neg") -> Callable[[], bytes]:
    """x: Placeholder float32[2], then y = op(inputs...)."""
    ins = " ".join(f'input: "{i}"' for i in inputs.split()) if inputs else ""
    return _pb(X + f'node {{ name: "y" op: "{op}" {ins} {extra} }}')


def _const(tensor: tensor_pb2.TensorProto, dtype: Optional[int] = None) -> Callable[[], bytes]:
    def build() -> bytes:
        graph_def = graph_pb2.GraphDef()
        node = graph_def.node.add(name="y", op="Const")
        node.attr["value"].tensor.CopyFrom(tensor)
        node.attr["dtype"].type = tensor.dtype if dtype is None else dtype
        return graph_def.SerializeToString()
    return build


def _tensor(dims, dtype: int = 1, **fields) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for d in dims:
        proto.tensor_shape.dim.add().size = d
    return proto


def _short_content() -> tensor_pb2.TensorProto:
    proto = from_numpy(np.zeros((4, 5), np.float32))
    proto.tensor_content = proto.tensor_content[:-3]
    return proto


def _both_fields() -> tensor_pb2.TensorProto:
    proto = from_numpy(np.zeros((4, 5), np.float32))
    proto.float_val.append(1.0)
    return proto


def _long_name() -> bytes:
    graph_def = graph_pb2.GraphDef()
    graph_def.node.add(name="a" * (1 << 20), op="NoOp")
    return graph_def.SerializeToString()


def _onnx_model() -> bytes:
    import onnx
    from onnx import helper
    node = helper.make_node("Relu", ["x"], ["y"])
    value = helper.make_tensor_value_info
    graph = helper.make_graph([node], "g", [value("x", onnx.TensorProto.FLOAT, [2])],
                              [value("y", onnx.TensorProto.FLOAT, [2])])
    return helper.make_model(graph).SerializeToString()


def _deep_pbtxt(depth: int = 400) -> bytes:
    opening = 'attr { key: "k" value { func { name: "f" '
    return (f'node {{ name: "a" op: "NoOp" {opening * depth}{"} } } " * depth}}}\n').encode()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, written by hand (protobuf itself refuses the depth)."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _deep_binary(depth: int = 150) -> bytes:
    value = b""
    for _ in range(depth):  # AttrValue.func(10) -> NameAttrList.attr(2) -> map entry value(2)
        value = _ld(10, _ld(1, b"f") + _ld(2, _ld(1, b"k") + _ld(2, value)))
    node = _ld(1, b"a") + _ld(2, b"NoOp") + _ld(5, _ld(1, b"k") + _ld(2, value))
    return _ld(1, node)


def _bad_utf8_name() -> bytes:
    return _ld(1, _ld(1, b"\xff\xfe") + _ld(2, b"NoOp"))


def _truncated() -> bytes:
    return _graph(GOOD).SerializeToString()[:-5]


def _random_bytes() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 256, dtype=np.uint8).tobytes()


@dataclasses.dataclass
class Case:
    id: str
    build: Callable[[], bytes]
    error: type
    fragment: str
    suffix: str = ".pb"
    feeds: Optional[dict] = None   # a runtime case: the model is GOOD-like, the run is bad
    fetch: str = "y:0"


def _cycle() -> Callable[[], bytes]:
    return _pb(X + "".join(f'node {{ name: "{n}" op: "Neg" input: "{i}" {_T_FLOAT} }}'
                           for n, i in (("a", "c"), ("b", "a"), ("c", "b"), ("y", "c"))))


F32 = np.zeros(2, np.float32)
CASES = [
    # A. files
    Case("empty", lambda: b"", DecodeError, "empty (0 bytes)"),
    Case("random_bytes", _random_bytes, DecodeError, "not a binary GraphDef"),
    Case("truncated", _truncated, DecodeError, "not a binary GraphDef (truncated"),
    Case("text_as_pb", lambda: GOOD.encode(), DecodeError, "looks like a text GraphDef"),
    Case("prose_as_pb", lambda: b"just some notes, not a model\n", DecodeError,
         "not a binary GraphDef"),
    Case("onnx", _onnx_model, DecodeError, "looks like an ONNX model"),
    Case("pbtxt_400_deep", _deep_pbtxt, DecodeError, "deeper than 100 levels", ".pbtxt"),
    Case("binary_150_deep", _deep_binary, DecodeError, "deeper than protobuf's limit"),
    Case("huge_varint_length", lambda: b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
         DecodeError, "not a binary GraphDef"),
    Case("bad_utf8_name", _bad_utf8_name, DecodeError, "UTF-8"),
    Case("binary_as_pbtxt", _truncated, DecodeError, "holds binary data, not text", ".pbtxt"),
    Case("non_utf8_pbtxt", _random_bytes, DecodeError, "is not UTF-8 text", ".pbtxt"),
    # B. graph structure
    Case("cycle", _cycle(), GraphError, "graph has a cycle: "),
    Case("dangling_input", _y("nope"), GraphError, "no node is named 'nope'"),
    Case("dangling_control", _y("x ^nope"), GraphError, "control input from 'nope'"),
    Case("port_out_of_range", _y("x:5"), GraphError, "reads x:5, but 'x' (Placeholder) has 1"),
    Case("negative_port", _y("x:-1"), GraphError, "port after ':' must be a non-negative"),
    Case("non_numeric_port", _y("x:abc"), GraphError, "port after ':' must be a non-negative"),
    Case("duplicate_names", _pb(X + X), GraphError, "duplicate node name 'x'"),
    Case("empty_op", _pb('node { name: "y" }'), GraphError, "node 'y' has an empty op"),
    Case("empty_name", _pb('node { op: "NoOp" }'), GraphError, "illegal node name ''"),
    Case("illegal_name", _pb('node { name: "a b!" op: "NoOp" }'), GraphError,
         "illegal node name 'a b!'"),
    Case("1MB_name", _long_name, GraphError, "1048576 characters is longer than the limit"),
    Case("1MB_input_name", _y("q" * (1 << 20)), GraphError,
         "node 'y' has an input name of 1048576 characters, longer than the limit"),
    Case("1MB_op_name", _y("x", op="Q" * (1 << 20)), GraphError,
         "node 'y' has an op name of 1048576 characters, longer than the limit"),
    Case("unknown_op", _y("x", "", op="FrobnicateV9"), UnknownOpError,
         "node 'y' uses unknown op 'FrobnicateV9'"),
    Case("missing_attr", _y("x", ""), ValidationError, "node 'y' (Neg): missing required attr 'T'"),
    Case("attr_wrong_type", _y("x", 'attr { key: "T" value { i: 1 } }'), ValidationError,
         "attr 'T' must be of type type"),
    Case("arity_neg_two_inputs", _y("x x"), ValidationError,
         "node 'y' (Neg) has 2 data inputs but its op takes 1"),
    Case("edge_dtype_mismatch", _y("x", 'attr { key: "T" value { type: DT_INT32 } }'),
         ValidationError, "node 'y' (Neg) input 0 expects int32 but x:0 is float32"),
    Case("malformed_device", _pb(X + f'node {{ name: "y" op: "Neg" input: "x" {_T_FLOAT} '
                                      'device: "/job:@@@/gpu:banana" }'),
         GraphError, "node 'y': malformed device string '/job:@@@/gpu:banana'"),
    # C. tensors
    Case("content_length", _const(_short_content()), TensorError,
         "tensor_content has 77 bytes but shape [4, 5] of float32 needs 80"),
    Case("content_and_typed", _const(_both_fields()), TensorError, "both tensor_content"),
    Case("splat_10e12", _const(_tensor([10**6, 10**6], float_val=[1.0])), LimitExceeded,
         "needs 4000000000000 bytes, above the limit max_tensor_bytes"),
    Case("int64_overflow", _const(_tensor([2**62, 8], float_val=[1.0])), LimitExceeded,
         "above the limit max_tensor_bytes"),
    Case("rank_10e4", _const(_tensor([1] * 10_000, float_val=[1.0])), LimitExceeded,
         "rank 10000, above the limit 254"),
    Case("negative_dim", _const(_tensor([-3])), TensorError, "negative dimension -3"),
    Case("const_dtype_disagrees", _const(from_numpy(F32), dtype=3), TensorError,
         "attr dtype is int32 but its tensor holds float32"),
    Case("dtype_999_tensor", _const(_tensor([1], dtype=999), dtype=1), TensorError,
         "invalid dtype enum 999"),
    Case("dtype_999_attr", _y("x", 'attr { key: "T" value { type: 999 } }'), ValidationError,
         "invalid dtype enum 999"),
    Case("dtype_invalid_attr", _pb(X.replace("DT_FLOAT", "DT_INVALID")), ValidationError,
         "node 'x' (Placeholder): attr 'dtype' is DT_INVALID"),
    # F. runtime
    Case("feed_wrong_dtype", _pb(GOOD), FeedError, "feed x:0: expected float32",
         feeds={"x": np.array(["a", "b"])}),
    Case("feed_float_into_int", _pb(GOOD.replace("DT_FLOAT", "DT_INT32")), FeedError,
         "feed x:0: expected int32, got an array of float64", feeds={"x": np.zeros(2)}),
    Case("feed_wrong_shape", _pb(GOOD), FeedError, "feed x:0: expected shape [2], got [3]",
         feeds={"x": np.zeros(3, np.float32)}),
    Case("feed_wrong_rank", _pb(GOOD), FeedError, "expected shape [2], got [1, 2]",
         feeds={"x": np.zeros((1, 2), np.float32)}),
    Case("feed_unknown_name", _pb(GOOD), FeedError, "no node named 'z'",
         feeds={"x": F32, "z": F32}),
    Case("fetch_unknown", _pb(GOOD), FetchError, "no node named 'nope'", feeds={"x": F32},
         fetch="nope:0"),
    Case("fetch_port_out_of_range", _pb(GOOD), FetchError, "node 'y' (Neg) has 1 outputs",
         feeds={"x": F32}, fetch="y:3"),
    Case("missing_feed", _pb(GOOD), FeedError, "placeholder x:0 (float32, shape [2]) must be fed",
         feeds={}),
]
IDS = [c.id for c in CASES]


def _write_model(case: Case, folder: Path) -> Path:
    path = folder / f"model{case.suffix}"
    path.write_bytes(case.build())
    return path


# -- Python: a typed error with a clear message ---------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_python_raises_a_typed_error(case: Case, tmp_path):
    path = _write_model(case, tmp_path)
    with pytest.raises(case.error, match=re.escape(case.fragment)):
        session = runtime.load(path)
        if case.feeds is not None:
            session.run(case.fetch, {k: v for k, v in case.feeds.items()})


def test_cycle_message_is_the_cycle_path(tmp_path):
    with pytest.raises(GraphError) as info:
        runtime.load(_write_model(CASES[IDS.index("cycle")], tmp_path))
    path = str(info.value).split("cycle: ")[1].split(" -> ")
    reads = {"a": "c", "b": "a", "c": "b"}  # node -> its input
    assert path[0] == path[-1] and sorted(path[:-1]) == ["a", "b", "c"]
    assert all(reads[u] == v for u, v in zip(path, path[1:]))


@pytest.mark.skipif(find_op("Relu") is None, reason="Relu is not declared yet")
def test_relu_with_two_inputs(tmp_path):
    path = tmp_path / "m.pb"
    path.write_bytes(_y("x x", op="Relu")())
    with pytest.raises(ValidationError, match=r"node 'y' \(Relu\) has 2 data inputs"):
        runtime.load(path)


# -- CLI: exit code 2, one line, nothing written --------------------------------------------------

def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def assert_refused(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gcc-flow: error: ")
    assert fragment in lines[0]
    assert len(lines[0]) < 2100  # even the 1 MB name does not make a 1 MB message


INSPECTED = ["empty", "truncated", "onnx", "pbtxt_400_deep", "cycle", "1MB_name", "splat_10e12",
             "malformed_device"]


def _cli_args(case: Case, kind: str, folder: Path) -> list[str]:
    path = _write_model(case, folder)
    if kind == "inspect":
        return ["inspect", str(path)]
    (folder / "out").mkdir()
    args = ["run", str(path), "--fetch", case.fetch, "-o", str(folder / "out" / "result.npz")]
    for name, value in (case.feeds or {}).items():
        np.save(folder / f"{name}.npy", value)
        args += ["--feed", f"{name}={folder / f'{name}.npy'}"]
    return args


def run_cli_batch(arg_lists: list, width: int = 4) -> list[subprocess.CompletedProcess]:
    """``python -m gcc_flow ARGS`` for each ARGS, ``width`` at a time, each under a 2 GiB
    address-space limit and a timeout. Popen is called from this thread
    only, so preexec_fn stays safe; the outputs are a line or two, far below a pipe's buffer."""
    results = []
    for start in range(0, len(arg_lists), width):
        batch = arg_lists[start:start + width]
        procs = [subprocess.Popen([sys.executable, "-m", "gcc_flow", *args], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  preexec_fn=_limit_memory) for args in batch]
        for args, proc in zip(batch, procs):
            try:
                out, err = proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            results.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return results


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory) -> dict:
    """(kind, case id) -> (the finished process, what is left in the run's output folder)."""
    jobs = [("run", c) for c in CASES] + [("inspect", CASES[IDS.index(i)]) for i in INSPECTED]
    folders = [tmp_path_factory.mktemp(f"{kind}_{case.id}") for kind, case in jobs]
    procs = run_cli_batch([_cli_args(c, k, f) for (k, c), f in zip(jobs, folders)])
    return {(kind, case.id): (proc, sorted(p.name for p in (folder / "out").glob("*")))
            for (kind, case), folder, proc in zip(jobs, folders, procs)}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_run_refuses_with_exit_code_2(case: Case, cli_results):
    proc, left_in_output_folder = cli_results[("run", case.id)]
    assert_refused(proc, case.fragment)
    assert left_in_output_folder == []


@pytest.mark.parametrize("case", [CASES[IDS.index(i)] for i in INSPECTED], ids=INSPECTED)
def test_cli_inspect_refuses_with_exit_code_2(case: Case, cli_results):
    assert_refused(cli_results[("inspect", case.id)][0], case.fragment)


def test_splat_is_refused_by_the_limit_not_by_running_out_of_memory(tmp_path):
    # Raising the byte budget lets the 4 TB allocation be attempted: under the 2 GiB address
    # space it fails as an internal error (exit 1), which shows the limit is what saves us.
    path = _write_model(CASES[IDS.index("splat_10e12")], tmp_path)
    proc = subprocess.run([sys.executable, "-m", "gcc_flow", "inspect", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT,
                          preexec_fn=_limit_memory,
                          env={"GCC_FLOW_MAX_TENSOR_BYTES": str(1 << 50), "PATH": "/usr/bin"})
    assert proc.returncode == 1, proc.stderr
    assert "MemoryError" in proc.stderr and len(proc.stderr.splitlines()) == 1
