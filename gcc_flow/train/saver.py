"""``gf.train.Saver``: checkpoints as TensorFlow 1.x builds them, in the graph.

    saver = gf.train.Saver(max_to_keep=2)      # save/Const (the file name), save/SaveV2,
                                                # save/RestoreV2, save/Assign..., save/restore_all
    path = saver.save(sess, "ckpt/model", global_step=100)     -> "ckpt/model-100"
    saver.restore(sess2, gf.train.latest_checkpoint("ckpt"))

Because save and restore are graph ops, a GraphDef written after building the Saver restores with
the runtime alone: ``runtime.load(pb).run("save/restore_all", {"save/Const:0": path})``.
Variables are saved under their op names, sorted, as TensorFlow does. The file format is gcc-flow's
own (docs/CHECKPOINTS.md); the ``checkpoint`` state file is TensorFlow's text CheckpointState.
Each save rewrites the state file atomically, then deletes the checkpoints beyond max_to_keep.
"""
from __future__ import annotations

import collections
import os
import re
from typing import Optional, Sequence

from gcc_flow.constant_op import constant
from gcc_flow.framework import Operation, Tensor, apply_op, get_default_graph
from gcc_flow.variables import RefVariable, Variable, global_variables
from runtime.checkpoint import (
    MAX_INDEX_BYTES, CheckpointError, CheckpointNotFoundError, atomic_file, checkpoint_exists,
    delete_checkpoint, read_index, read_tensors,
)
from schema.dtypes import DType

__all__ = ["Saver", "latest_checkpoint", "checkpoint_exists", "get_checkpoint_state",
           "list_variables", "load_variable", "CheckpointState"]

STATE_FILE = "checkpoint"


def _named_variables(var_list) -> list[tuple[str, Variable]]:
    """(checkpoint name, variable) pairs sorted by name: a dict as given, a list by op name."""
    if var_list is None:
        var_list = global_variables()
    pairs = list(var_list.items()) if isinstance(var_list, dict) else \
        [(getattr(v, "op", None) and v.op.name, v) for v in var_list]
    for name, var in pairs:
        if not isinstance(var, Variable):
            raise TypeError(f"Saver var_list holds a {type(var).__name__}; give gf.Variables")
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"Saver var_list saves two variables under one name: {sorted(names)}")
    return sorted(pairs, key=lambda p: p[0])


def _saved_tensor(var: Variable) -> Tensor:
    return var._ref_tensor() if isinstance(var, RefVariable) else var._as_graph_element()


def _restore_op(var: Variable, value: Tensor) -> Operation:
    if isinstance(var, RefVariable):
        return apply_op("Assign", [var, value], {"validate_shape": True, "use_locking": True},
                        name="Assign").op
    value = apply_op("Identity", [value], name="Identity")
    return apply_op("AssignVariableOp", [var.handle, value],
                    {"dtype": var.dtype, "validate_shape": True}, name="AssignVariableOp")


class Saver:
    """Saves and restores variables: ``Saver(var_list=None, max_to_keep=5)``.

    max_to_keep None or 0 keeps every checkpoint file (the state file lists the newest only).
    """

    def __init__(self, var_list=None, max_to_keep: Optional[int] = 5, name: Optional[str] = None,
                 allow_empty: bool = False, filename: Optional[str] = None,
                 pad_step_number: bool = False):
        self._pairs = _named_variables(var_list)
        if not self._pairs and not allow_empty:
            raise ValueError("No variables to save")
        self._max_to_keep = max_to_keep
        self._pad = bool(pad_step_number)
        self._last_checkpoints: list[str] = []
        self._graph = self._pairs[0][1].graph if self._pairs else get_default_graph()
        if self._pairs:
            with self._graph.as_default(), self._graph.control_dependencies(None), \
                    self._graph.name_scope(name or "save"):
                self._build(filename or "model")

    def _build(self, filename: str) -> None:
        names = [n for n, _ in self._pairs]
        slices = [""] * len(names)
        default = constant(filename, DType.STRING, name="filename/input")
        fed = apply_op("PlaceholderWithDefault", [default], {"shape": ()}, name="filename")
        self._filename = apply_op("PlaceholderWithDefault", [fed], {"shape": ()}, name="Const")
        save = apply_op("SaveV2", [self._filename,
                                   constant(names, DType.STRING, name="SaveV2/tensor_names"),
                                   constant(slices, DType.STRING,
                                            name="SaveV2/shape_and_slices"),
                                   [_saved_tensor(v) for _, v in self._pairs]], name="SaveV2")
        self._save = apply_op("Identity", [self._filename], name="control_dependency",
                              control_inputs=[save])
        restored = apply_op(
            "RestoreV2", [self._filename,
                          constant(names, DType.STRING, name="RestoreV2/tensor_names"),
                          constant(slices, DType.STRING, name="RestoreV2/shape_and_slices")],
            {"dtypes": [v.dtype for _, v in self._pairs]}, name="RestoreV2")
        assigns = [_restore_op(v, t) for (_, v), t in zip(self._pairs, restored)]
        self._restore = apply_op("NoOp", [], name="restore_all", control_inputs=assigns)

    # TensorFlow's SaverDef fields
    filename_tensor_name = property(lambda self: self._filename.name)
    save_tensor_name = property(lambda self: self._save.name)
    restore_op_name = property(lambda self: self._restore.name)
    last_checkpoints = property(lambda self: list(self._last_checkpoints))

    def save(self, sess, save_path, global_step=None, latest_filename: Optional[str] = None,
             write_state: bool = True) -> Optional[str]:
        """Writes a checkpoint; returns its prefix ("<save_path>-<global_step>")."""
        if not self._pairs:
            return None
        path = os.fspath(save_path)
        if global_step is not None:
            step = int(sess.run(global_step)) if isinstance(global_step, (Tensor, Variable)) \
                else int(global_step)
            path = f"{path}-{step:08d}" if self._pad else f"{path}-{step}"
        sess.run(self._save, {self._filename: path})
        if write_state:
            self._record(path, latest_filename or STATE_FILE)
        return path

    def _record(self, path: str, state_name: str) -> None:
        if path in self._last_checkpoints:
            self._last_checkpoints.remove(path)
        self._last_checkpoints.append(path)
        dropped: list[str] = []
        listed = [path]
        if self._max_to_keep:
            dropped = self._last_checkpoints[:-self._max_to_keep]
            self._last_checkpoints = listed = self._last_checkpoints[-self._max_to_keep:]
        write_checkpoint_state(os.path.dirname(path) or ".", path, listed, state_name)
        for old in dropped:  # after the state file stops naming them
            delete_checkpoint(old)

    def restore(self, sess, save_path) -> None:
        """Assigns every variable its value from checkpoint ``save_path``."""
        if not self._pairs:
            return
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        if not checkpoint_exists(save_path):
            raise CheckpointNotFoundError(f"The passed save_path is not a valid checkpoint: "
                                          f"{save_path}")
        sess.run(self._restore, {self._filename: os.fspath(save_path)})


