"""The op registry: one declaration per op, in TensorFlow's REGISTER_OP vocabulary.

    op("MatMul",
       inputs=["a: T", "b: T"], outputs=["product: T"],
       attrs=["transpose_a: bool = false", "transpose_b: bool = false",
              "T: {bfloat16, half, float, double, int32, int64, complex64, complex128}"],
       shape=matmul_shape)

Argument specs: ``name: T`` (type from attr T), ``name: float`` (fixed type), ``name: N * T``
(N tensors of type T), ``name: Tlist`` (a list(type) attr), ``name: Ref(T)`` (reference input).
Attr specs: ``name: TYPE [= DEFAULT]`` with TYPE one of type, int, float, bool, string, shape,
tensor, func, list(...), or a set of allowed values ``{float, double}`` / ``{'SAME', 'VALID'}``;
``int >= 1`` sets a minimum. Output dtypes follow from the specs; shapes from ``shape``.

Flags (keywords; passes ask them, never lists of op names): ``stateful``, ``random``,
``commutative``, ``side_effecting``, ``aggregate``, ``feed`` (Placeholder), ``control_flow``,
and ``layout``: how the op maps through a Transpose of its inputs, one of LAYOUT_KINDS or ""
(layout-sensitive, the default):

    op("Relu", ..., layout="elementwise")   Transpose(x) -> Relu -> ... == Relu(x) -> Transpose
    op("Sum", ..., layout="reduce")         axes remapped through the perm
    "pad" (paddings rows permuted), "concat" (axis remapped), "squeeze" (squeeze_dims remapped)
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Optional

from schema.dtypes import DType, NUMERIC, REAL
from schema.errors import UnknownOpError, ValidationError

__all__ = ["ArgSpec", "AttrSpec", "OpDef", "op", "get_op", "find_op", "all_ops", "NO_DEFAULT",
           "FuncAttr", "LAYOUT_KINDS"]

NO_DEFAULT = object()
LAYOUT_KINDS = frozenset({"elementwise", "reduce", "pad", "concat", "squeeze"})


@dataclasses.dataclass(frozen=True)
class FuncAttr:
    """The value of a ``func`` attr: a function name with attrs (TensorFlow's NameAttrList)."""
    name: str
    attrs: tuple = ()


@dataclasses.dataclass(frozen=True)
class ArgSpec:
    name: str
    type: Optional[DType] = None      # a fixed type, e.g. "resource" or "int32"
    type_attr: str = ""               # "T"
    number_attr: str = ""             # "N" in "N * T"
    type_list_attr: str = ""          # "Tin"
    is_ref: bool = False


@dataclasses.dataclass(frozen=True)
class AttrSpec:
    name: str
    type: str                         # "type", "int", "list(int)", ...
    default: Any = NO_DEFAULT
    allowed: Optional[frozenset] = None
    minimum: Optional[int] = None

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT


@dataclasses.dataclass
class OpDef:
    name: str
    inputs: tuple
    outputs: tuple
    attrs: dict
    shape_fn: Optional[Callable] = None
    is_stateful: bool = False
    is_random: bool = False
    is_commutative: bool = False
    is_side_effecting: bool = False
    is_aggregate: bool = False
    is_feed: bool = False         # its value is meant to come from a feed (Placeholder)
    is_control_flow: bool = False  # v1 control flow: Switch, Merge, Enter, Exit, NextIteration...
    layout: str = ""              # how it maps through a Transpose: one of LAYOUT_KINDS, or ""
    doc: str = ""

    @property
    def has_side_effects(self) -> bool:
        return self.is_stateful or self.is_side_effecting


_REGISTRY: dict[str, OpDef] = {}

_TYPE_GROUPS = {
    "numbertype": NUMERIC,
    "realnumbertype": REAL,
    "floattype": frozenset({DType.HALF, DType.BFLOAT16, DType.FLOAT, DType.DOUBLE}),
    "inttype": frozenset({DType.INT8, DType.INT16, DType.INT32, DType.INT64, DType.UINT8,
                          DType.UINT16, DType.UINT32, DType.UINT64}),
}


def op(name: str, inputs=(), outputs=(), attrs=(), shape: Callable | None = None, *,
       stateful=False, random=False, commutative=False, side_effecting=False,
       aggregate=False, feed=False, control_flow=False, layout="", doc="") -> OpDef:
    """Declares an op. Declaring the same name twice is a programming error."""
    if name in _REGISTRY:
        raise ValueError(f"op {name} declared twice")
    if layout and layout not in LAYOUT_KINDS:
        raise ValueError(f"op {name}: layout={layout!r} is not one of {sorted(LAYOUT_KINDS)}")
    attr_specs = {a.name: a for a in (_parse_attr(s) for s in attrs)}
    definition = OpDef(
        name=name,
        inputs=tuple(_parse_arg(s, attr_specs) for s in inputs),
        outputs=tuple(_parse_arg(s, attr_specs) for s in outputs),
        attrs=attr_specs,
        shape_fn=shape, is_stateful=stateful or random, is_random=random,
        is_commutative=commutative, is_side_effecting=side_effecting, is_aggregate=aggregate,
        is_feed=feed, is_control_flow=control_flow, layout=layout, doc=doc)
    _REGISTRY[name] = definition
    return definition


def find_op(name: str) -> Optional[OpDef]:
    _load_declarations()
    return _REGISTRY.get(name)


def get_op(name: str) -> OpDef:
    found = find_op(name)
    if found is None:
        raise UnknownOpError(f"unknown op {name!r}: it is not in the registry")
    return found


def all_ops() -> dict[str, OpDef]:
    _load_declarations()
    return dict(_REGISTRY)


_loaded = False


def _load_declarations() -> None:
    global _loaded
    if not _loaded:
        _loaded = True  # set first: declarations call back into the registry while importing
        try:
            import schema.ops  # noqa: F401  (declares every op)
        except BaseException:
            _loaded = False
            raise


# -- spec parsing -----------------------------------------------------------------------------

_ARG_RE = re.compile(r"^\s*(\w+)\s*:\s*(?:(\w+)\s*\*\s*)?(Ref\()?\s*(\w+)\s*\)?\s*$")


def _parse_arg(spec: str, attrs: dict) -> ArgSpec:
    m = _ARG_RE.match(spec)
    if not m:
        raise ValueError(f"bad argument spec {spec!r}")
    name, number, ref, type_name = m.groups()
    fixed = _fixed_type(type_name)
    if fixed is None and type_name not in attrs:
        raise ValueError(f"argument spec {spec!r} names no declared attr {type_name!r}")
    is_list = fixed is None and attrs[type_name].type == "list(type)"
    return ArgSpec(name=name, type=fixed, is_ref=bool(ref), number_attr=number or "",
                   type_attr=type_name if fixed is None and not is_list else "",
                   type_list_attr=type_name if is_list else "")


def _fixed_type(name: str) -> Optional[DType]:
    if name[0].isupper():
        return None
    try:
        return DType.parse(name)
    except Exception:
        return None


_ATTR_RE = re.compile(r"^\s*(\w+)\s*:\s*(.+?)\s*(?:>=\s*(-?\d+)\s*)?(?:=\s*(.+?))?\s*$")


def _parse_attr(spec: str) -> AttrSpec:
    m = _ATTR_RE.match(spec)
    if not m:
        raise ValueError(f"bad attr spec {spec!r}")
    name, type_text, minimum, default_text = m.groups()
    is_list = type_text.startswith("list(") and type_text.endswith(")")
    base, allowed = _base_attr_type(type_text[5:-1].strip() if is_list else type_text, spec)
    attr_type = f"list({base})" if is_list else base
    default = NO_DEFAULT if default_text is None else _parse_default(default_text, attr_type)
    if allowed is not None and default is not NO_DEFAULT:
        if any(v not in allowed for v in (default if is_list else [default])):
            raise ValueError(f"attr spec {spec!r}: the default is not an allowed value")
    return AttrSpec(name=name, type=attr_type, default=default, allowed=allowed,
                    minimum=None if minimum is None else int(minimum))


def _base_attr_type(text: str, spec: str) -> tuple[str, Optional[frozenset]]:
    """'{float, double}' -> ("type", {FLOAT, DOUBLE});  "{'SAME'}" -> ("string", {"SAME"})."""
    if text.startswith("{"):
        items = [t.strip() for t in text.strip("{}").split(",") if t.strip()]
        if items and items[0].startswith(("'", '"')):
            return "string", frozenset(i.strip("'\"") for i in items)
        return "type", _allowed_types(items)
    if text in _TYPE_GROUPS:
        return "type", _TYPE_GROUPS[text]
    if text not in _ATTR_CHECKS:
        raise ValueError(f"attr spec {spec!r}: unknown attr type {text!r}")
    return text, None


def _allowed_types(items: list[str]) -> frozenset:
    out: set = set()
    for item in items:
        out |= _TYPE_GROUPS.get(item) or {DType.parse(item)}
    return frozenset(out)


def _parse_default(text: str, attr_type: str) -> Any:
    text = text.strip()
    if attr_type.startswith("list("):
        inner = attr_type[5:-1]
        body = text.strip("[]").strip()
        return [] if not body else [_parse_default(t, inner) for t in body.split(",")]
    if attr_type == "type":
        return DType.parse(text)
    if attr_type == "bool":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"cannot parse default {text!r} for attr type bool")
        return text.lower() == "true"
    if attr_type == "int":
        return int(text)
    if attr_type == "float":
        return float(text)
    if attr_type == "string":
        return text.strip("'\"")
    if attr_type == "shape" and text in ("unknown", "None"):
        return None
    raise ValueError(f"cannot parse default {text!r} for attr type {attr_type}")


