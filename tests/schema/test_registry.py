"""The op registry: REGISTER_OP-style specs, dtype inference, attr checks, kernel coverage.

    op("Foo", inputs=["xs: N * T"], outputs=["y: T"], attrs=["N: int >= 1", "T: {float}"])
    -> ArgSpec(name="xs", number_attr="N", type_attr="T"); Foo(N=3, T=float) takes 3 floats
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from schema import registry
from schema.dtypes import NUMERIC, DType
from schema.errors import UnknownOpError, ValidationError
from schema.infer import arg_types
from schema.ir import Graph
from schema.registry import NO_DEFAULT, FuncAttr, all_ops, check_attr_value, get_op, op

_counter = itertools.count()


@pytest.fixture
def declare():
    """Declares throwaway ops under unique names and removes them from the registry after."""
    all_ops()  # load the real declarations first
    names: list[str] = []

    def make(**kwargs):
        name = f"TestOp{next(_counter)}"
        names.append(name)
        return op(name, **kwargs)
    yield make
    for name in names:
        registry._REGISTRY.pop(name, None)


# -- argument specs -----------------------------------------------------------------------------

def test_argument_specs(declare):
    d = declare(inputs=["x: T", "xs: N * T", "r: Ref(T)", "h: resource", "i: int32",
                        "many: Tlist"],
                outputs=["y: float"],
                attrs=["T: type", "N: int >= 1", "Tlist: list(type)"])
    x, xs, r, h, i, many = d.inputs
    assert (x.type_attr, x.number_attr, x.is_ref) == ("T", "", False)
    assert (xs.type_attr, xs.number_attr) == ("T", "N")
    assert r.is_ref and r.type_attr == "T"
    assert h.type == DType.RESOURCE and i.type == DType.INT32
    assert many.type_list_attr == "Tlist" and many.type_attr == ""
    assert d.outputs[0].type == DType.FLOAT


@pytest.mark.parametrize("kwargs, message", [
    ({"inputs": ["x T"]}, "bad argument spec"),
    ({"inputs": ["x: T"]}, "names no declared attr 'T'"),
    ({"attrs": ["x: foo"]}, "unknown attr type"),
    ({"attrs": ["x int"]}, "bad attr spec"),
    ({"attrs": ["b: bool = yes"]}, "cannot parse default"),
    ({"attrs": ["T: {float, double} = DT_INT32"]}, "not an allowed value"),
    ({"attrs": ["s: shape = [2, 3]"]}, "cannot parse default"),
])
def test_bad_declarations_are_programming_errors(declare, kwargs, message):
    with pytest.raises(ValueError, match=message):
        declare(**kwargs)


def test_declaring_twice_is_refused():
    assert "Identity" in all_ops()
    with pytest.raises(ValueError, match="declared twice"):
        op("Identity", inputs=["x: T"], outputs=["y: T"], attrs=["T: type"])


# -- attr specs: defaults, allowed sets, minimums -----------------------------------------------

@pytest.mark.parametrize("spec, attr_type, default", [
    ("a: int = 3", "int", 3), ("a: int = -1", "int", -1),
    ("a: float = 0.5", "float", 0.5), ("a: float = -1e-3", "float", -0.001),
    ("a: bool = true", "bool", True), ("a: bool = false", "bool", False),
    ("a: string = 'NHWC'", "string", "NHWC"), ('a: string = ""', "string", ""),
    ("a: type = DT_INT32", "type", DType.INT32), ("a: type = float", "type", DType.FLOAT),
    ("a: shape = unknown", "shape", None),
    ("a: list(int) = [1, 2, 2, 1]", "list(int)", [1, 2, 2, 1]),
    ("a: list(int) = []", "list(int)", []), ("a: list(float) = [0.5]", "list(float)", [0.5]),
    ("a: list(string) = ['x', 'y']", "list(string)", ["x", "y"]),
    ("a: list(type) = [int32, float]", "list(type)", [DType.INT32, DType.FLOAT]),
    ("a: list(bool) = [true]", "list(bool)", [True]),
    ("a: tensor", "tensor", NO_DEFAULT), ("a: func", "func", NO_DEFAULT),
    ("a: list(shape) = []", "list(shape)", []),
])
def test_attr_defaults_of_every_type(declare, spec, attr_type, default):
    attr = declare(attrs=[spec]).attrs["a"]
    assert attr.type == attr_type
    assert attr.default is default if default is NO_DEFAULT else attr.default == default
    assert attr.required == (default is NO_DEFAULT)
    assert type(attr.default) is type(default)


def test_allowed_sets_groups_and_minimums(declare):
    d = declare(attrs=["T: {float, double}", "U: numbertype", "V: {half, inttype}",
                       "padding: {'SAME', 'VALID'} = 'SAME'", "N: int >= 2 = 4",
                       "Ts: list({int32, int64}) >= 1", "k: list(int) >= 4"])
    a = d.attrs
    assert a["T"].type == "type" and a["T"].allowed == {DType.FLOAT, DType.DOUBLE}
    assert a["U"].allowed == NUMERIC
    assert DType.HALF in a["V"].allowed and DType.UINT64 in a["V"].allowed
    assert DType.FLOAT not in a["V"].allowed
    assert (a["padding"].type, a["padding"].allowed) == ("string", {"SAME", "VALID"})
    assert (a["N"].minimum, a["N"].default) == (2, 4)
    assert (a["Ts"].type, a["Ts"].allowed, a["Ts"].minimum) == (
        "list(type)", {DType.INT32, DType.INT64}, 1)
    assert a["k"].minimum == 4


# -- dtype inference ------------------------------------------------------------------------------

def test_arg_types_expand_numbers_lists_and_refs(declare):
    d = declare(inputs=["xs: N * T", "r: Ref(T)", "rest: Tlist", "i: int64"],
                outputs=["y: T"], attrs=["T: type", "N: int >= 0", "Tlist: list(type)"])
    attrs = {"T": DType.HALF, "N": 3, "Tlist": [DType.BOOL, DType.STRING]}
    assert arg_types("n", d, d.inputs, attrs, "input") == [
        DType.HALF] * 3 + [DType.HALF_REF, DType.BOOL, DType.STRING, DType.INT64]
    assert arg_types("n", d, d.outputs, attrs, "output") == [DType.HALF]
    assert arg_types("n", d, d.inputs, dict(attrs, N=0), "input")[0] == DType.HALF_REF


@pytest.mark.parametrize("attrs, message", [
    ({"N": 2}, "missing required attr 'T'"),
    ({"T": DType.FLOAT, "N": -1}, "'N' must be a non-negative int"),
    ({"T": 3, "N": 1}, "not a dtype"),
])
def test_arg_type_errors_name_the_node(declare, attrs, message):
    d = declare(inputs=["xs: N * T"], attrs=["T: type", "N: int >= 0"])
    with pytest.raises(ValidationError, match=f"node 'bad'.*{message}"):
        arg_types("bad", d, d.inputs, attrs, "input")


def test_graph_nodes_get_dtypes_from_the_declaration():
    g = Graph()
    x = g.add_node("Placeholder", "x", attrs={"dtype": DType.INT8, "shape": (2,)})
    n = g.add_node("AddN", "n", inputs=[x.output(0)] * 3, attrs={"N": 3, "T": DType.INT8})
    c = g.add_node("Cast", "c", inputs=[n.output(0)],
                   attrs={"SrcT": DType.INT8, "DstT": DType.DOUBLE})
    assert n.out_types == [DType.INT8] and n.out_shapes == [(2,)]
    assert c.out_types == [DType.DOUBLE] and c.attrs["Truncate"] is False


def test_lookup():
    assert get_op("AddV2").is_commutative and not get_op("Sub").is_commutative
    assert "Const" in all_ops()
    with pytest.raises(UnknownOpError, match="'NoSuchOp'"):
        get_op("NoSuchOp")


# -- check_attr_value ----------------------------------------------------------------------------

def _spec(declare, text: str):
    return declare(attrs=[text]).attrs["a"]


@pytest.mark.parametrize("text, value", [
    ("a: int", 3), ("a: float", 2), ("a: float", 2.5), ("a: bool", False), ("a: string", "x"),
    ("a: string", b"\xff"), ("a: type", DType.FLOAT), ("a: shape", None), ("a: shape", (None, 2)),
    ("a: tensor", np.zeros(2)), ("a: func", FuncAttr("f")), ("a: list(int) >= 2", [1, 2]),
    ("a: {float, double}", DType.DOUBLE), ("a: {'SAME', 'VALID'}", "VALID"),
    ("a: int >= 1", 1), ("a: list({int32, int64})", [DType.INT64, DType.INT32]),
])
def test_check_attr_value_accepts(declare, text, value):
    check_attr_value("n", "Op", _spec(declare, text), value)


@pytest.mark.parametrize("text, value, message", [
    ("a: int", True, "must be of type int"), ("a: int", 1.5, "must be of type int"),
    ("a: float", True, "must be of type float"), ("a: bool", 1, "must be of type bool"),
    ("a: string", 3, "must be of type string"), ("a: type", 1, "must be of type type"),
    ("a: shape", [2, 3], "must be of type shape"), ("a: shape", (2, "x"), "must be of type"),
    ("a: tensor", [1, 2], "must be of type tensor"), ("a: func", "f", "must be of type func"),
    ("a: list(int)", [1, "2"], "must be of type list"), ("a: list(int)", 3, "must be of type"),
    ("a: {float, double}", DType.INT32, "'int32' is not one of"),
    ("a: {'SAME', 'VALID'}", "FULL", "'FULL' is not one of"),
    ("a: int >= 1", 0, "below its minimum 1"),
    ("a: list(type) >= 1", [], "needs at least 1 items"),
    ("a: list({int32, int64})", [DType.FLOAT], "'float32' is not one of"),
])
def test_check_attr_value_errors_name_node_and_attr(declare, text, value, message):
    with pytest.raises(ValidationError, match=f"node 'n' \\(Op\\): attr 'a'.*{message}"):
        check_attr_value("n", "Op", _spec(declare, text), value)


# -- every declared op runs on the CPU ----------------------------------------------------------

def test_every_declared_op_has_a_cpu_kernel():
    from runtime.kernels import KERNELS
    missing = sorted(set(all_ops()) - KERNELS.ops("cpu"))
    assert missing == [], f"ops declared without a CPU kernel: {missing}"


def test_every_cpu_kernel_has_a_declaration():
    from runtime.kernels import KERNELS
    orphans = sorted(KERNELS.ops("cpu") - set(all_ops()))
    assert orphans == [], f"kernels for ops the registry does not declare: {orphans}"


# -- the layout flag (what passes/layout.py sinks Transposes through) ------------------------------

_LAYOUT_MARKED = {
    "elementwise": {
        "Abs", "Acos", "Acosh", "Add", "AddN", "AddV2", "Asin", "Asinh", "Atan", "Atan2",
        "Atanh", "Cast", "Ceil", "ClipByValue", "Cos", "Cosh", "Digamma", "Div", "DivNoNan",
        "Elu", "Equal", "Erf", "Erfc", "Exp", "Expm1", "Floor", "FloorDiv", "FloorMod",
        "Greater", "GreaterEqual", "Identity", "Inv", "IsFinite", "IsInf", "IsNan", "LeakyRelu",
        "Less", "LessEqual", "Lgamma", "Log", "Log1p", "LogicalAnd", "LogicalNot", "LogicalOr",
        "Maximum", "Minimum", "Mul", "MulNoNan", "Neg", "NotEqual", "OnesLike", "Pow",
        "RealDiv", "Reciprocal", "Relu", "Relu6", "Rint", "Round", "Rsqrt", "SelectV2", "Selu",
        "Sigmoid", "Sign", "Sin", "Sinh", "Snapshot", "Softplus", "Softsign", "Sqrt", "Square",
        "SquaredDifference", "StopGradient", "Sub", "Tan", "Tanh", "TruncateDiv", "TruncateMod",
        "Xdivy", "Xlogy", "ZerosLike"},
    "reduce": {"All", "Any", "ArgMax", "ArgMin", "EuclideanNorm", "Max", "Mean", "Min", "Prod",
               "Sum"},
    "pad": {"MirrorPad", "Pad", "PadV2"},
    "concat": {"ConcatV2"},
    "squeeze": {"Squeeze"},
}


def test_layout_marked_ops_are_exactly_the_reviewed_set():
    marked: dict[str, set] = {}
    for name, definition in all_ops().items():
        if definition.layout:
            marked.setdefault(definition.layout, set()).add(name)
    assert marked == _LAYOUT_MARKED
    assert not {"Select", "Softmax", "BiasAdd"} & set().union(*marked.values())


def test_layout_flag_is_validated_and_defaults_to_empty(declare):
    assert declare(inputs=["x: float"], outputs=["y: float"]).layout == ""
    assert declare(layout="reduce").layout == "reduce"
    with pytest.raises(ValueError, match="layout='transpose' is not one of"):
        declare(layout="transpose")
    assert registry.LAYOUT_KINDS == set(_LAYOUT_MARKED)


def test_layout_pass_table_comes_from_the_registry():
    from passes.layout import LAYOUT_AGNOSTIC, layout_kinds
    assert LAYOUT_AGNOSTIC is layout_kinds()
    assert LAYOUT_AGNOSTIC == {n: k for k, names in _LAYOUT_MARKED.items() for n in names}
