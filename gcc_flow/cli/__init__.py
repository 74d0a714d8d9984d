"""The ``gcc-flow`` command line: look inside a model, run it on .npy feeds, optimize, convert.

    gcc-flow inspect model.pb [--json] [--graph] [--placement [--devices cpu:0,gpu:0]]
    gcc-flow run model.pb --feed x=x.npy --fetch y:0 [--target init] [-o out.npz [--force]]
                 [--device gpu | --devices cpu:0,cpu:1,gpu:0]
    gcc-flow optimize model.pb -o small.pb [--passes a,b] [--fetch y:0] [--report r.json]
                      [--check N] [--devices cpu:0,gpu:0]
    gcc-flow convert model.pb model.onnx [--opset N] [--optimize] [--check N] [--force]
    gcc-flow convert model.onnx model.pb [--optimize] [--check N] [--force]

One module per command (inspect.py, run.py, optimize.py, convert.py), the shared file checks in
files.py and the device options in devices.py; this module parses the command line and maps
errors to exit codes. Exit codes: 0 success; 2 invalid input (a bad file, graph, feed, device or
command line: every ``GccFlowError``); 1 an internal error (a bug). Errors are one line on
stderr, ``gcc-flow: error: ...``; ``--debug`` adds the traceback. Nothing from argv or a model
is ever evaluated or unpickled, and outputs are written atomically.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from typing import Optional, Sequence

from schema.errors import GccFlowError
from schema.io import read_graph_def  # commands read models through this name (see read_model)

from gcc_flow.cli import convert, inspect, optimize, run
from gcc_flow.cli.convert import cmd_convert
from gcc_flow.cli.files import MAX_MESSAGE, PROG, UsageError
from gcc_flow.cli.inspect import cmd_inspect, format_summary, summarize
from gcc_flow.cli.optimize import cmd_optimize
from gcc_flow.cli.run import cmd_run, describe, load_npy

__all__ = ["main", "build_parser", "summarize", "format_summary", "describe", "load_npy",
           "UsageError", "cmd_inspect", "cmd_run", "cmd_optimize", "cmd_convert",
           "read_graph_def", "PROG"]

COMMANDS = (inspect, run, optimize, convert)  # each has add_parser(subs, common)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so every error is one line (exit 2)."""

    def error(self, message: str):
        raise UsageError(message)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one command; returns the exit code (0 ok, 2 invalid input, 1 internal error).

    main(["inspect", "model.pb"]) -> 0;  main(["inspect", "missing.pb"]) -> 2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        debug = args.debug
        return args.handler(args)
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 130
    except GccFlowError as err:
        return _fail(2, str(err) or type(err).__name__, debug)
    except Exception as err:  # anything else is a bug in gcc-flow, not in the input
        return _fail(1, f"internal error: {type(err).__name__}: {err}", debug)


def _fail(code: int, message: str, debug: bool) -> int:
    """Prints the one-line error (the traceback first with --debug); returns ``code``.

    _fail(2, "no such file: m.pb", False) -> 2, stderr "gcc-flow: error: no such file: m.pb"
    """
    if debug:
        traceback.print_exc()
    line = " ".join(message.split())
    if len(line) > MAX_MESSAGE:
        line = line[:MAX_MESSAGE] + "..."
    if code == 1 and not debug:
        line += " (rerun with --debug for the traceback)"
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; a parsed command's ``handler`` runs it.

    build_parser().parse_args(["inspect", "m.pb"]).handler -> cmd_inspect
    """
    parser = _Parser(prog=PROG, description="Inspect and run TensorFlow-compatible GraphDefs.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks")
    common.add_argument("--allow-unknown", action="store_true",
                        help="keep ops the registry does not declare as opaque nodes")
    common.add_argument("model", help="a GraphDef: .pb (binary) or .pbtxt (text)")
    for command in COMMANDS:
        command.add_parser(subs, common)
    return parser