def check_attr_value(node_name: str, op_name: str, spec: AttrSpec, value: Any) -> None:
    """ValidationError when ``value`` is not of the declared type, allowed set and minimum."""
    ok = _ATTR_CHECKS.get(spec.type.split("(")[0] if spec.type.startswith("list(") else spec.type)
    if spec.type.startswith("list("):
        inner = spec.type[5:-1]
        good = isinstance(value, (list, tuple)) and all(_ATTR_CHECKS[inner](v) for v in value)
        if good and spec.minimum is not None and len(value) < spec.minimum:
            raise ValidationError(f"node {node_name!r} ({op_name}): attr {spec.name!r} needs at "
                                  f"least {spec.minimum} items, has {len(value)}")
    else:
        good = ok is None or ok(value)
    if not good:
        raise ValidationError(f"node {node_name!r} ({op_name}): attr {spec.name!r} must be of "
                              f"type {spec.type}, got {type(value).__name__} {value!r:.80}")
    values = value if spec.type.startswith("list(") else [value]
    if spec.allowed is not None:
        for v in values:
            if v not in spec.allowed:
                shown = sorted(getattr(a, "tf_name", a) for a in spec.allowed)
                raise ValidationError(
                    f"node {node_name!r} ({op_name}): attr {spec.name!r} = "
                    f"{getattr(v, 'tf_name', v)!r} is not one of {shown}")
    if spec.minimum is not None and spec.type == "int" and value < spec.minimum:
        raise ValidationError(f"node {node_name!r} ({op_name}): attr {spec.name!r} = {value} is "
                              f"below its minimum {spec.minimum}")


def _is_shape(v) -> bool:
    return v is None or (isinstance(v, tuple) and all(d is None or isinstance(d, int)
                                                      for d in v))


_ATTR_CHECKS: dict[str, Callable[[Any], bool]] = {
    "type": lambda v: isinstance(v, DType),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, (str, bytes)),
    "shape": _is_shape,
    "tensor": lambda v: hasattr(v, "dtype") and hasattr(v, "shape"),
    "func": lambda v: isinstance(v, FuncAttr),
}
