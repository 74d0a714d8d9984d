"""Attr values in the IR text form (``schema.text``), written and read back exactly.

    format_value((None, 3))    -> 'shape[?,3]'    (None -> 'shape[*]', () -> 'shape[]')
    format_value([1, 2])       -> '[1, 2]'
    format_value(np.array([0.1, nan], np.float32))  -> 'f32[2]{0.1, nan}'
    parse_value('@f{T=f32}')   -> FuncAttr('f', (('T', DType.FLOAT),))

Scalars: ``true``/``false``, ints, floats as repr (``inf``, ``nan``, ``-nan``), ``"str"`` and
``b"bytes"`` (escapes ``\\n \\t \\r \\\\ \\" \\xHH \\uHHHH \\UHHHHHHHH``), dtypes by short
name. Tensor elements are the shortest decimal that reads back to the same bits, else the bit
pattern (``0x7fc00001``); complex elements are ``re+imj``; string tensors hold b"..." or "..."
items. Shapes carry the ``shape`` prefix so that ``shape[3]`` and the int list ``[3]`` differ.
"""
from __future__ import annotations

import math
import re
import sys
from typing import Any, Callable, Optional

import ml_dtypes
import numpy as np

from schema.dtypes import DType
from schema.errors import DecodeError, GccFlowError
from schema.limits import DEFAULT_LIMITS, Limits
from schema.registry import FuncAttr
from schema.tensors import check_byte_budget

__all__ = ["format_value", "parse_value", "quote", "Cursor", "NAME", "KEY", "INT",
           "ident_text", "dims_text"]

NAME = re.compile(r"[A-Za-z0-9._][A-Za-z0-9_.\-/>]*")    # node, op and function names
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")                # attr names
INT = re.compile(r"[+-]?\d+(?![\w.])")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*&?")             # dtypes, true, false, shape
_NUMBER = re.compile(r"[+-]?(?:inf|nan|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                     r"(?![\w.&])")
_STRING = re.compile(r'b?"(?:[^"\\]|\\.)*"')
_SPACE = re.compile(r"\s*(?:#.*)?")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)")
_NAMED_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}
_ESCAPE_OF = {v: "\\" + k for k, v in _NAMED_ESCAPES.items()}
_COMPONENT = r"(?:0x[0-9a-fA-F]+|inf|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_COMPLEX = re.compile(rf"([+-]?{_COMPONENT})([+-]{_COMPONENT})j")


# -- writing ------------------------------------------------------------------------------------

def quote(text: str | bytes) -> str:
    """'a"b\\n' -> '"a\\"b\\n"';  b'\\xff' -> 'b"\\xff"'. Printable characters stay as they are."""
    if isinstance(text, bytes):
        body = "".join(_ESCAPE_OF.get(c) or (c if " " <= c <= "~" else f"\\x{ord(c):02x}")
                       for c in text.decode("latin-1"))
        return f'b"{body}"'
    if not isinstance(text, str):
        raise TypeError(f"cannot write a {type(text).__name__} as a string")
    return '"' + "".join(_ESCAPE_OF.get(c) or (c if c.isprintable() else _code_escape(c))
                         for c in text) + '"'


def _code_escape(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def ident_text(text: str, pattern: re.Pattern) -> str:
    """A name bare when ``pattern`` allows it, quoted otherwise: 'a/b' -> a/b, 'a b' -> "a b"."""
    return text if pattern.fullmatch(text) else quote(text)


def dims_text(shape) -> str:
    """(None, 3) -> '[?,3]';  None -> '[*]';  () -> '[]'."""
    if shape is None:
        return "[*]"
    return "[" + ",".join("?" if d is None else str(int(d)) for d in shape) + "]"


def _float_text(x: float) -> str:
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return repr(x)


def _func_text(func: FuncAttr) -> str:
    inner = ", ".join(f"{ident_text(k, KEY)}={format_value(v)}" for k, v in func.attrs)
    return f"@{ident_text(func.name, NAME)}" + (f"{{{inner}}}" if inner else "")


def _tensor_text(arr: np.ndarray) -> str:
    dtype = DType.from_numpy(arr.dtype)
    flat = np.ascontiguousarray(arr).reshape(-1)
    items = _ELEMENTS[_element_kind(dtype)][0](flat)
    return f"{dtype.short}{dims_text(arr.shape)}{{{', '.join(items)}}}"


# Checked in order: bool before DType before int (both are int subclasses).
_WRITERS: list[tuple[Any, Callable[[Any], str]]] = [
    ((bool, np.bool_), lambda v: "true" if v else "false"),
    (DType, lambda v: v.short),
    ((int, np.integer), lambda v: str(int(v))),
    ((float, np.floating), lambda v: _float_text(float(v))),
    ((str, bytes), quote),
    ((tuple, type(None)), lambda v: "shape" + dims_text(v)),
    (list, lambda v: "[" + ", ".join(format_value(x) for x in v) + "]"),
    (np.ndarray, _tensor_text),
    (FuncAttr, _func_text),
]


def format_value(value: Any) -> str:
    """One attr value in the text form; TypeError for a value the IR cannot hold."""
    for kinds, write in _WRITERS:
        if isinstance(value, kinds):
            return write(value)
    raise TypeError(f"cannot write a value of type {type(value).__name__} in the text form")


# -- tensor elements ----------------------------------------------------------------------------

_NATIVE_FLOATS = {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)}


