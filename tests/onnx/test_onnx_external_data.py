"""External data attacks (BAD_INPUTS.md section E): each is refused with a clear error, and no
file outside the model folder is opened (checked twice: the inodes of every os.open, and the
access time of a canary file next to the folder, which also catches reads from C++)."""
from __future__ import annotations

import contextlib
import hashlib
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gcc_flow.onnx import OnnxImportError, import_graph
from runtime.session import Session
from schema.limits import Limits

VALUES = np.arange(4, dtype=np.float32)


@pytest.fixture
def folder(tmp_path):
    """tmp/model/ (the model folder, with data.bin) and tmp/secret.bin (the canary)."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "data.bin").write_bytes(b"\0" * 8 + VALUES.tobytes())
    secret = tmp_path / "secret.bin"
    secret.write_bytes(VALUES.tobytes())
    return model_dir, secret


def _external(name: str, entries: dict, dims=(4,), elem=TensorProto.FLOAT) -> TensorProto:
    tensor = TensorProto(name=name, data_type=elem, dims=list(dims))
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _model(tensor: TensorProto = None, nodes=(), extra=None) -> onnx.ModelProto:
    nodes = list(nodes) or [helper.make_node("Identity", ["w"], ["y"])]
    graph = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info("y", 1, [4])],
                              initializer=[tensor] if tensor is not None else [])
    if extra:
        extra(graph)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _entries(location: str, offset="8", length="16", **more) -> dict:
    out = {"location": location}
    if offset is not None:
        out["offset"] = offset
    if length is not None:
        out["length"] = length
    out.update(more)
    return out


@contextlib.contextmanager
def nothing_outside_opened(monkeypatch, secret):
    """Fails if the canary's inode is opened through os.open or its atime changes."""
    real_open = os.open
    opened = set()

    def spy(path, flags, mode=0o777, *, dir_fd=None):
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        info = os.fstat(fd)
        opened.add((info.st_dev, info.st_ino))
        return fd
    monkeypatch.setattr(os, "open", spy)
    info = os.stat(secret)
    os.utime(secret, (1_000_000, info.st_mtime))  # relatime updates an atime older than mtime
    yield
    monkeypatch.setattr(os, "open", real_open)
    assert (info.st_dev, info.st_ino) not in opened, "the canary outside the folder was opened"
    assert os.stat(secret).st_atime == 1_000_000, "the canary outside the folder was read"


def _refused(monkeypatch, secret, model, base_dir, match: str):
    with nothing_outside_opened(monkeypatch, secret):
        with pytest.raises(OnnxImportError, match=match):
            import_graph(model, base_dir=str(base_dir))


def _run(result) -> np.ndarray:
    return Session(result.graph.ir).run(result.outputs[0][1])


# -- the happy path ----------------------------------------------------------------------------

def test_valid_external_data_is_read_with_offset_and_length(folder):
    model_dir, _ = folder
    model = _model(_external("w", _entries("data.bin")))
    np.testing.assert_array_equal(_run(import_graph(model, base_dir=str(model_dir))), VALUES)
    assert model.graph.initializer[0].data_location == TensorProto.EXTERNAL  # input untouched


def test_model_path_gives_the_folder(folder):
    model_dir, _ = folder
    path = model_dir / "m.onnx"
    path.write_bytes(_model(_external("w", _entries("./data.bin"))).SerializeToString())
    np.testing.assert_array_equal(_run(import_graph(str(path))), VALUES)


def test_checksum_is_verified(folder, monkeypatch):
    model_dir, secret = folder
    good = hashlib.sha1(VALUES.tobytes()).hexdigest()
    model = _model(_external("w", _entries("data.bin", checksum=good)))
    np.testing.assert_array_equal(_run(import_graph(model, base_dir=str(model_dir))), VALUES)
    bad = _model(_external("w", _entries("data.bin", checksum="0" * 40)))
    _refused(monkeypatch, secret, bad, model_dir, "checksum mismatch")


