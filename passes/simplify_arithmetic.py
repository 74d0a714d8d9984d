"""simplify_arithmetic: algebraic peephole rewrites, as rules for the driver in passes/rewrite.py.

    Mul(x, 1) -> x;  Neg(Neg(x)) -> x;  Pow(x, 2) -> Square(x);  (x*2)*3 -> x*6
    Transpose(Transpose(x, [1, 0]), [1, 0]) -> x;  Cast(Cast(x: i8 -> i32) -> f32) -> Cast(i8->f32)

Grappler's arithmetic optimizer is the semantic reference. Every rule keeps the output's dtype and
static shape: a constant operand must broadcast into x's shape (``Mul(x, ones[3])`` with x of shape
[?, 1] would grow x, so it is left alone). Left out on purpose: x*0 and x-x for floats (NaN and
inf), Log(Exp(x)) and Square(Sqrt(x)) (not exact), x+x (not simpler), Cast of a constant
(fold_constants does it), ConcatV2 of one input (the registry requires N >= 2, as TensorFlow does).
Reassociating float constants and x/c -> x*(1/c) may change the last bit, as in Grappler.
"""
from __future__ import annotations

from typing import Optional

import ml_dtypes
import numpy as np

from passes.base import PassContext, PassResult, register_pass
from passes.rewrite import Match, P, Rule, apply_rules, broadcasts_into
from schema.dtypes import DType
from schema.ir import Graph, TensorRef
from schema.registry import find_op

__all__ = ["RULES", "simplify_arithmetic"]

_ADD = ("Add", "AddV2")
_DIV = ("Div", "RealDiv")


@register_pass("simplify_arithmetic")
def simplify_arithmetic(graph: Graph, ctx: PassContext) -> PassResult:
    stats = apply_rules(graph, ctx, RULES)
    return PassResult(graph, bool(stats), stats)


# -- checks ------------------------------------------------------------------------------------

def _numeric(m: Match) -> bool:
    return m.dtype.base in _NUMERIC


def _fits(const: str, x: str = "x"):
    """The constant broadcasts into x's shape, so dropping it keeps the output shape."""
    return lambda m: _numeric(m) and broadcasts_into(m[const].shape, m[x].shape)


def _accepts(op: str, dtype: DType) -> bool:
    """``op`` is registered and its T attr allows ``dtype``."""
    op_def = find_op(op)
    if op_def is None:
        return False
    spec = op_def.attrs.get("T")
    return spec is None or spec.allowed is None or dtype.base in spec.allowed


def _floating(m: Match) -> bool:
    return m.dtype.is_floating or m.dtype.is_complex


def _ints(m: Match, name: str) -> Optional[list[int]]:
    value = m.value(name)
    return [int(v) for v in value.reshape(-1)] if value.dtype.kind in "iu" else None


# -- replacements ------------------------------------------------------------------------------

def _forward(name: str):
    return lambda graph, m: m[name]


def _unary(op: str, x: str = "x"):
    return lambda graph, m: m.add(op, [m[x]], {"T": m.dtype})


def _binary(op: str, a: str, b: str):
    return lambda graph, m: m.add(op, [m[a], m[b]], {"T": m.dtype})


# -- neutral elements, negation ----------------------------------------------------------------

def _sub_self_zeros(graph: Graph, m: Match) -> TensorRef:
    return m.add("ZerosLike", [m["x"]], {"T": m.dtype})


def _zero_minus(m: Match) -> bool:
    return _fits("zero")(m) and _accepts("Neg", m.dtype)


def _sub_swapped(graph: Graph, m: Match) -> TensorRef:
    return m.add("Sub", [m["y"], m["x"]], {"T": m.dtype})


# -- constant reassociation --------------------------------------------------------------------

