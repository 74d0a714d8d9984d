"""Optimizer kernels (Apply* on reference variables, ResourceApply* on resource variables)
against the update formulas written out by hand in numpy, over several steps with fresh
gradients, plus their shape, dtype and initialization errors."""
from __future__ import annotations

import numpy as np
import pytest

import runtime
from schema.dtypes import DType
from schema.errors import ExecutionError, UninitializedVariableError, ValidationError
from schema.ir import Graph
from schema.ops.training import OPTIMIZER_OPS

SHAPE = (2, 3)


def _const(g: Graph, name: str, value):
    arr = np.asarray(value)
    return g.add_node("Const", name, attrs={"value": arr, "dtype": DType.from_numpy(arr.dtype)}
                      ).output(0)


def _build(name: str, resource: bool, state: dict, scalars: dict, dtype=DType.FLOAT,
           grad_shape=SHAPE, **attrs) -> Graph:
    """Variables named after the op's state inputs (initialized by "init_<s>"), scalar Consts,
    a "grad" placeholder, the update node "apply" and reads "read_<s>"."""
    sig = OPTIMIZER_OPS[name]
    g = Graph()
    refs = {}
    for s in sig.state:
        value = _const(g, f"{s}_value", np.asarray(state[s], dtype.np))
        if resource:
            var = g.add_node("VarHandleOp", s, attrs={"dtype": dtype, "shape": SHAPE,
                                                      "shared_name": s}).output(0)
            g.add_node("AssignVariableOp", f"init_{s}", [var, value], {"dtype": dtype})
            g.add_node("ReadVariableOp", f"read_{s}", [var], {"dtype": dtype})
        else:
            var = g.add_node("VariableV2", s, attrs={"dtype": dtype, "shape": SHAPE}).output(0)
            g.add_node("Assign", f"init_{s}", [var, value], {"T": dtype})
            g.add_node("Identity", f"read_{s}", [var], {"T": dtype})
        refs[s] = var
    for r in sig.rest:
        if r == sig.grad_name:
            refs[r] = g.add_node("Placeholder", "grad", attrs={"dtype": dtype,
                                                               "shape": grad_shape}).output(0)
        else:
            refs[r] = _const(g, r, np.asarray(scalars[r], dtype.np))
    op = ("ResourceApply" if resource else "Apply") + name
    g.add_node(op, "apply", [refs[n] for n in sig.names], {"T": dtype, **attrs})
    return g


def _steps(name, resource, state, scalars, grads, dtype=DType.FLOAT, **attrs) -> dict:
    """Runs the update once per gradient; the final values of every state variable."""
    sig = OPTIMIZER_OPS[name]
    sess = runtime.load(_build(name, resource, state, scalars, dtype, **attrs))
    sess.run([f"init_{s}" for s in sig.state])
    for g in grads:
        result = sess.run("apply" if resource else "apply:0", {"grad:0": g})
        if not resource:  # the ref output: fetching it reads the variable's new value
            np.testing.assert_array_equal(result, sess.run("read_var:0"))
    return {s: sess.run(f"read_{s}:0") for s in sig.state}


@pytest.fixture
def grads(rng):
    return [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(4)]


@pytest.fixture
def var0(rng):
    return rng.standard_normal(SHAPE).astype(np.float32)


def _close(got: dict, want: dict, rtol=1e-5):
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=rtol, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("resource", [False, True])
def test_gradient_descent(resource, grads, var0):
    got = _steps("GradientDescent", resource, {"var": var0}, {"alpha": 0.1}, grads)
    w = var0.copy()
    for g in grads:
        w = w - 0.1 * g
    _close(got, {"var": w})


