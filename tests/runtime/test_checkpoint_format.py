"""The checkpoint format (docs/CHECKPOINTS.md): round trips, atomic writes, corrupt files,
and the SaveV2/RestoreV2 kernels in a runtime Session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import runtime
from runtime.checkpoint import (
    CheckpointError, CheckpointNotFoundError, checkpoint_exists, data_path, delete_checkpoint,
    read_index, read_tensors, write_checkpoint,
)
from schema.dtypes import DType
from schema.errors import ExecutionError, LimitExceeded
from schema.limits import Limits
from schema.text import parse_graph

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _values():
    return {
        "f32": np.arange(12, dtype=np.float32).reshape(4, 3) / 7,
        "f64": np.array(-1.5), "i8": np.array([-128, 127], np.int8),
        "u16": np.array([[0, 65535]], np.uint16), "i64": np.array([2**62, -3], np.int64),
        "bool": np.array([True, False, True]), "c64": np.array([1 + 2j, -3j], np.complex64),
        "bf16": np.array([0.1, -2.0], ml_dtypes.bfloat16),
        "f16": np.array([0.5, np.inf], np.float16), "empty": np.zeros((0, 5), np.float32),
        "str": np.array([[b"", b"abc"], ["\u00e9t\u00e9".encode(), b"\x00\xff"]], dtype=object),
    }


def _round_trip(tmp_path, values: dict) -> dict:
    prefix = str(tmp_path / "ckpt" / "model")
    write_checkpoint(prefix, list(values), list(values.values()))
    restored = read_tensors(prefix, [(name, None) for name in values])
    return dict(zip(values, restored))


def test_round_trip_keeps_dtype_shape_and_bits(tmp_path):
    values = _values()
    restored = _round_trip(tmp_path, values)
    for name, value in values.items():
        got = restored[name]
        assert got.dtype == value.dtype and got.shape == value.shape, name
        if value.dtype == object:
            assert got.tolist() == value.tolist()
        else:
            assert got.tobytes() == value.tobytes(), name


@settings(max_examples=30, deadline=None)
@given(arrays=st.lists(hnp.arrays(st.sampled_from([np.float32, np.int16, np.uint8, np.bool_]),
                                  hnp.array_shapes(min_dims=0, max_dims=3, min_side=0)),
                       max_size=4),
       strings=st.lists(st.binary(max_size=6), max_size=5))
def test_round_trip_property(tmp_path_factory, arrays, strings):
    values = {f"t{i}": a for i, a in enumerate(arrays)}
    values["s"] = np.array(strings + [b""], dtype=object)[:len(strings)]
    restored = _round_trip(tmp_path_factory.mktemp("rt"), values)
    for name, value in values.items():
        got = restored[name]
        assert got.dtype == value.dtype and got.shape == value.shape
        assert got.tolist() == value.tolist() if value.dtype == object else \
            got.tobytes() == value.tobytes()  # bit for bit, NaNs included


def test_index_names_the_data_file_and_checksums(tmp_path):
    prefix = str(tmp_path / "m")
    write_checkpoint(prefix, ["w"], [np.ones(3, np.float32)])
    token, size, entries = read_index(prefix)
    assert os.path.exists(data_path(prefix, token)) and size == 12
    entry = entries["w"]
    assert (entry.dtype, entry.shape, entry.offset, entry.length) == (DType.FLOAT, (3,), 0, 12)
    assert sorted(os.listdir(tmp_path)) == ["m.data-" + token, "m.index"]


def test_saving_a_prefix_again_leaves_one_data_file(tmp_path):
    prefix = str(tmp_path / "m")
    for i in range(3):
        write_checkpoint(prefix, ["w"], [np.full(2, i, np.int32)])
    assert len([n for n in os.listdir(tmp_path) if ".data-" in n]) == 1
    assert read_tensors(prefix, [("w", DType.INT32)])[0].tolist() == [2, 2]
    delete_checkpoint(prefix)
    assert os.listdir(tmp_path) == [] and not checkpoint_exists(prefix)


# -- atomicity -----------------------------------------------------------------------------------

def test_failed_index_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    prefix = str(tmp_path / "m")
    write_checkpoint(prefix, ["w"], [np.array([1.0, 2.0])])
    before = sorted(os.listdir(tmp_path))
    real_replace = os.replace

    def crash_on_index(src, dst):
        if str(dst).endswith(".index"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)
    monkeypatch.setattr(os, "replace", crash_on_index)
    with pytest.raises(Exception, match="No space left"):
        write_checkpoint(prefix, ["w"], [np.array([9.0, 9.0])])
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before  # no temp file, no orphan data file
    assert read_tensors(prefix, [("w", None)])[0].tolist() == [1.0, 2.0]


_KILLED_SAVE = """
import os, signal, sys
import numpy as np
from runtime.checkpoint import write_checkpoint
prefix, stage = sys.argv[1], sys.argv[2]
write_checkpoint(prefix, ["w"], [np.array([1.0, 2.0])])
real_replace, real_fsync = os.replace, os.fsync
def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)
if stage == "index":      # killed when the new index is about to be renamed into place
    os.replace = lambda s, d: die() if str(d).endswith(".index") else real_replace(s, d)