def test_bytes_without_base_dir_are_refused(folder, monkeypatch):
    _, secret = folder
    data = _model(_external("w", _entries("data.bin"))).SerializeToString()
    with nothing_outside_opened(monkeypatch, secret):
        with pytest.raises(OnnxImportError, match="no folder: pass base_dir="):
            import_graph(data)


# -- locations -----------------------------------------------------------------------------------

@pytest.mark.parametrize("location, match", [
    ("../secret.bin", "contains '..'"),
    ("sub/../../secret.bin", "contains '..'"),
    ("..", "contains '..'"),
    ("sub\\..\\..\\secret.bin", "backslash"),
    ("data.bin\x00", "NUL"),
    ("C:secret.bin", "absolute"),
    ("", "without a location"),
    ("/", "absolute"),
    ("./.", "names no file"),
])
def test_bad_locations(folder, monkeypatch, location, match):
    model_dir, secret = folder
    model = _model(_external("w", _entries(location, offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, match)


def test_absolute_path(folder, monkeypatch):
    model_dir, secret = folder
    model = _model(_external("w", _entries(str(secret), offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "absolute path")


def test_symlink_final_component_outside(folder, monkeypatch):
    model_dir, secret = folder
    os.symlink(secret, model_dir / "link.bin")
    model = _model(_external("w", _entries("link.bin", offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "resolves outside the model folder")


def test_symlink_final_component_inside_is_refused_too(folder, monkeypatch):
    model_dir, secret = folder
    os.symlink(model_dir / "data.bin", model_dir / "link.bin")
    model = _model(_external("w", _entries("link.bin")))
    _refused(monkeypatch, secret, model, model_dir, "symbolic link")


def test_symlink_parent_component(folder, monkeypatch):
    model_dir, secret = folder
    os.symlink(secret.parent, model_dir / "up")
    model = _model(_external("w", _entries("up/secret.bin", offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "resolves outside the model folder")


def test_symlink_parent_inside_is_refused_too(folder, monkeypatch):
    model_dir, secret = folder
    (model_dir / "real").mkdir()
    (model_dir / "real" / "d.bin").write_bytes(VALUES.tobytes())
    os.symlink(model_dir / "real", model_dir / "alias")
    model = _model(_external("w", _entries("alias/d.bin", offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "symbolic link")


def test_sibling_prefix_escape(tmp_path, monkeypatch):
    """model_evil/ starts with the string "model" but is not inside model/."""
    model_dir, evil = tmp_path / "model", tmp_path / "model_evil"
    model_dir.mkdir()
    evil.mkdir()
    secret = evil / "x.bin"
    secret.write_bytes(VALUES.tobytes())
    os.symlink(evil, model_dir / "e")
    model = _model(_external("w", _entries("e/x.bin", offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "resolves outside the model folder")


def test_hardlink_is_refused(folder, monkeypatch):
    model_dir, secret = folder
    os.link(secret, model_dir / "hard.bin")
    model = _model(_external("w", _entries("hard.bin", offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "hard links")


def test_directory_is_refused(folder, monkeypatch):
    model_dir, secret = folder
    (model_dir / "sub").mkdir()
    model = _model(_external("w", _entries("sub", offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "is a directory")


def test_fifo_is_refused_without_hanging(folder, monkeypatch):
    model_dir, secret = folder
    os.mkfifo(model_dir / "pipe")
    model = _model(_external("w", _entries("pipe", offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "not a regular file")


def test_device_is_refused(folder, monkeypatch):
    model_dir, secret = folder
    try:
        os.mknod(model_dir / "null", 0o600 | 0o020000, os.makedev(1, 3))  # char device
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here")
    model = _model(_external("w", _entries("null", offset=None, length=None)))
    _refused(monkeypatch, secret, model, model_dir, "not a regular file")


def test_missing_file(folder, monkeypatch):
    model_dir, secret = folder
    model = _model(_external("w", _entries("nope.bin")))
    _refused(monkeypatch, secret, model, model_dir, "No such file")
