"""TensorFlow device names, full and partial, and malformed ones.

    parse_device("/cpu:0") -> DeviceSpec(type="CPU", index=0);  canonical -> "/device:CPU:0"
    parse_device("/job:@@@/gpu:banana") -> GraphError naming the string
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.devices import DeviceSpec, canonical_device, parse_device
from schema.errors import GraphError

FULL = "/job:localhost/replica:0/task:0/device:CPU:0"


@pytest.mark.parametrize("text, spec, canonical", [
    (FULL, DeviceSpec("localhost", 0, 0, "CPU", 0), FULL),
    ("/cpu:0", DeviceSpec(type="CPU", index=0), "/device:CPU:0"),
    ("/CPU:0", DeviceSpec(type="CPU", index=0), "/device:CPU:0"),
    ("/device:GPU:1", DeviceSpec(type="GPU", index=1), "/device:GPU:1"),
    ("/device:gpu:1", DeviceSpec(type="GPU", index=1), "/device:GPU:1"),
    ("gpu:0", DeviceSpec(type="GPU", index=0), "/device:GPU:0"),
    ("/gpu:*", DeviceSpec(type="GPU"), "/device:GPU:*"),
    ("/device:CPU", DeviceSpec(type="CPU"), "/device:CPU:*"),
    ("/device:XLA_GPU:3", DeviceSpec(type="XLA_GPU", index=3), "/device:XLA_GPU:3"),
    ("/job:worker/task:3", DeviceSpec(job="worker", task=3), "/job:worker/task:3"),
    ("/job:ps/replica:2", DeviceSpec(job="ps", replica=2), "/job:ps/replica:2"),
    ("/replica:1/device:TPU:7", DeviceSpec(replica=1, type="TPU", index=7),
     "/replica:1/device:TPU:7"),
    ("  /cpu:0  ", DeviceSpec(type="CPU", index=0), "/device:CPU:0"),
    ("", DeviceSpec(), ""),
])
def test_parse_and_canonical(text, spec, canonical):
    assert parse_device(text) == spec
    assert canonical_device(text) == canonical


@pytest.mark.parametrize("text", [
    "/job:@@@/gpu:banana", "/gpu:banana", "/job:", "/job:1abc", "/replica:x", "/task:-1",
    "/device:GPU:-1", "/cpu:1.5", "/foo:bar", "/device:@@:0", "/device::0", "/task:²",
    "/job:localhost:extra", "job", "/device:GPU:0x1",
])
def test_malformed_names_raise_graph_error(text):
    with pytest.raises(GraphError, match="malformed device string"):
        parse_device(text)


def test_error_names_the_string_and_the_bad_part():
    with pytest.raises(GraphError) as info:
        parse_device("/job:@@@/gpu:banana")
    assert "'/job:@@@/gpu:banana'" in str(info.value) and "job:@@@" in str(info.value)
    with pytest.raises(GraphError, match="device index 'banana'"):
        parse_device("/job:w/gpu:banana")


_SPECS = st.builds(
    DeviceSpec,
    job=st.none() | st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
    replica=st.none() | st.integers(0, 99), task=st.none() | st.integers(0, 99),
    type=st.none() | st.sampled_from(["CPU", "GPU", "TPU", "XLA_CPU"]),
    index=st.none() | st.integers(0, 15))


@settings(max_examples=100, deadline=None)
@given(spec=_SPECS)
def test_canonical_form_parses_back(spec):
    if spec.type is None:
        spec = DeviceSpec(spec.job, spec.replica, spec.task)  # an index needs a device type
    assert parse_device(str(spec)) == spec
    assert canonical_device(canonical_device(str(spec))) == str(spec)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=30))
def test_arbitrary_text_parses_or_raises_graph_error(text):
    try:
        spec = parse_device(text)
    except GraphError:
        return
    assert parse_device(str(spec)) == spec