# -- checkpoint files ----------------------------------------------------------------------------

CheckpointState = collections.namedtuple(
    "CheckpointState", ["model_checkpoint_path", "all_model_checkpoint_paths"])


def latest_checkpoint(checkpoint_dir, latest_filename: Optional[str] = None) -> Optional[str]:
    """The newest checkpoint's prefix named by the state file, if its index exists; else None.

    latest_checkpoint("ckpt") -> "ckpt/model-100"
    """
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not checkpoint_exists(state.model_checkpoint_path):
        return None
    return state.model_checkpoint_path


def _prefix_of(ckpt) -> str:
    """A checkpoint prefix, or a folder resolved to its latest checkpoint."""
    ckpt = os.fspath(ckpt)
    if os.path.isdir(ckpt):
        latest = latest_checkpoint(ckpt)
        if latest is None:
            raise CheckpointNotFoundError(f"no checkpoint in folder {ckpt}")
        return latest
    return ckpt


def list_variables(ckpt_dir_or_file) -> list[tuple[str, list]]:
    """[(name, shape)] of every tensor in a checkpoint, sorted by name."""
    _, _, entries = read_index(_prefix_of(ckpt_dir_or_file))
    return sorted((name, list(e.shape)) for name, e in entries.items())


def load_variable(ckpt_dir_or_file, name: str):
    """One tensor's value from a checkpoint (checked like a restore)."""
    return read_tensors(_prefix_of(ckpt_dir_or_file), [(name, None)])[0]


# -- the "checkpoint" state file: TensorFlow's CheckpointState in text form ---------------------

_STATE_LINE = re.compile(r'\s*(\w+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|[-+.\w]+)\s*')


def write_checkpoint_state(directory: str, latest: str, all_paths: Sequence[str],
                           filename: str = STATE_FILE) -> None:
    """Writes the state file atomically; paths inside ``directory`` are written relative.

    ("ckpt", "ckpt/m-2", ["ckpt/m-1", "ckpt/m-2"]) -> ckpt/checkpoint:
        model_checkpoint_path: "m-2"
        all_model_checkpoint_paths: "m-1"
        all_model_checkpoint_paths: "m-2"
    """
    lines = [f'model_checkpoint_path: "{_escape(_relative(directory, latest))}"']
    lines += [f'all_model_checkpoint_paths: "{_escape(_relative(directory, p))}"'
              for p in all_paths]
    with atomic_file(os.path.join(directory, filename)) as handle:
        handle.write(("\n".join(lines) + "\n").encode("utf-8"))


def get_checkpoint_state(checkpoint_dir, latest_filename: Optional[str] = None):
    """The CheckpointState of a folder (relative paths joined to it), or None without one."""
    directory = os.fspath(checkpoint_dir)
    path = os.path.join(directory, latest_filename or STATE_FILE)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_INDEX_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    latest, paths = None, []
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        match = _STATE_LINE.fullmatch(line)
        if (match is None and line.strip()) or len(raw) > MAX_INDEX_BYTES:
            raise CheckpointError(f"{path}:{number}: not a checkpoint state line: {line[:80]!r}")
        if match is None or match.group(2) is None:
            continue  # a blank line, or a number field (timestamps)
        value = _absolute(directory, _unescape(match.group(2)))
        if match.group(1) == "model_checkpoint_path":
            latest = value
        elif match.group(1) == "all_model_checkpoint_paths":
            paths.append(value)
    return None if latest is None else CheckpointState(latest, paths)


def _relative(directory: str, path: str) -> str:
    same = os.path.abspath(os.path.dirname(path) or ".") == os.path.abspath(directory)
    return os.path.basename(path) if same else path


def _absolute(directory: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(directory, path)


def _escape(text: str) -> str:
    """C escapes as protobuf's text format writes them: quote, backslash, other bytes octal."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        out.append("\\" + char if char in '"\\' else char if 32 <= byte < 127 else
                   f"\\{byte:03o}")
    return "".join(out)


_ESCAPES = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b'"': b'"', b"'": b"'", b"\\": b"\\"}


def _unescape(text: str) -> str:
    def one(match: re.Match) -> bytes:
        code = match.group(1)
        if code[:1] in b"01234567":
            return bytes([int(code, 8) & 0xFF])
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        return _ESCAPES.get(code, code)
    raw = re.sub(rb"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", one, text.encode("utf-8"))
    return raw.decode("utf-8", "surrogateescape")
