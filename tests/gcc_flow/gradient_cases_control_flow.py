"""Gradient-check cases for v1 control flow (gcc_flow/grad/control_flow_grad.py): conds whose
Switch and Merge the check differentiates, with either branch taken.

    cond(True, sin(x) * 2 + y, x * x - y): d/dx = 2 cos(x), d/dy = 1 (broadcast over rows)
"""
from __future__ import annotations

import gcc_flow as gf
from gradient_cases import Case, case, inp


def _cond_case(rng, taken: bool) -> Case:
    x = inp(rng, [2, 3])
    y = inp(rng, [3])
    out = gf.cond(gf.constant(taken), lambda: gf.sin(x.tensor) * 2.0 + y.tensor,
                  lambda: x.tensor * x.tensor - y.tensor)
    return Case(out, [x, y])


@case("Switch", "Merge")
def _cond_true(rng):
    return _cond_case(rng, True)


@case("Switch", "Merge")
def _cond_false(rng):
    return _cond_case(rng, False)