def _combine(ufunc):
    """(x op c1) op c2 -> x op (c1 op c2), the new constant computed in the op's dtype."""
    def replace(graph: Graph, m: Match) -> Optional[TensorRef]:
        c1, c2 = m.value("c1"), m.value("c2")
        with np.errstate(all="ignore"):
            both = ufunc(c1, c2).astype(m.dtype.np)
        if m.dtype.is_floating and not _stays_finite_and_nonzero(c1, c2, both):
            return None
        return m.add(m.root.op, [m["x"], m.const(both, m.dtype)], {"T": m.dtype})
    return replace


def _stays_finite_and_nonzero(c1, c2, both) -> bool:
    """No overflow to inf and no underflow to 0 that the two-step product would not have."""
    both = np.asarray(both, np.float64)
    if not np.all(np.isfinite(both)):
        return False
    inputs_zero = (np.asarray(c1) == 0) | (np.asarray(c2) == 0)
    return bool(np.all((both != 0) | np.broadcast_to(inputs_zero, both.shape)))


def _single_use(name: str):
    def check(m: Match) -> bool:
        inner = m.node(name)
        return (_numeric(m) and len(inner.users) == 1 and m["x"].node.op != "Const")
    return check


# -- division by a constant --------------------------------------------------------------------

def _reciprocal_exact_enough(m: Match) -> bool:
    if not m.dtype.is_floating:
        return False
    c = np.asarray(m.value("c"), np.float64)
    with np.errstate(all="ignore"):
        inverse = (1.0 / c).astype(m.dtype.np).astype(np.float64)
    tiny = float(ml_dtypes.finfo(m.dtype.np).tiny)
    return bool(np.all(np.isfinite(c) & (c != 0) & np.isfinite(inverse)
                       & (np.abs(inverse) >= tiny)))


def _div_to_mul(graph: Graph, m: Match) -> TensorRef:
    inverse = (1.0 / np.asarray(m.value("c"), np.float64)).astype(m.dtype.np)
    return m.add("Mul", [m["x"], m.const(inverse, m.dtype)], {"T": m.dtype})


# -- comparisons -------------------------------------------------------------------------------

_NEGATED = {"Less": "GreaterEqual", "LessEqual": "Greater", "Greater": "LessEqual",
            "GreaterEqual": "Less", "Equal": "NotEqual", "NotEqual": "Equal"}
_NAN_SAFE = frozenset({"Equal", "NotEqual"})  # !(x == y) is x != y even for NaN


def _negatable(m: Match) -> bool:
    inner = m.node("cmp")
    return inner.op in _NAN_SAFE or not (m["x"].dtype.is_floating or m["x"].dtype.is_complex)


def _negate_comparison(graph: Graph, m: Match) -> TensorRef:
    inner = m.node("cmp")
    return m.add(_NEGATED[inner.op], [m["x"], m["y"]], dict(inner.attrs))


# -- casts -------------------------------------------------------------------------------------

_SIGNIFICAND = {DType.HALF: 11, DType.BFLOAT16: 8, DType.FLOAT: 24, DType.DOUBLE: 53}
_WIDER_FLOAT = {DType.HALF: {DType.FLOAT, DType.DOUBLE},
                DType.BFLOAT16: {DType.FLOAT, DType.DOUBLE}, DType.FLOAT: {DType.DOUBLE}}
_COMPONENT = {DType.COMPLEX64: DType.FLOAT, DType.COMPLEX128: DType.DOUBLE}
_NUMERIC = frozenset(_SIGNIFICAND) | {DType.INT8, DType.INT16, DType.INT32, DType.INT64,
                                      DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64,
                                      DType.COMPLEX64, DType.COMPLEX128}