@pytest.mark.parametrize("resource", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum(resource, nesterov, grads, var0):
    accum0 = np.full(SHAPE, 0.5, np.float32)
    got = _steps("Momentum", resource, {"var": var0, "accum": accum0},
                 {"lr": 0.05, "momentum": 0.9}, grads, use_nesterov=nesterov)
    w, a = var0.astype(np.float64), accum0.astype(np.float64)
    for g in grads:
        a = 0.9 * a + g
        w = w - 0.05 * (g + 0.9 * a) if nesterov else w - 0.05 * a
    _close(got, {"var": w, "accum": a})


@pytest.mark.parametrize("resource", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
def test_adam_with_fixed_beta_powers(resource, nesterov, grads, var0):
    # The op reads beta1_power/beta2_power as inputs; here they stay fixed at step 3's values.
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-7
    scalars = {"beta1_power": b1 ** 3, "beta2_power": b2 ** 3, "lr": lr, "beta1": b1,
               "beta2": b2, "epsilon": eps}
    zeros = np.zeros(SHAPE, np.float32)
    got = _steps("Adam", resource, {"var": var0, "m": zeros, "v": zeros}, scalars, grads,
                 use_nesterov=nesterov)
    w, m, v = var0.astype(np.float64), zeros.astype(np.float64), zeros.astype(np.float64)
    lr_t = lr * np.sqrt(1 - b2 ** 3) / (1 - b1 ** 3)
    for g in grads:
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step = b1 * m + (1 - b1) * g if nesterov else m
        w = w - lr_t * step / (np.sqrt(v) + eps)
    _close(got, {"var": w, "m": m, "v": v}, rtol=1e-4)


@pytest.mark.parametrize("resource", [False, True])
@pytest.mark.parametrize("update_slots", [True, False])
def test_adagrad(resource, update_slots, grads, var0):
    accum0 = np.full(SHAPE, 0.1, np.float32)
    got = _steps("Adagrad", resource, {"var": var0, "accum": accum0}, {"lr": 0.2}, grads,
                 update_slots=update_slots)
    w, a = var0.astype(np.float64), accum0.astype(np.float64)
    for g in grads:
        if update_slots:
            a = a + g * g
        w = w - 0.2 * g / np.sqrt(a)
    _close(got, {"var": w, "accum": a})


@pytest.mark.parametrize("resource", [False, True])
def test_rms_prop(resource, grads, var0):
    ones, zeros = np.ones(SHAPE, np.float32), np.zeros(SHAPE, np.float32)
    scalars = {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "epsilon": 1e-6}
    got = _steps("RMSProp", resource, {"var": var0, "ms": ones, "mom": zeros}, scalars, grads)
    w, ms, mom = var0.astype(np.float64), ones.astype(np.float64), zeros.astype(np.float64)
    for g in grads:
        ms = 0.9 * ms + 0.1 * g * g
        mom = 0.5 * mom + 0.01 * g / np.sqrt(ms + 1e-6)
        w = w - mom
    _close(got, {"var": w, "ms": ms, "mom": mom})


@pytest.mark.parametrize("resource", [False, True])
def test_centered_rms_prop(resource, grads, var0):
    ones, zeros = np.ones(SHAPE, np.float32), np.zeros(SHAPE, np.float32)
    scalars = {"lr": 0.01, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-6}
    got = _steps("CenteredRMSProp", resource, {"var": var0, "mg": zeros, "ms": ones,
                                               "mom": zeros}, scalars, grads)
    w, mg, ms, mom = (a.astype(np.float64) for a in (var0, zeros, ones, zeros))
    for g in grads:
        ms = 0.9 * ms + 0.1 * g * g
        mg = 0.9 * mg + 0.1 * g
        mom = 0.0 * mom + 0.01 * g / np.sqrt(ms - mg * mg + 1e-6)
        w = w - mom
    _close(got, {"var": w, "mg": mg, "ms": ms, "mom": mom})


def test_float64_variables_stay_float64(grads, var0):
    got = _steps("GradientDescent", True, {"var": var0}, {"alpha": 0.1},
                 [g.astype(np.float64) for g in grads], dtype=DType.DOUBLE)
    assert got["var"].dtype == np.float64
    np.testing.assert_allclose(got["var"], var0 - 0.1 * np.sum(grads, axis=0), rtol=1e-6)


def test_static_shape_checks_name_the_mismatch():
    with pytest.raises(ValidationError, match=r"var and grad do not have the same shape"
                                              r"\[2,3\] \[3\]"):
        _build("Momentum", False, {"var": np.zeros(SHAPE), "accum": np.zeros(SHAPE)},
               {"lr": 0.1, "momentum": 0.9}, grad_shape=(3,))
    with pytest.raises(ValidationError, match=r"var and delta do not have the same shape"):
        _build("GradientDescent", True, {"var": np.zeros(SHAPE)}, {"alpha": 0.1},
               grad_shape=(3,))


def test_run_time_checks(var0):
    g = _build("GradientDescent", False, {"var": var0}, {"alpha": 0.1}, grad_shape=None)
    sess = runtime.load(g)
    with pytest.raises(UninitializedVariableError):
        sess.run("apply:0", {"grad:0": var0})
    sess.run("init_var")
    with pytest.raises(ExecutionError, match=r"var and delta do not have the same shape"
                                             r"\[2,3\] \[6\]"):
        sess.run("apply:0", {"grad:0": np.zeros(6, np.float32)})
    np.testing.assert_array_equal(sess.run("read_var:0"), var0)     # nothing changed


def test_resource_dtype_mismatch_is_refused(var0):
    g = _build("GradientDescent", True, {"var": var0}, {"alpha": 0.1})
    g.nodes["apply"].attrs["T"] = DType.DOUBLE   # a malformed imported graph
    sess = runtime.load(g)
    sess.run("init_var")
    with pytest.raises(ExecutionError, match="var holds float32 but the op's type T is"):
        sess.run("apply", {"grad:0": var0})


def test_hyper_parameters_must_be_scalars():
    g = Graph()
    var = g.add_node("VariableV2", "var", attrs={"dtype": DType.FLOAT, "shape": (2,)}).output(0)
    lr = _const(g, "lr", np.ones(2, np.float32))
    grad = _const(g, "g", np.ones(2, np.float32))
    with pytest.raises(ValidationError, match=r"alpha is not a scalar: \[2\]"):
        g.add_node("ApplyGradientDescent", "apply", [var, lr, grad], {"T": DType.FLOAT})
