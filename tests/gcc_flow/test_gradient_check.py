"""Finite-difference check of every registered gradient function.

For each op type in the gradient registry, each case (tests/gcc_flow/gradient_cases*.py) builds
a small graph using the op on random inputs; the symbolic gradient of a random projection
<proj, outputs> must equal its central differences, element by element.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import gcc_flow as gf
import gradient_cases
import gradient_cases_array  # noqa: F401  (the cases of each family register themselves)
import gradient_cases_backprop  # noqa: F401
import gradient_cases_control_flow  # noqa: F401
import gradient_cases_nn  # noqa: F401
from gcc_flow.gradients import gradient_registry

CASES = gradient_cases.CASES


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _projection(sess, outputs, feeds, rng) -> list[np.ndarray]:
    values = sess.run(outputs, feeds)
    return [rng.standard_normal(np.shape(v)).astype(v.dtype) for v in values]


def _objective(sess, outputs, feeds, proj) -> float:
    values = sess.run(outputs, feeds)
    return float(sum(np.sum(np.asarray(v, np.float64) * p) for v, p in zip(values, proj)))


def _numeric_gradient(sess, outputs, feeds, proj, item, eps: float) -> np.ndarray:
    """Central differences, with the step actually taken after rounding to the input dtype."""
    base = item.value
    out = np.zeros(base.shape, np.float64)
    for index in np.ndindex(base.shape):
        values = []
        for sign in (1, -1):
            moved = base.astype(np.float64)
            moved[index] += sign * eps
            moved = moved.astype(base.dtype)
            values.append((_objective(sess, outputs, {**feeds, item.tensor: moved}, proj),
                           float(moved[index])))
        (f_plus, x_plus), (f_minus, x_minus) = values
        out[index] = (f_plus - f_minus) / (x_plus - x_minus)
    return out


def check_gradients(build, op_type: str, rng) -> None:
    graph = gf.Graph()
    with graph.as_default():
        case = build(rng)
        assert op_type in {op.type for op in graph.get_operations()}, \
            f"the case {build.__name__} builds no {op_type} op"
        outputs = _as_list(case.outputs)
        feeds = {item.tensor: item.value for item in case.inputs}
        sess = gf.Session(graph)
        proj = _projection(sess, outputs, feeds, rng)
        grad_ys = [gf.constant(p) for p in proj]
        symbolic = gf.gradients(outputs, [item.wrt for item in case.inputs], grad_ys=grad_ys)
        assert all(g is not None for g in symbolic), f"{op_type}: a gradient is None"
        computed = sess.run(symbolic, feeds)
    for item, got in zip(case.inputs, computed):
        assert got.shape == item.value.shape
        expected = _numeric_gradient(sess, outputs, feeds, proj, item, case.eps)
        np.testing.assert_allclose(got, expected, rtol=case.rtol, atol=case.atol,
                                   err_msg=f"{op_type} ({build.__name__}), input "
                                           f"{item.tensor.name}")


def _params():
    for op_type in sorted(gradient_registry()):
        builders = CASES.get(op_type) or [None]
        for i, build in enumerate(builders):
            yield pytest.param(op_type, build, id=f"{op_type}-{i}")


@pytest.mark.parametrize("op_type, build", list(_params()))
def test_gradient_matches_finite_differences(op_type, build, rng):
    if build is None:
        pytest.fail(f"no gradient-check case for op type {op_type}: add one to "
                    f"tests/gcc_flow/gradient_cases*.py")
    check_gradients(build, op_type, rng)


def test_every_registered_gradient_has_a_check_case():
    missing = sorted(set(gradient_registry()) - set(CASES))
    assert not missing, f"gradient functions without a check case: {missing}"


def test_cases_only_name_ops_with_gradients():
    """A case for an op type without a registered gradient is a typo or a stale entry."""
    stale = sorted(set(CASES) - set(gradient_registry()))
    assert not stale, f"check cases for op types with no gradient: {stale}"


def test_check_catches_a_wrong_gradient(rng):
    """The checker itself: a deliberately wrong gradient (2x) must fail the comparison."""
    registry = sys.modules["gcc_flow.gradients"]   # gf.gradients is the function
    saved = registry._GRADIENTS["Sin"]
    registry._GRADIENTS["Sin"] = lambda op, grad: gf.multiply(saved(op, grad), 2.0)
    try:
        with pytest.raises(AssertionError):
            check_gradients(CASES["Sin"][0], "Sin", rng)
    finally:
        registry._GRADIENTS["Sin"] = saved