def holds_exactly(src: DType, dst: DType) -> bool:
    """Every value of ``src`` is a value of ``dst``: int8 -> int32 yes, int32 -> float32 no."""
    if src == dst or (src == DType.BOOL and dst in _NUMERIC):
        return True
    if dst in _COMPONENT:
        return (src == DType.COMPLEX64 and dst == DType.COMPLEX128) or \
            (src not in _COMPONENT and holds_exactly(src, _COMPONENT[dst]))
    if src.is_integer and dst.is_integer:
        signed_src, signed_dst = src.np.kind == "i", dst.np.kind == "i"
        bits_src, bits_dst = src.np.itemsize * 8, dst.np.itemsize * 8
        if signed_src:
            return signed_dst and bits_dst >= bits_src
        return bits_dst > bits_src if signed_dst else bits_dst >= bits_src
    if src.is_integer and dst in _SIGNIFICAND:
        magnitude_bits = src.np.itemsize * 8 - (src.np.kind == "i")
        return magnitude_bits <= _SIGNIFICAND[dst]
    return dst in _WIDER_FLOAT.get(src, ())


def _same_cast(m: Match) -> bool:
    return m.root.attrs.get("SrcT") == m.root.attrs.get("DstT")


def _exact_inner_cast(m: Match) -> bool:
    inner = m.node("inner")
    return holds_exactly(inner.attrs["SrcT"].base, inner.attrs["DstT"].base)


def _merge_casts(graph: Graph, m: Match) -> TensorRef:
    src = m["x"].dtype.base
    if src == m.dtype:
        return m["x"]
    attrs = {"SrcT": src, "DstT": m.dtype, "Truncate": m.root.attrs.get("Truncate", False)}
    return m.add("Cast", [m["x"]], attrs)


# -- shape ops ---------------------------------------------------------------------------------

def _perm(m: Match, name: str, rank: int) -> Optional[list[int]]:
    perm = _ints(m, name)
    if perm is None or len(perm) != rank:
        return None
    perm = [p + rank if p < 0 else p for p in perm]
    return perm if sorted(perm) == list(range(rank)) else None


def _merge_transposes(graph: Graph, m: Match) -> Optional[TensorRef]:
    rank = m.value("p1").size
    first, second = _perm(m, "p1", rank), _perm(m, "p2", rank)
    if first is None or second is None:
        return None
    composed = [first[i] for i in second]
    if composed == list(range(rank)):
        return m["x"]
    perm = m.const(np.array(composed), m.root.attrs["Tperm"])
    return m.add("Transpose", [m["x"], perm], dict(m.root.attrs))


def _merge_reshapes(graph: Graph, m: Match) -> TensorRef:
    return m.add("Reshape", [m["x"], m["shape"]], dict(m.root.attrs))


