"""gf.train.Saver: the graph it builds, save/restore round trips, max_to_keep, the state file,
and restoring a saved GraphDef with the runtime alone."""
from __future__ import annotations

import os

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from gcc_flow.train.saver import get_checkpoint_state, write_checkpoint_state
from runtime.checkpoint import CheckpointError, CheckpointNotFoundError
from schema.errors import ExecutionError


def _model():
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
        b = gf.Variable(np.array([1, 2], np.int64), name="b", use_resource=False)
        words = gf.Variable(np.array([b"x", b"\xff"], dtype=object), name="words")
        step = gf.Variable(0, name="global_step", trainable=False)
        bump = [w.assign_add(np.ones((2, 3), np.float32)), step.assign_add(1)]
        saver = gf.train.Saver(max_to_keep=2)
        init = gf.global_variables_initializer()
    return g, saver, init, bump, (w, b, words, step)


def test_saver_builds_tensorflow_style_nodes():
    g, saver, *_ = _model()
    nodes = {n.name: n for n in g.as_graph_def().node if n.name.startswith("save/")}
    assert nodes["save/Const"].op == "PlaceholderWithDefault"
    assert list(nodes["save/SaveV2"].input) == [
        "save/Const", "save/SaveV2/tensor_names", "save/SaveV2/shape_and_slices",
        "b", "global_step/Read/ReadVariableOp", "w/Read/ReadVariableOp",
        "words/Read/ReadVariableOp"]
    assert nodes["save/Assign"].op == "Assign" and list(nodes["save/Assign"].input) == \
        ["b", "save/RestoreV2"]
    assert sorted(nodes["save/restore_all"].input) == [
        "^save/Assign", "^save/AssignVariableOp", "^save/AssignVariableOp_1",
        "^save/AssignVariableOp_2"]
    assert (saver.filename_tensor_name, saver.save_tensor_name, saver.restore_op_name) == \
        ("save/Const:0", "save/control_dependency:0", "save/restore_all")


def test_round_trip_into_a_new_session(tmp_path):
    g, saver, init, bump, variables = _model()
    sess = gf.Session(g)
    sess.run(init)
    sess.run(bump)
    expected = sess.run(list(variables))
    path = saver.save(sess, str(tmp_path / "model"), global_step=variables[3])
    assert path == str(tmp_path / "model-1")
    fresh = gf.Session(g)
    saver.restore(fresh, path)
    for got, want in zip(fresh.run(list(variables)), expected):
        assert got.dtype == want.dtype and got.tolist() == want.tolist()


def test_restore_with_the_runtime_alone(tmp_path):
    g, saver, init, bump, _ = _model()
    sess = gf.Session(g)
    sess.run(init)
    sess.run(bump)
    path = saver.save(sess, str(tmp_path / "ckpt" / "model"))
    pb = gf.io.write_graph(g, str(tmp_path / "model.pb"))
    deployed = runtime.load(pb)
    deployed.run("save/restore_all", {"save/Const:0": path})
    w, b = deployed.run(["w/Read/ReadVariableOp:0", "b:0"])
    assert w.tolist() == (np.arange(6).reshape(2, 3) + 1).tolist() and b.tolist() == [1, 2]


def test_max_to_keep_and_the_state_file(tmp_path):
    g, saver, init, bump, variables = _model()
    sess = gf.Session(g)
    sess.run(init)
    paths = []
    for _ in range(4):
        sess.run(bump)
        paths.append(saver.save(sess, str(tmp_path / "model"), global_step=variables[3]))
    assert [os.path.exists(p + ".index") for p in paths] == [False, False, True, True]
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith("model-4")
                  and not n.startswith("model-3")) == ["checkpoint"]
    assert gf.train.latest_checkpoint(str(tmp_path)) == paths[-1]
    state = (tmp_path / "checkpoint").read_text()
    assert state == ('model_checkpoint_path: "model-4"\n'
                     'all_model_checkpoint_paths: "model-3"\n'
                     'all_model_checkpoint_paths: "model-4"\n')
    assert saver.last_checkpoints == paths[2:]
    fresh = gf.Session(g)
    saver.restore(fresh, gf.train.latest_checkpoint(str(tmp_path)))
    assert fresh.run(variables[3]) == 4


def test_saving_the_same_path_again_and_keep_all(tmp_path):
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable([1.0, 2.0], name="v")
        saver = gf.train.Saver(max_to_keep=None)
        init = gf.global_variables_initializer()
    sess = gf.Session(g)
    sess.run(init)
    for step in (1, 2, 1):
        saver.save(sess, str(tmp_path / "m"), global_step=step)
    assert saver.last_checkpoints == [str(tmp_path / "m-2"), str(tmp_path / "m-1")]
    assert os.path.exists(tmp_path / "m-2.index")  # None keeps every file
    assert get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths == \
        [str(tmp_path / "m-1")]
    assert gf.train.list_variables(str(tmp_path)) == [("v", [2])]
    assert gf.train.load_variable(str(tmp_path / "m-2"), "v").tolist() == [1.0, 2.0]


def test_restore_refuses_missing_and_mismatched_checkpoints(tmp_path):
    g, saver, init, _, _ = _model()
    sess = gf.Session(g)
    with pytest.raises(CheckpointNotFoundError, match="not a valid checkpoint"):
        saver.restore(sess, str(tmp_path / "nothing"))
    with g.as_default():
        other = gf.Variable(np.zeros(4, np.float32), name="w_other")
        partial = gf.train.Saver({"w": other})
    sess.run(init)
    path = saver.save(sess, str(tmp_path / "m"))
    with pytest.raises(ExecutionError, match="wrong shape"):
        partial.restore(sess, path)
    assert gf.train.latest_checkpoint(str(tmp_path / "empty")) is None


def test_var_list_errors():
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable(1.0, name="v")
        with pytest.raises(ValueError, match="two variables under one name"):
            gf.train.Saver([v, v])
        with pytest.raises(TypeError, match="give gf.Variables"):
            gf.train.Saver([gf.constant(1.0)])
    with gf.Graph().as_default():
        with pytest.raises(ValueError, match="No variables to save"):
            gf.train.Saver()
        assert gf.train.Saver(allow_empty=True).save(None, "unused") is None


def test_state_file_escapes_and_reads_back(tmp_path):
    odd = str(tmp_path / 'we"ird\\name-\u00e9')
    write_checkpoint_state(str(tmp_path), odd, [odd])
    assert '\\"' in (tmp_path / "checkpoint").read_text()
    state = get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == odd and state.all_model_checkpoint_paths == [odd]
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "a"\n'
                                         'all_model_checkpoint_timestamps: 1.5e9\n')
    assert get_checkpoint_state(str(tmp_path)).model_checkpoint_path == str(tmp_path / "a")
    (tmp_path / "checkpoint").write_text("model_checkpoint_path: {nested}\n")
    with pytest.raises(CheckpointError, match="not a checkpoint state line"):
        get_checkpoint_state(str(tmp_path))
