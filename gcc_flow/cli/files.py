"""What every ``gcc-flow`` command shares: the usage error, and the checks on files it writes.

    check_written_file(args, "small.pb", (".pb",))   -> Path("small.pb")
    check_written_file(args, "model.pb", ...)        -> UsageError: refusing to overwrite the input
    check_written_file(args, "old.pb", ...)          -> UsageError: ... pass --force to overwrite it
    tagged_path(Path("m.opt.pb"), "CPU_0")           -> Path("m.opt.CPU_0.pb")

An output is never the input (or a link to it), must sit in an existing folder, and replaces an
existing file only with ``--force``; every check runs before the first byte is written, and each
file is written atomically (schema.io.atomic_write: temp file, fsync, rename).
"""
from __future__ import annotations

import argparse
import io
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from schema.errors import GccFlowError
from schema.io import atomic_write

__all__ = ["UsageError", "PROG", "MAX_MESSAGE", "NOT_OUTPUTS", "VARIABLE_OPS", "same_file",
           "check_written_file", "check_npz_output", "check_new_file", "tagged_path",
           "write_npz", "refuse_duplicates", "split_names", "read_model"]

PROG = "gcc-flow"
MAX_MESSAGE = 2000  # an error line never exceeds this (a model may hold 1 MB names)
VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable")
NOT_OUTPUTS = ("Const", "NoOp", "Placeholder") + VARIABLE_OPS


class UsageError(GccFlowError):
    """A bad command line, an unreadable feed file, or an output that may not be written."""


def read_model(path):
    """``schema.io.read_graph_def(path)``, looked up on the ``gcc_flow.cli`` package when called,
    so that replacing ``gcc_flow.cli.read_graph_def`` (as a test does) reaches every command."""
    import gcc_flow.cli as package
    return package.read_graph_def(path)


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are one file (a link counts), or resolve to one path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_new_file(out: Path, inputs: Iterable[str], force: bool) -> Path:
    """Refuses ``out`` when it is one of ``inputs``, is not a file in an existing folder, or
    exists without ``force``."""
    for source in inputs:
        if same_file(out, Path(source)):
            raise UsageError(f"refusing to overwrite the input {source} with the output {out}")
    if out.is_dir() or not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: not a file in an existing folder")
    if (out.exists() or out.is_symlink()) and not force:
        raise UsageError(f"output {out} already exists; pass --force to overwrite it")
    return out


def check_written_file(args: argparse.Namespace, name: str, suffixes: tuple) -> Path:
    """Refuses an output that is the model, has a wrong extension, or exists without --force."""
    out = Path(name)
    if same_file(out, Path(args.model)):
        raise UsageError(f"refusing to overwrite the input {args.model} with the output {out}")
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"output {out} must end in one of {', '.join(suffixes)}")
    return check_new_file(out, [args.model], args.force)


def check_npz_output(args: argparse.Namespace) -> Path:
    """Refuses an output that is not .npz, is the model or a feed, or exists without --force."""
    out = Path(args.output)
    inputs = [args.model] + [spec.partition("=")[2] for spec in args.feed]
    for source in inputs:
        if same_file(out, Path(source)):
            raise UsageError(f"refusing to overwrite the input {source} with the output {out}")
    if out.suffix.lower() != ".npz":
        raise UsageError(f"output {out} must end in .npz")
    if out.is_dir():
        raise UsageError(f"output {out} is a directory")
    if not out.parent.is_dir():
        raise UsageError(f"output folder {out.parent} does not exist")
    if (out.exists() or out.is_symlink()) and not args.force:
        raise UsageError(f"output {out} already exists; pass --force to overwrite it")
    return out


def tagged_path(out: Path, tag: str) -> Path:
    """``out`` with ``.tag`` before its extension: m.opt.pb, "CPU_0" -> m.opt.CPU_0.pb."""
    return out.with_name(f"{out.stem}.{tag}{out.suffix}")


def write_npz(path: Path, items: list) -> None:
    """Saves (name, array) pairs as one .npz, atomically; object arrays become bytes."""
    arrays = {name: _savable(value) for name, value in items}
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    atomic_write(path, buffer.getvalue())


def _savable(value) -> np.ndarray:
    arr = np.asarray(value)
    return arr.astype(np.bytes_) if arr.dtype == object else arr


def refuse_duplicates(names: Sequence[str], flag: str) -> None:
    """UsageError naming the first value given more than once: ["y", "y"] -> "--fetch 'y' ..."."""
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    if dupes:
        raise UsageError(f"{flag} {dupes[0]!r} is given more than once")


def split_names(text: Optional[str]) -> Optional[list]:
    """"a, b,,c" -> ["a", "b", "c"]; None or "" -> None."""
    return [n.strip() for n in text.split(",") if n.strip()] if text else None
