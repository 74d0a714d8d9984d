"""Runs onnx's own backend node tests against gcc-flow's backend and classifies each outcome.

    cases = node_cases()                       # {"test_abs_cpu": bound test method, ...}
    outcome = run_case(cases["test_abs_cpu"])  # Outcome(kind="pass", message="")

Kinds: "pass"; "unsupported" (a NotSupported error: "not supported: <op> <reason>");
"failed" (wrong values: AssertionError from onnx's comparison, or its TypeError when it
cannot compare the values at all); "error" (another gcc-flow error: GccFlowError); "crash"
(any other exception type: always a bug); "skipped".
Used by test_node_suite.py (pytest) and count.py (the pass count and the ops not covered).
"""
from __future__ import annotations

import dataclasses
import json
import os
import unittest
import warnings
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDED = os.path.join(HERE, "recorded_count.json")
KNOWN_FAILURES = os.path.join(HERE, "known_failures.txt")


@dataclasses.dataclass
class Outcome:
    kind: str
    message: str = ""


def node_cases() -> dict[str, Callable[[], None]]:
    """Every node test of onnx's suite on CPU, by name, as a zero-argument callable."""
    from onnx.backend.test import BackendTest

    from gcc_flow.onnx.backend import GccFlowBackend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the case generators overflow casts on purpose
        runner = BackendTest(GccFlowBackend, __name__)
        runner.include(r"^test_.*_cpu$")
        case_class = runner.test_cases["OnnxBackendNodeModelTest"]
    names = sorted(n for n in dir(case_class) if n.startswith("test_") and n.endswith("_cpu"))
    return {name: _bound(case_class, name) for name in names}


def _bound(case_class, name: str) -> Callable[[], None]:
    def call() -> None:
        getattr(case_class(name), name)()
    return call


def run_case(call: Callable[[], None]) -> Outcome:
    from gcc_flow.onnx.context import NotSupported
    from schema.errors import GccFlowError
    try:
        with warnings.catch_warnings(), _quiet_numpy():
            warnings.simplefilter("ignore")
            call()
    except unittest.SkipTest as err:
        return Outcome("skipped", str(err))
    except NotSupported as err:
        return Outcome("unsupported", _first_line(err))
    except AssertionError as err:
        return Outcome("failed", _first_line(err) or "values differ")
    except GccFlowError as err:
        return Outcome("error", f"{type(err).__name__}: {_first_line(err)}")
    except TypeError as err:
        if _COMPARATOR_FAILURE in str(err):  # onnx's comparison itself gave up on the values
            return Outcome("failed", _first_line(err))
        return Outcome("crash", f"{type(err).__name__}: {_first_line(err)}")
    except Exception as err:  # noqa: BLE001 - classifying is the point
        return Outcome("crash", f"{type(err).__name__}: {_first_line(err)}")
    return Outcome("pass")


# onnx's assert_similar_outputs recurses into sequences and calls len() on their tensors: a
# 0-d tensor in a sequence raises this TypeError whatever the backend returns.
_COMPARATOR_FAILURE = "Unable to compare expected type"


def _quiet_numpy():
    import numpy as np
    return np.errstate(all="ignore")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[:3])[:400]


def known_failures() -> dict[str, str]:
    """test name -> reason, from known_failures.txt ("name  # reason" per line)."""
    out: dict[str, str] = {}
    with open(KNOWN_FAILURES, encoding="utf-8") as f:
        for line in f:
            name, _, reason = line.partition("#")
            if name.strip():
                out[name.strip()] = reason.strip()
    return out


def recorded_count() -> int:
    with open(RECORDED, encoding="utf-8") as f:
        return int(json.load(f)["passed"])


def case_ops(name: str) -> list[str]:
    """The op types of a node test's model (for coverage reports)."""
    from onnx.backend.test.loader import load_node_model_tests
    global _OPS
    if _OPS is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _OPS = {f"{c.name}_cpu": sorted({n.op_type for n in c.model.graph.node})
                    for c in load_node_model_tests()}
    return _OPS.get(name, [])


_OPS = None
