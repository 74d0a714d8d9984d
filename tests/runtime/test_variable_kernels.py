"""Variable kernels in a runtime Session: state across run() calls, errors, TF fixtures."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

import runtime
from runtime.resources import RefVariable, ResourceHandle, ResourceManager
from schema.dtypes import DType
from schema.errors import ExecutionError, UninitializedVariableError, ValidationError
from schema.text import parse_graph

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "tf"

RESOURCE_GRAPH = """
%w:0 res[] = VarHandleOp() dtype=f32 shape=shape[2] shared_name="w"
%w_init:0 f32[2] = Const() dtype=f32 value=f32[2]{1, 2}
%w_assign = AssignVariableOp(%w:0, %w_init:0) dtype=f32
%delta:0 f32[2] = Const() dtype=f32 value=f32[2]{10, 20}
%w_add = AssignAddVariableOp(%w:0, %delta:0) dtype=f32
%w_sub = AssignSubVariableOp(%w:0, %delta:0) dtype=f32
%w_read:0 f32[2] = ReadVariableOp(%w:0) dtype=f32
%w_ok:0 bool[] = VarIsInitializedOp(%w:0)
%w_destroy = DestroyResourceOp(%w:0)
%other:0 res[] = VarHandleOp() dtype=f32 shape=shape[2] shared_name="w"
%other_read:0 f32[2] = ReadVariableOp(%other:0) dtype=f32
%v:0 i32&[3] = VariableV2() dtype=i32 shape=shape[3]
%v_init:0 i32[3] = Const() dtype=i32 value=i32[3]{1, 2, 3}
%v_assign:0 i32&[3] = Assign(%v:0, %v_init:0) T=i32
%v_add:0 i32&[3] = AssignAdd(%v:0, %v_init:0) T=i32
%v_read:0 i32[3] = Identity(%v:0) T=i32
%v_ok:0 bool[] = IsVariableInitialized(%v:0) dtype=i32
"""


def _load(text: str = RESOURCE_GRAPH):
    return runtime.load(parse_graph(text))


def test_resource_variable_keeps_state_across_runs():
    sess = _load()
    assert sess.run("w_ok:0") == np.array(False)
    sess.run("w_assign")
    assert sess.run("w_ok:0") == np.array(True)
    np.testing.assert_array_equal(sess.run("w_read:0"), [1, 2])
    sess.run("w_add")
    sess.run("w_add")
    np.testing.assert_array_equal(sess.run("w_read:0"), [21, 42])
    sess.run("w_sub")
    np.testing.assert_array_equal(sess.run("w_read:0"), [11, 22])
    # A second VarHandleOp with the same shared_name is the same variable.
    np.testing.assert_array_equal(sess.run("other_read:0"), [11, 22])
    sess.run("w_destroy")
    assert sess.run("w_ok:0") == np.array(False)


def test_reading_an_uninitialized_variable_names_it():
    sess = _load()
    with pytest.raises(UninitializedVariableError, match=r"'w'"):
        sess.run("w_read:0")
    with pytest.raises(UninitializedVariableError, match=r"\bv\b"):
        sess.run("v_read:0")
    with pytest.raises(UninitializedVariableError, match=r"'w'"):
        sess.run("w_add")


def test_fetched_values_do_not_alias_the_variable():
    sess = _load()
    sess.run("w_assign")
    first = sess.run("w_read:0")
    first[0] = 99
    sess.run("w_add")
    np.testing.assert_array_equal(sess.run("w_read:0"), [11, 22])


def test_sessions_do_not_share_state():
    a, b = _load(), _load()
    a.run("w_assign")
    with pytest.raises(UninitializedVariableError):
        b.run("w_read:0")


def test_reference_variable_assign_and_fetch_ref_outputs():
    sess = _load()
    assert sess.run("v_ok:0") == np.array(False)
    out = sess.run("v_assign:0")  # fetching a Ref output gives the value
    np.testing.assert_array_equal(out, [1, 2, 3])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(sess.run("v_add:0"), [2, 4, 6])
    np.testing.assert_array_equal(sess.run("v_read:0"), [2, 4, 6])
    np.testing.assert_array_equal(sess.run("v:0"), [2, 4, 6])
    assert sess.run("v_ok:0") == np.array(True)


def test_assign_checks_dtype_and_shape_when_validating():
    text = """
    %w:0 res[] = VarHandleOp() dtype=f32 shape=shape[2]
    %x:0 f32[?] = Placeholder() dtype=f32 shape=shape[?]
    %strict = AssignVariableOp(%w:0, %x:0) dtype=f32 validate_shape=true
    %loose = AssignVariableOp(%w:0, %x:0) dtype=f32
    %add = AssignAddVariableOp(%w:0, %x:0) dtype=f32
    %read:0 f32[2] = ReadVariableOp(%w:0) dtype=f32
    %wrong:0 i32[2] = ReadVariableOp(%w:0) dtype=i32
    %v:0 f32&[2] = VariableV2() dtype=f32 shape=shape[2]
    %v_assign:0 f32&[2] = Assign(%v:0, %x:0) T=f32
    """
    sess = _load(text)
    three = {"x:0": np.ones(3, np.float32)}
    with pytest.raises(ExecutionError, match=r"'strict'.*wrong shape"):
        sess.run("strict", three)
    with pytest.raises(ExecutionError, match=r"'v_assign'.*lhs shape= \[2\] rhs shape= \[3\]"):
        sess.run("v_assign:0", three)
    sess.run("loose", three)  # validate_shape=false (TF2's default) may change the shape
    assert sess.run("read:0").shape == (3,)
    with pytest.raises(ExecutionError, match=r"'add'.*shapes must be equal"):
        sess.run("add", {"x:0": np.ones(2, np.float32)})
    with pytest.raises(ExecutionError, match=r"'wrong'.*float32.*int32"):
        sess.run("wrong:0")


def test_static_shape_checks_name_the_node():
    text = """
    %w:0 res[] = VarHandleOp() dtype=f32 shape=shape[2]
    %x:0 f32[3] = Const() dtype=f32 value=f32[3]{1, 2, 3}
    %bad = AssignVariableOp(%w:0, %x:0) dtype=f32 validate_shape=true
    """
    with pytest.raises(ValidationError, match="'bad'"):
        _load(text)
    sess = _load(text.replace(" validate_shape=true", ""))
    assert sess.graph.nodes["w"].out_shapes == [()]


def test_empty_shared_name_means_the_node_name():
    sess = _load("""
    %a:0 res[] = VarHandleOp() dtype=f32 shape=shape[]
    %one:0 f32[] = Const() dtype=f32 value=f32[]{1}
    %set = AssignVariableOp(%a:0, %one:0) dtype=f32
    """)
    sess.run("set")
    assert sess.resources.is_initialized(ResourceHandle("", "a"))
    assert not sess.resources.is_initialized(ResourceHandle("", "b"))


def test_ref_variable_sharing_requires_the_same_dtype():
    manager = ResourceManager()
    cell = manager.ref_variable("", "v", DType.FLOAT, (2,))
    assert isinstance(cell, RefVariable)
    assert manager.ref_variable("", "v", DType.FLOAT, (2,)) is cell
    with pytest.raises(ExecutionError, match="'v'.*dtype"):
        manager.ref_variable("", "v", DType.INT32, (2,))


def _run_fixture_step(sess, data, step):
    names = list(step["fetches"])
    outs = sess.run(names + list(step.get("targets", [])),
                    {t: data[k] for t, k in step["feeds"].items()})
    for name, got in zip(names, outs):
        want = data[step["fetches"][name]]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("fixture", ["resource_vars", "frozen"])
def test_tf_fixtures(fixture):
    manifest = json.loads((FIXTURES / "manifest.json").read_text())[fixture]
    data = np.load(FIXTURES / f"{fixture}.npz")
    sess = runtime.load(FIXTURES / f"{fixture}.pb")
    if manifest["targets"]:
        assert sess.run(manifest["targets"]) == [None] * len(manifest["targets"])
    _run_fixture_step(sess, data, manifest)
    for step in manifest.get("sequence", []):
        _run_fixture_step(sess, data, step)
