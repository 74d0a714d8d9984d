"""The generated protobuf modules: fresh, and wire-compatible with TensorFlow's own.

    schema/*.proto --protoc--> byte-identical to the committed schema/*_pb2.py
    TF GraphDef.node = (1, TYPE_MESSAGE, repeated, NodeDef) == ours
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from schema import types_pb2
from schema.dtypes import DType

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "e2e" / "tf_import_check.py"

# TensorFlow fields gcc-flow deliberately leaves undeclared, by message: name -> field number.
# Protobuf keeps them as unknown fields, so they survive a load/save round trip byte for byte.
UNDECLARED = {"GraphDef": {"debug_info": 5}}


def _helper():
    spec = importlib.util.spec_from_file_location("tf_import_check", HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tf_check = _helper()


def _our_modules():
    return [importlib.import_module(f"schema.{name}") for name in tf_check.PROTO_MODULES]


# -- the committed modules are what protoc makes of the committed .proto files -----------------

def test_generated_modules_are_fresh(tmp_path):
    pytest.importorskip("grpc_tools")
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "schema").glob("*.proto"))
    assert protos, "no schema/*.proto found"
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--python_out={tmp_path}", *protos],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"protoc failed: {result.stderr}"
    stale = []
    for proto in protos:
        module = Path(proto).with_name(Path(proto).stem + "_pb2.py")
        committed, fresh = ROOT / module, tmp_path / module
        if not committed.exists() or committed.read_bytes() != fresh.read_bytes():
            stale.append(str(module))
    assert not stale, f"stale generated modules {stale}: run `make proto` and commit the result"


def test_every_pb2_module_has_its_proto():
    orphans = [p.name for p in (ROOT / "schema").glob("*_pb2.py")
               if not p.with_name(p.name[:-len("_pb2.py")] + ".proto").exists()]
    assert orphans == []


# -- DType mirrors the DataType enum of types.proto ------------------------------------------

def test_dtype_enum_matches_types_proto():
    proto = tf_check.describe_enum(types_pb2.DataType.DESCRIPTOR)
    ours = {"DT_" + dt.name: dt.value for dt in DType}
    assert ours == proto


def test_ref_types_are_value_types_plus_100():
    for dt in DType:
        if dt.is_ref:
            assert dt.base.value + 100 == dt.value and dt.base.as_ref is dt


# -- wire compatibility with TensorFlow (needs a Python with TensorFlow) ---------------------

@pytest.fixture(scope="module")
def tf_descriptors() -> dict:
    python = tf_check.find_tf_python()
    if python is None:
        pytest.skip(f"TensorFlow is not importable and ${tf_check.ENV_VAR} names no Python "
                    f"with TensorFlow")
    result = tf_check.run_tf(python, "descriptors", timeout=300)
    assert result.returncode == 0, f"dumping TensorFlow's descriptors failed:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.mark.parametrize("message", tf_check.MESSAGES)
def test_message_matches_tensorflow(tf_descriptors, message):
    theirs = tf_descriptors["messages"][message]
    ours = tf_check.describe_messages(_our_modules(), [message])[message]
    skipped = UNDECLARED.get(message, {})
    problems = []
    for name, layout in theirs.items():
        if name in skipped:
            assert layout[0] == skipped[name], f"{message}.{name} moved to {layout[0]}"
            continue
        if name not in ours:
            problems.append(f"{message}.{name} = {layout} is missing")
        elif ours[name] != layout:
            problems.append(f"{message}.{name}: TF has {layout}, ours {ours[name]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("message", sorted(UNDECLARED))
def test_undeclared_fields_stay_unknown(tf_descriptors, message):
    """A field number we leave undeclared must not be reused by a field of ours."""
    ours = tf_check.describe_messages(_our_modules(), [message])[message]
    numbers = {layout[0] for layout in ours.values()}
    for name, number in UNDECLARED[message].items():
        assert name in tf_descriptors["messages"][message]
        assert number not in numbers, f"{message} field {number} is declared; expected unknown"


def test_data_type_enum_matches_tensorflow(tf_descriptors):
    theirs = tf_descriptors["enums"]["DataType"]
    ours = tf_check.describe_enum(types_pb2.DataType.DESCRIPTOR)
    renumbered = {k: (v, ours[k]) for k, v in theirs.items() if k in ours and ours[k] != v}
    assert renumbered == {}, f"DataType values with other numbers (TF, ours): {renumbered}"
    missing = sorted(set(theirs) - set(ours))
    assert missing == [], f"DataType values TensorFlow has and we lack: {missing}"