def _known(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _same_static_shape(m: Match) -> bool:
    return _known(m["x"].shape) and m.root.out_shapes[0] == m["x"].shape


def _squeeze_undoes_expand(m: Match) -> bool:
    dims = list(m.root.attrs.get("squeeze_dims") or [])
    axis = _ints(m, "axis")
    shape = m["x"].shape
    if not dims:  # squeeze every size-1 dim: only the inserted one when x has none
        return _known(shape) and 1 not in shape
    if axis is None or len(axis) != 1 or len(dims) != 1:
        return False
    if axis[0] == dims[0]:
        return True
    if shape is None:
        return False
    rank = len(shape) + 1
    return axis[0] % rank == dims[0] % rank and -rank <= min(axis[0], dims[0])


def _all_ones(name: str):
    def check(m: Match) -> bool:
        shape, values = m["x"].shape, _ints(m, name)
        return shape is not None and values is not None and values == [1] * len(shape)
    return check


def _zero_paddings(m: Match) -> bool:
    shape, pads = m["x"].shape, m.value("pads")
    return shape is not None and pads.shape == (len(shape), 2) and not np.any(pads)


def _slice_is_whole(m: Match) -> bool:
    shape, begin, size = m["x"].shape, _ints(m, "begin"), _ints(m, "size")
    if shape is None or begin is None or size is None or len(begin) != len(shape):
        return False
    return all(b == 0 and (s == -1 or s == d) for b, s, d in zip(begin, size, shape))


_OTHER_MASKS = ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def _strided_slice_is_whole(m: Match) -> bool:
    shape = m["x"].shape
    begin, end, strides = _ints(m, "begin"), _ints(m, "end"), _ints(m, "strides")
    attrs = m.root.attrs
    if shape is None or None in (begin, end, strides) or len(begin) > len(shape):
        return False
    if any(attrs.get(k, 0) for k in _OTHER_MASKS) or any(s != 1 for s in strides):
        return False
    begin_mask, end_mask = attrs.get("begin_mask", 0), attrs.get("end_mask", 0)
    for i, (b, e) in enumerate(zip(begin, end)):
        if not (begin_mask >> i & 1 or b == 0):
            return False
        if not (end_mask >> i & 1 or (shape[i] is not None and e >= shape[i])):
            return False
    return True


def _select_branch(graph: Graph, m: Match) -> Optional[TensorRef]:
    cond = m.value("cond")
    if cond.size == 0 or not (cond.all() or not cond.any()):
        return None
    chosen, other = ("t", "e") if cond.all() else ("e", "t")
    if m.root.op == "Select":  # t and e have the output's shape (cond: scalar, same, or dim 0)
        return m[chosen]
    fits = broadcasts_into(m["cond"].shape, m[chosen].shape) and \
        broadcasts_into(m[other].shape, m[chosen].shape)
    return m[chosen] if fits else None


# -- the rules, tried in this order at each node -----------------------------------------------

_x, _y = P.any("x"), P.any("y")

RULES = [
    # Add(x, 0) -> x   (and 0 + x: Add is commutative)
    Rule("add_zero", P(_ADD, _x, P.const("zero", value=0)), _forward("x"), _fits("zero")),
    # Sub(x, 0) -> x
    Rule("sub_zero", P("Sub", _x, P.const("zero", value=0)), _forward("x"), _fits("zero")),
    # Mul(x, 1) -> x
    Rule("mul_one", P("Mul", _x, P.const("one", value=1)), _forward("x"), _fits("one")),
    # Div(x, 1) -> x, RealDiv(x, 1) -> x
    Rule("div_one", P(_DIV, _x, P.const("one", value=1)), _forward("x"), _fits("one")),
    # Pow(x, 1) -> x
    Rule("pow_one", P("Pow", _x, P.const("one", value=1)), _forward("x"), _fits("one")),
    # Neg(Neg(x)) -> x
    Rule("neg_neg", P("Neg", P("Neg", _x)), _forward("x")),
    # Sub(x, x) -> ZerosLike(x), integers only (inf - inf is NaN)
    Rule("sub_self", P("Sub", _x, _x), _sub_self_zeros,
         lambda m: m.dtype.is_integer and _accepts("ZerosLike", m.dtype)),
    # Sub(0, x) -> Neg(x)
    Rule("zero_sub", P("Sub", P.const("zero", value=0), _x), _unary("Neg"), _zero_minus),
    # Add(x, Neg(y)) -> Sub(x, y)
    Rule("add_neg", P(_ADD, _x, P("Neg", _y)), _binary("Sub", "x", "y"),
         lambda m: _accepts("Sub", m.dtype)),
    # Neg(Sub(x, y)) -> Sub(y, x)
    Rule("neg_sub", P("Neg", P("Sub", _x, _y)), _sub_swapped),
    # Mul(x, x) -> Square(x)
    Rule("mul_self", P("Mul", _x, _x), _unary("Square"), lambda m: _accepts("Square", m.dtype)),
    # Mul(Mul(x, c1), c2) -> Mul(x, c1 * c2)
    Rule("mul_consts", P("Mul", P("Mul", _x, P.const("c1"), name="inner"), P.const("c2")),
         _combine(np.multiply), _single_use("inner")),
    # Add(Add(x, c1), c2) -> Add(x, c1 + c2)
    Rule("add_consts", P(_ADD, P(_ADD, _x, P.const("c1"), name="inner"), P.const("c2")),
         _combine(np.add), _single_use("inner")),
    # Pow(x, 2) -> Square(x)
    Rule("pow_two", P("Pow", _x, P.const("two", value=2)), _unary("Square"), _fits("two")),
    # Pow(x, 0.5) -> Sqrt(x), floats (Pow(-inf, 0.5) is inf, Sqrt(-inf) NaN, as in Grappler)
    Rule("pow_half", P("Pow", _x, P.const("half", value=0.5)), _unary("Sqrt"),
         lambda m: _floating(m) and _fits("half")(m)),
    # Pow(x, -1) -> Reciprocal(x), floats (integer Pow refuses negative exponents)
    Rule("pow_minus_one", P("Pow", _x, P.const("minus_one", value=-1)), _unary("Reciprocal"),
         lambda m: _floating(m) and _fits("minus_one")(m)),
    # RealDiv(x, c) -> Mul(x, 1/c), floats, when 1/c is finite and normal
    Rule("div_to_mul", P(_DIV, _x, P.const("c")), _div_to_mul, _reciprocal_exact_enough),
    # LogicalNot(Less(x, y)) -> GreaterEqual(x, y): not for floats (NaN), except Equal/NotEqual
    Rule("not_compare", P("LogicalNot", P(tuple(_NEGATED), _x, _y, name="cmp")),
         _negate_comparison, _negatable),
    # Cast(x: T -> T) -> x
    Rule("cast_same", P("Cast", _x), _forward("x"), _same_cast),
    # Cast(Cast(x: A -> B) -> C) -> Cast(x: A -> C) when B holds every A exactly
    Rule("cast_cast", P("Cast", P("Cast", _x, name="inner")), _merge_casts, _exact_inner_cast),
    # AddN(x) -> x
    Rule("addn_single", P("AddN", _x), _forward("x")),
    # Transpose(Transpose(x, p1), p2) -> Transpose(x, p1[p2]), or x when that is the identity
    Rule("transpose_transpose", P("Transpose", P("Transpose", _x, P.const("p1")),
                                  P.const("p2")), _merge_transposes),
    # Reshape(Reshape(x, s1), s2) -> Reshape(x, s2)
    Rule("reshape_reshape", P("Reshape", P("Reshape", _x, P.any("")), P.any("shape")),
         _merge_reshapes),
    # Reshape(x, s) -> x when s is x's static shape
    Rule("reshape_same", P("Reshape", _x, P.any("")), _forward("x"), _same_static_shape),
    # Squeeze(ExpandDims(x, a), [a]) -> x
    Rule("squeeze_expand_dims", P("Squeeze", P("ExpandDims", _x, P.const("axis"))),
         _forward("x"), _squeeze_undoes_expand),
    # Tile(x, [1, 1, ...]) -> x
    Rule("tile_ones", P("Tile", _x, P.const("multiples")), _forward("x"), _all_ones("multiples")),
    # Slice(x, 0, whole) -> x
    Rule("slice_whole", P("Slice", _x, P.const("begin"), P.const("size")), _forward("x"),
         _slice_is_whole),
    # StridedSlice(x, 0, end, 1) -> x when it takes every element
    Rule("strided_slice_whole", P("StridedSlice", _x, P.const("begin"), P.const("end"),
                                  P.const("strides")), _forward("x"), _strided_slice_is_whole),
    # Pad(x, zeros) -> x (also PadV2, MirrorPad)
    Rule("pad_zero", P("Pad", _x, P.const("pads")), _forward("x"), _zero_paddings),
    Rule("pad_zero", P("PadV2", _x, P.const("pads"), P.any("")), _forward("x"), _zero_paddings),
    Rule("pad_zero", P("MirrorPad", _x, P.const("pads")), _forward("x"), _zero_paddings),
    # Select(true, t, e) -> t, Select(false, t, e) -> e, when the branch has the output's shape
    Rule("select_const", P(("Select", "SelectV2"), P.const("cond"), P.any("t"), P.any("e")),
         _select_branch),
]
