"""TensorFlow device names, full and partial.

    parse_device("/job:localhost/replica:0/task:0/device:CPU:0")
        -> DeviceSpec(job="localhost", replica=0, task=0, type="CPU", index=0)
    canonical_device("/cpu:0") -> "/device:CPU:0";  canonical_device("gpu:1") -> "/device:GPU:1"
"""
from __future__ import annotations

import dataclasses
import re
from typing import Optional

from schema.errors import GraphError

__all__ = ["DeviceSpec", "parse_device", "canonical_device"]

_JOB = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class DeviceSpec:
    job: Optional[str] = None
    replica: Optional[int] = None
    task: Optional[int] = None
    type: Optional[str] = None      # "CPU", "GPU"
    index: Optional[int] = None     # None means any

    def __str__(self) -> str:
        parts = []
        if self.job is not None:
            parts.append(f"/job:{self.job}")
        if self.replica is not None:
            parts.append(f"/replica:{self.replica}")
        if self.task is not None:
            parts.append(f"/task:{self.task}")
        if self.type is not None:
            parts.append(f"/device:{self.type}:{'*' if self.index is None else self.index}")
        return "".join(parts)


def _number(value: str, what: str, spec: str) -> int:
    if not (value.isascii() and value.isdigit()):  # "²".isdigit() is True
        raise GraphError(f"malformed device string {spec!r}: {what} {value!r} is not a number")
    return int(value)


def parse_device(spec: str) -> DeviceSpec:
    """Parses a full or partial device name; GraphError naming the bad part when malformed."""
    fields: dict = {}
    text = spec.strip()
    if not text:
        return DeviceSpec()
    pieces = [p for p in text.strip("/").split("/")]
    for piece in pieces:
        key, _, value = piece.partition(":")
        low = key.lower()
        if low == "job" and _JOB.match(value):
            fields["job"] = value
        elif low in ("replica", "task"):
            fields[low] = _number(value, low, spec)
        elif low == "device":
            kind, _, index = value.partition(":")
            _set_device(fields, kind, index, spec)
        elif low in ("cpu", "gpu", "tpu") or (_TYPE.match(key) and value and key.isupper()):
            _set_device(fields, key, value, spec)
        else:
            raise GraphError(f"malformed device string {spec!r}: cannot parse {piece!r}")
    return DeviceSpec(**fields)


def _set_device(fields: dict, kind: str, index: str, spec: str) -> None:
    if not _TYPE.match(kind):
        raise GraphError(f"malformed device string {spec!r}: bad device type {kind!r}")
    fields["type"] = kind.upper()
    fields["index"] = None if index in ("", "*") else _number(index, "device index", spec)


def canonical_device(spec: str) -> str:
    return str(parse_device(spec))