else:                     # killed while the new data file is being written
    os.fsync = die
write_checkpoint(prefix, ["w"], [np.array([7.0, 7.0])])
"""


@pytest.mark.parametrize("stage", ["index", "data"])
def test_killed_save_keeps_the_previous_checkpoint(tmp_path, stage):
    prefix = str(tmp_path / "m")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_KILLED_SAVE), prefix, stage],
                          cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    assert read_tensors(prefix, [("w", None)])[0].tolist() == [1.0, 2.0]
    write_checkpoint(prefix, ["w"], [np.array([3.0, 4.0])])  # the next save cleans up
    assert read_tensors(prefix, [("w", None)])[0].tolist() == [3.0, 4.0]
    assert len([n for n in os.listdir(tmp_path) if ".data-" in n and "tmp" not in n]) == 1


# -- corrupt checkpoints (BAD_INPUTS.md G) -------------------------------------------------------

def _saved(tmp_path) -> str:
    prefix = str(tmp_path / "m")
    write_checkpoint(prefix, ["w", "s"], [np.arange(6, dtype=np.float32).reshape(2, 3),
                                          np.array([b"ab", b"c"], dtype=object)])
    return prefix


def _edit_entry(prefix: str, name: str = "w", **changes) -> None:
    with open(prefix + ".index") as handle:
        doc = json.load(handle)
    entry = next(e for e in doc["tensors"] if e["name"] == name)
    entry.update(changes)
    with open(prefix + ".index", "w") as handle:
        json.dump(doc, handle)


CORRUPT = {
    "tensor_size_overflow": ({"shape": [2**62, 8]}, "tensor size overflows int64"),
    "negative_extent_start": ({"offset": -4}, "negative extent start"),
    "negative_extent_length": ({"length": -24}, "negative extent start or length"),
    "extent_end_overflow": ({"offset": 2**63 - 8}, "ends past the end of the data"),
    "negative_dimension": ({"shape": [2, -3]}, "negative dimension in shape"),
    "unsupported_tensor_type": ({"dtype": "resource"}, "unsupported tensor type 'resource'"),
    "unknown_tensor_type": ({"dtype": "float99"}, "unsupported tensor type 'float99'"),
    "reference_tensor_type": ({"dtype": "float32_ref"}, "unsupported tensor type"),
    "length_disagrees_with_shape": ({"shape": [3, 3]}, "needs 36"),
    "bad_checksum_field": ({"sha256": "xyz"}, "no valid sha256"),
    "shape_not_ints": ({"shape": [2.0, 3]}, "malformed tensor entry"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_index_entry_is_refused(tmp_path, case):
    changes, message = CORRUPT[case]
    prefix = _saved(tmp_path)
    _edit_entry(prefix, **changes)
    with pytest.raises(CheckpointError, match=message):
        read_tensors(prefix, [("w", None)])


def test_missing_tensor_data_file(tmp_path):
    prefix = _saved(tmp_path)
    token, _, _ = read_index(prefix)
    os.unlink(data_path(prefix, token))
    with pytest.raises(CheckpointError, match="missing tensor data.*does not exist"):
        read_tensors(prefix, [("w", None)])


def test_truncated_data_file(tmp_path):
    prefix = _saved(tmp_path)
    token, size, _ = read_index(prefix)
    with open(data_path(prefix, token), "r+b") as handle:
        handle.truncate(size - 2)
    with pytest.raises(CheckpointError, match="missing tensor data.*truncated"):
        read_tensors(prefix, [("w", None)])


def test_flipped_byte_fails_the_checksum(tmp_path):
    prefix = _saved(tmp_path)
    token, _, _ = read_index(prefix)
    with open(data_path(prefix, token), "r+b") as handle:
        handle.seek(5)
        byte = handle.read(1)
        handle.seek(5)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(CheckpointError, match="checksum mismatch for tensor 'w'"):
        read_tensors(prefix, [("w", None)])
    assert read_tensors(prefix, [("s", None)])[0].tolist() == [b"ab", b"c"]


def test_string_lengths_must_fit_the_extent(tmp_path):
    prefix = str(tmp_path / "m")
    payload = np.array([2**40], "<u8").tobytes() + b"ab"  # claims a 1 TiB string
    token = "0123456789abcdef"
    with open(data_path(prefix, token), "wb") as handle:
        handle.write(payload)
    import hashlib
    entry = {"name": "s", "dtype": "string", "shape": [1], "offset": 0,
             "length": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    with open(prefix + ".index", "w") as handle:
        json.dump({"format": "gcc-flow-checkpoint", "version": 1, "data": token,
                   "data_size": len(payload), "tensors": [entry]}, handle)
    with pytest.raises(CheckpointError, match="string length runs past its extent"):
        read_tensors(prefix, [("s", None)])


@pytest.mark.parametrize("text,message", [
    (b"", "not a gcc-flow checkpoint index"),
    (b"\x00\x01\x02garbage", "not a gcc-flow checkpoint index"),
    (b"[" * 100000, "not a gcc-flow checkpoint index"),
    (b'{"format": "gcc-flow-checkpoint", "format": "x"}', "duplicate keys"),
    (b'{"format": "gcc-flow-checkpoint", "version": 2}', "unsupported checkpoint version 2"),
    (b'{"format": "gcc-flow-checkpoint", "version": 1, "data": "../../etc/passwd", '
     b'"data_size": 0, "tensors": []}', "malformed index"),
])
def test_malformed_index_file(tmp_path, text, message):
    prefix = str(tmp_path / "m")
    (tmp_path / "m.index").write_bytes(text)
    with pytest.raises(CheckpointError, match=message):
        read_tensors(prefix, [])


def test_missing_checkpoint_and_missing_name(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint at"):
        read_tensors(str(tmp_path / "nope"), [("w", None)])
    prefix = _saved(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match="tensor 'v' not found"):
        read_tensors(prefix, [("v", None)])
    with pytest.raises(CheckpointError, match="is float32 in checkpoint .* restored as int32"):
        read_tensors(prefix, [("w", DType.INT32)])


def test_byte_budget_is_checked_before_reading(tmp_path):
    prefix = _saved(tmp_path)
    with pytest.raises(LimitExceeded, match="checkpoint tensor 'w'"):
        read_tensors(prefix, [("w", None)], Limits(max_tensor_bytes=16))


# -- the kernels in a runtime Session ------------------------------------------------------------

CKPT_GRAPH = """
%prefix:0 str[] = Placeholder() dtype=str shape=shape[]
%names:0 str[2] = Const() dtype=str value=str[2]{b"a", b"b"}
%slices:0 str[2] = Const() dtype=str value=str[2]{b"", b""}
%a:0 f32[2] = Const() dtype=f32 value=f32[2]{1.5, -2.0}
%b:0 str[] = Const() dtype=str value=str[]{b"hello"}
%save = SaveV2(%prefix:0, %names:0, %slices:0, %a:0, %b:0) dtypes=[f32, str]
%restore:0 f32[*], %restore:1 str[*] = RestoreV2(%prefix:0, %names:0, %slices:0) dtypes=[f32, str]
%wrong:0 i32[*], %wrong:1 str[*] = RestoreV2(%prefix:0, %names:0, %slices:0) dtypes=[i32, str]
%sliced:0 str[2] = Const() dtype=str value=str[2]{b"2 0,1", b""}
%bad_restore:0 f32[*], %bad_restore:1 str[*] = RestoreV2(%prefix:0, %names:0, %sliced:0) dtypes=[f32, str]
"""


def test_save_and_restore_kernels(tmp_path):
    sess = runtime.load(parse_graph(CKPT_GRAPH))
    prefix = str(tmp_path / "sub" / "k")
    sess.run("^save", {"prefix:0": prefix})
    a, b = sess.run(["restore:0", "restore:1"], {"prefix:0": prefix})
    assert a.tolist() == [1.5, -2.0] and a.dtype == np.float32 and b.item() == b"hello"
    with pytest.raises(CheckpointError, match="node 'wrong'.*is float32 in checkpoint"):
        sess.run("wrong:0", {"prefix:0": prefix})
    with pytest.raises(ExecutionError, match="slice spec '2 0,1' is not supported"):
        sess.run("bad_restore:0", {"prefix:0": prefix})


def test_ops_are_stateful_and_side_effecting():
    from schema.registry import get_op
    assert get_op("SaveV2").is_side_effecting and get_op("SaveV2").is_stateful
    assert get_op("RestoreV2").is_stateful and not get_op("RestoreV2").is_side_effecting
    assert get_op("MergeV2Checkpoints").has_side_effects
    assert [a.name for a in get_op("RestoreV2").inputs] == ["prefix", "tensor_names",
                                                            "shape_and_slices"]


MERGE_GRAPH = """
%sources:0 str[2] = Placeholder() dtype=str shape=shape[2]
%dest:0 str[] = Placeholder() dtype=str shape=shape[]
%merge = MergeV2Checkpoints(%sources:0, %dest:0)
"""


def test_merge_checkpoints(tmp_path):
    first, second = str(tmp_path / "part0" / "p"), str(tmp_path / "part1" / "p")
    write_checkpoint(first, ["x"], [np.array([1, 2], np.int64)])
    write_checkpoint(second, ["y"], [np.array(b"z", dtype=object)])
    sess = runtime.load(parse_graph(MERGE_GRAPH))
    dest = str(tmp_path / "merged")
    sess.run("^merge", {"sources:0": np.array([first, second], dtype=object), "dest:0": dest})
    x, y = read_tensors(dest, [("x", None), ("y", None)])
    assert x.tolist() == [1, 2] and y.item() == b"z"
    assert not checkpoint_exists(first) and not os.path.exists(tmp_path / "part0")