_KINDS = {DType.STRING: "string", DType.BOOL: "bool", DType.COMPLEX64: "complex",
          DType.COMPLEX128: "complex"}


def _element_kind(dtype: DType) -> str:
    """How elements are spelled: string, bool, complex, float (f32, bf16, f8...) or int."""
    is_float = dtype.is_floating or dtype.name.startswith("FLOAT8")
    return _KINDS.get(dtype) or ("float" if is_float else "int")


def _rows(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8).reshape(a.size, a.dtype.itemsize)


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (_rows(a) != _rows(b)).any(axis=1)


def _decimal_back(text: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with np.errstate(all="ignore"):
        return text.astype(np.float64).astype(dtype)


def _write_floats(flat: np.ndarray) -> list[str]:
    """Shortest decimals; the exact float64 decimal or the bit pattern where those fail."""
    text = (flat if flat.dtype in _NATIVE_FLOATS else flat.astype(np.float64)).astype(str)
    bad = _differs(flat, _decimal_back(text, flat.dtype))
    if not bad.any():
        return text.tolist()
    out = text.astype(object)
    exact = flat[bad].astype(np.float64).astype(str)
    out[bad] = exact
    worse = np.flatnonzero(bad)[_differs(flat[bad], _decimal_back(exact, flat.dtype))]
    out[worse] = [_hex(flat[i:i + 1]) for i in worse]
    return out.tolist()


def _hex(one: np.ndarray) -> str:
    return f"0x{int.from_bytes(one.tobytes(), sys.byteorder):0{2 * one.dtype.itemsize}x}"


def _write_complex(flat: np.ndarray) -> list[str]:
    real, imag = _write_floats(flat.real.copy()), _write_floats(flat.imag.copy())
    return [f"{r}{'' if i.startswith('-') else '+'}{i}j" for r, i in zip(real, imag)]


def _write_ints(flat: np.ndarray) -> list[str]:
    return flat.astype(_int_carrier(flat.dtype)).astype(str).tolist()


def _int_carrier(dtype: np.dtype) -> type:
    return np.uint64 if ml_dtypes.iinfo(dtype).min == 0 else np.int64


def _read_floats(tokens: list[str], dtype: np.dtype) -> np.ndarray:
    hexes = [i for i, t in enumerate(tokens) if t.startswith("0x")]
    plain = ["0" if t.startswith("0x") else t for t in tokens] if hexes else tokens
    with np.errstate(all="ignore"):
        out = np.array(plain, dtype=np.float64).astype(dtype)
    rows = _rows(out) if hexes else None
    for i in hexes:
        rows[i] = np.frombuffer(int(tokens[i], 16).to_bytes(dtype.itemsize, sys.byteorder),
                                np.uint8)
    return out


def _read_complex(tokens: list[str], dtype: np.dtype) -> np.ndarray:
    parts = [_COMPLEX.fullmatch(t) for t in tokens]
    if not all(parts):
        raise ValueError(f"{tokens[parts.index(None)]!r} is not a complex number re+imj")
    half = np.dtype(np.float32 if dtype == np.complex64 else np.float64)
    out = np.empty(len(tokens), dtype)
    out.real = _read_floats([m.group(1) for m in parts], half)
    out.imag = _read_floats([m.group(2).lstrip("+") for m in parts], half)
    return out


def _read_ints(tokens: list[str], dtype: np.dtype) -> np.ndarray:
    values = [int(t) for t in tokens]
    info = ml_dtypes.iinfo(dtype)
    if values and (min(values) < info.min or max(values) > info.max):
        raise ValueError(f"a value is outside [{info.min}, {info.max}]")
    return np.array(values, dtype=_int_carrier(dtype)).astype(dtype)


def _read_bools(tokens: list[str], dtype: np.dtype) -> np.ndarray:
    bad = [t for t in tokens if t not in ("true", "false")]
    if bad:
        raise ValueError(f"{bad[0]!r} is not true or false")
    return np.array([t == "true" for t in tokens], dtype=np.bool_)


_ELEMENTS = {  # kind -> (writer of flat elements, reader of element tokens)
    "float": (_write_floats, _read_floats),
    "complex": (_write_complex, _read_complex),
    "int": (_write_ints, _read_ints),
    "bool": (lambda flat: np.where(flat, "true", "false").tolist(), _read_bools),
    "string": (lambda flat: [quote(v) for v in flat],
               lambda items, _: np.array(items, dtype=object).reshape(len(items))),
}


# -- reading ------------------------------------------------------------------------------------

class Cursor:
    """A position in one line, with token readers that raise DecodeError naming line and column."""

    def __init__(self, text: str, lineno: int = 1, limits: Limits = DEFAULT_LIMITS):
        self.text, self.pos, self.lineno, self.limits = text, 0, lineno, limits

    def fail(self, message: str) -> DecodeError:
        return DecodeError(f"line {self.lineno}, column {self.pos + 1}: {message}")

    def found(self) -> str:
        rest = self.text[self.pos:self.pos + 20]
        return repr(rest) if rest else "the end of the line"

    def skip(self) -> None:
        """Past spaces and a '#' comment."""
        self.pos = _SPACE.match(self.text, self.pos).end()

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise self.fail(f"expected {token!r}, found {self.found()}")

    def match(self, pattern: re.Pattern, what: str) -> str:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if m is None:
            raise self.fail(f"expected {what}, found {self.found()}")
        self.pos = m.end()
        return m.group()

    def separator(self, items: list, close: str, what: str) -> bool:
        """True at ``close`` (consumed); otherwise requires a ',' between items."""
        if self.take(close):
            return True
        if items and not self.take(","):
            raise self.fail(f"expected ',' or {close!r} in {what}, found {self.found()}")
        return False

    def string(self) -> str | bytes:
        """A quoted literal: "..." -> str, b"..." -> bytes."""
        quoted = self.peek('"') or self.peek('b"')
        m = _STRING.match(self.text, self.pos) if quoted else None
        if m is None:
            raise self.fail("unterminated string" if quoted else
                            f"expected a quoted string, found {self.found()}")
        self.pos, token = m.end(), m.group()
        is_bytes = token[0] == "b"
        if is_bytes and not token.isascii():
            raise self.fail(f"non-ASCII character in the bytes literal {token[:40]}")
        body = _ESCAPE.sub(lambda m: self._unescape(m, is_bytes), token[1 + is_bytes:-1])
        return body.encode("latin-1") if is_bytes else body

    def _unescape(self, m: re.Match, is_bytes: bool) -> str:
        code = m.group(1)
        if code in _NAMED_ESCAPES:
            return _NAMED_ESCAPES[code]
        if len(code) > 1 and (code[0] == "x" or not is_bytes) and int(code[1:], 16) <= 0x10FFFF:
            return chr(int(code[1:], 16))
        raise self.fail(f"bad escape sequence {m.group()!r} in a string")

    def ident(self, pattern: re.Pattern, what: str) -> str:
        return self.string() if self.peek('"') else self.match(pattern, what)

    def dims(self, what: str, allow_unknown: bool = True) -> Optional[tuple]:
        """'[?,3]' -> (None, 3);  '[*]' -> None;  '[]' -> ()."""
        self.expect("[")
        if allow_unknown and self.take("*"):
            self.expect("]")
            return None
        dims: list = []
        while not self.separator(dims, "]", what):
            if allow_unknown and self.take("?"):
                dims.append(None)
                continue
            dims.append(int(self.match(INT, f"a dimension of {what}")))
            if dims[-1] < 0:
                raise self.fail(f"negative dimension {dims[-1]} in {what}")
            if len(dims) > self.limits.max_rank:
                raise self.fail(f"{what} has more than max_rank={self.limits.max_rank} dims")
        return tuple(dims)

    def dtype(self) -> DType:
        word = self.match(_WORD, "a dtype")
        try:
            return DType.parse(word)
        except GccFlowError:
            raise self.fail(f"unknown dtype {word!r}") from None

    def value(self, depth: int = 0, in_list: bool = False) -> Any:
        """One attr value, anything ``format_value`` writes."""
        if depth > self.limits.max_recursion_depth:
            raise self.fail(f"attr value nested deeper than {self.limits.max_recursion_depth}")
        if self.peek('"') or self.peek('b"'):
            return self.string()
        if self.peek("["):
            if in_list:
                raise self.fail("a list attr cannot hold a list")
            return self._list(depth)
        if self.take("@"):
            return self._func(depth)
        number = _NUMBER.match(self.text, self.pos)
        if number is not None:
            self.pos = number.end()
            token = number.group()
            return float(token) if any(c in token for c in ".eEin") else int(token)
        return self._word_value()

    def _word_value(self) -> Any:
        start = self.pos
        word = self.match(_WORD, "an attr value")
        if word in ("true", "false"):
            return word == "true"
        if word == "shape" and self.text.startswith("[", self.pos):
            return self.dims("a shape")
        self.pos = start
        dtype = self.dtype()
        if not self.text.startswith("[", self.pos):
            return dtype
        shape = self.dims("a tensor shape", allow_unknown=False)
        self.expect("{")
        return self._tensor_body(dtype, shape)

    def _list(self, depth: int) -> list:
        self.expect("[")
        items: list = []
        while not self.separator(items, "]", "a list"):
            items.append(self.value(depth + 1, in_list=True))
        return items

    def _func(self, depth: int) -> FuncAttr:
        name = self.ident(NAME, "a function name")
        attrs: list = []
        if self.take("{"):
            while not self.separator(attrs, "}", "a function attr"):
                key = self.ident(KEY, "an attr name")
                self.expect("=")
                attrs.append((key, self.value(depth + 1)))
        return FuncAttr(name, tuple(attrs))

    def _tensor_body(self, dtype: DType, shape: tuple) -> np.ndarray:
        """Elements after '{' up to '}': their count must be the shape's, exactly."""
        if not dtype.has_numpy or dtype.is_ref:
            raise self.fail(f"tensors of dtype {dtype.short} cannot hold values")
        count, kind, start = math.prod(shape), _element_kind(dtype), self.pos
        tokens = self._string_items(count) if kind == "string" else self._plain_items()
        if len(tokens) != count:
            self.pos = start
            raise self.fail(f"tensor {dtype.short}{dims_text(shape)} needs {count} values, "
                            f"found {len(tokens)}")
        try:
            check_byte_budget(shape, 8 if kind == "string" else dtype.itemsize, self.limits)
            flat = _ELEMENTS[kind][1](tokens, dtype.np)
        except (ValueError, OverflowError, GccFlowError) as err:
            self.pos = start
            error = type(err) if isinstance(err, GccFlowError) else DecodeError
            raise error(f"line {self.lineno}, column {start + 1}: bad {dtype.short} tensor: "
                        f"{err}") from None
        return flat.reshape(shape)

    def _plain_items(self) -> list[str]:
        end = self.text.find("}", self.pos)
        if end < 0:
            raise self.fail("expected '}' closing the tensor")
        body = self.text[self.pos:end]
        self.pos = end + 1
        return [t.strip() for t in body.split(",")] if body.strip() else []

    def _string_items(self, count: int) -> list:
        items: list = []
        while not self.separator(items, "}", "a string tensor"):
            if len(items) >= count:
                raise self.fail(f"string tensor has more than its {count} values")
            items.append(self.string())
        return items


def parse_value(text: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """'shape[?,3]' -> (None, 3);  'f32[2]{1.0, 2.5}' -> np.array([1.0, 2.5], np.float32)."""
    cursor = Cursor(text, 1, limits)
    value = cursor.value()
    if not cursor.at_end():
        raise cursor.fail(f"unexpected {cursor.found()} after the value")
    return value
