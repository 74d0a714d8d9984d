"""layout: Transposes sink through layout-agnostic ops and cancel; structure, validity, equal
outputs, kept names/dtypes/shapes/devices, `modified`, idempotence, stats."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gcc_flow as gf
from gcc_flow.framework import apply_op
from passes.base import PassContext
from runtime.check import check_equivalent
from passes.layout import layout
from schema.serde import graph_from_graph_def, graph_to_graph_def
from schema.validate import validate

NHWC_TO_NCHW, NCHW_TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _layout(g, fetches=("y:0",), **ctx_options):
    """Runs the pass; checks validity, equal outputs, kept fetched tensors, `modified`,
    idempotence and the remaining-count stat. Returns (graph, stats, notes)."""
    graph_def = g.as_graph_def()
    graph = graph_from_graph_def(graph_def)
    before = {f: _describe(graph, f) for f in fetches}
    ctx = PassContext(fetches=list(fetches), **ctx_options)
    result = layout(graph, ctx)
    validate(graph)
    assert result.modified == bool(result.stats.get("cancelled"))
    assert {f: _describe(graph, f) for f in fetches} == before, "a fetched tensor changed"
    check = check_equivalent(graph_def, graph_to_graph_def(graph), list(fetches), trials=2)
    assert check.ok, check.first_mismatch
    remaining = _count(graph, "Transpose")
    if remaining or result.modified:
        assert result.stats["transposes_remaining"] == remaining
        assert f"layout: {remaining} Transpose node(s) remain" in ctx.notes
    again = layout(graph, PassContext(fetches=list(fetches), **ctx_options))
    assert not again.modified and "cancelled" not in again.stats, "a second run changed it"
    return graph, result.stats, ctx.notes


def _describe(graph, fetch):
    ref = graph.tensor(fetch)
    return ref.dtype, ref.shape, ref.node.device


def _count(graph, op):
    return sum(1 for n in graph if n.op == op)


def _const(value, dtype=np.float32):
    return gf.constant(np.asarray(value, dtype))


def _nchw_sandwich(tail=None, keep_dims=True):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 5, 6, 3), name="x")
        t = gf.transpose(x, NHWC_TO_NCHW, name="to_nchw")
        h = apply_op("AddV2", [gf.nn.relu(t), _const(np.arange(3).reshape(1, 3, 1, 1))])
        m = gf.reduce_mean(h, [2, 3], keepdims=keep_dims, name="mean")
        out = gf.transpose(m, NCHW_TO_NHWC, name="y" if tail is None else "back")
        if tail is not None:
            tail(out, name="y")
    return g


def test_nchw_sandwich_loses_every_transpose():
    graph, stats, _ = _layout(_nchw_sandwich())
    assert _count(graph, "Transpose") == 0
    assert stats == {"cancelled": 2, "sunk": 3, "transposes_remaining": 0}
    assert graph.node("y").op == "Identity"  # the fetched Transpose back keeps its name
    relu = graph.node("Relu")
    assert relu.inputs[0].node.name == "x"
    bias = graph.node("AddV2").inputs[1].node
    assert bias.attrs["value"].shape == (1, 1, 1, 3)
    assert graph.node("mean").inputs[1].node.attrs["value"].tolist() == [1, 2]


def test_sandwich_ending_in_an_op_needs_no_identity():
    graph, stats, _ = _layout(_nchw_sandwich(tail=gf.tanh))
    assert _count(graph, "Transpose") == _count(graph, "Identity") == 0
    assert graph.node("y").inputs[0].node.name == "mean"


def test_reduction_without_keep_dims_drops_the_transpose():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 5, 6, 3), name="x")
        gf.reduce_sum(gf.exp(gf.transpose(x, NHWC_TO_NCHW)), [2, 3], name="y")  # [N, C]
    graph, stats, _ = _layout(g)
    assert _count(graph, "Transpose") == 0 and stats["sunk"] == 2
    assert graph.node("y").inputs[1].node.attrs["value"].tolist() == [1, 2]


@pytest.mark.parametrize("reduce", [
    lambda h: gf.reduce_max(h, 0, name="r"),                    # perm left: (2, 0, 1)
    lambda h: gf.argmax(h, 0, name="r"),
    lambda h: gf.squeeze(gf.reduce_min(h, [0], keepdims=True), [0], name="r"),
])
def test_reduction_leaves_a_smaller_perm_that_cancels(reduce):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 5, 6, 3), name="x")
        r = reduce(gf.transpose(x, NHWC_TO_NCHW))                # [C, H, W]
        gf.negative(gf.transpose(r, [1, 2, 0]), name="y")        # [H, W, C]
    graph, _, _ = _layout(g)
    assert _count(graph, "Transpose") == 0


def test_chain_of_elementwise_ops():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        h = gf.transpose(x, [2, 0, 1])
        for fn in (gf.nn.relu, gf.negative, gf.exp, gf.sigmoid, gf.square):
            h = fn(h)
        h = apply_op("Cast", [h], {"DstT": gf.float64})
        gf.transpose(h, [1, 2, 0], name="y")
    graph, stats, _ = _layout(g)
    assert _count(graph, "Transpose") == 0 and stats["sunk"] == 6


def test_integer_and_bool_values_and_n_ary_ops():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.int32, (2, 3, 4), name="x")
        z = gf.placeholder(gf.int32, (2, 3, 4), name="z")
        tx, tz = gf.transpose(x, [1, 2, 0]), gf.transpose(z, [1, 2, 0])   # [3, 4, 2]
        s = apply_op("AddN", [[tx, tz, _const(np.arange(24).reshape(3, 4, 2), np.int32)]])
        s = apply_op("ClipByValue", [s, _const(np.full((3, 4, 2), -3), np.int32),
                                     _const(4, np.int32)])
        big = apply_op("LogicalNot", [apply_op("Greater", [s, _const([1, 0], np.int32)])])
        pick = apply_op("SelectV2", [big, s, _const(-1, np.int32)])
        gf.transpose(pick, [2, 0, 1], name="y")
    graph, stats, _ = _layout(g)
    assert _count(graph, "Transpose") == 0 and stats["cancelled"] == 3
    assert graph.node("y").out_types[0] == gf.int32


def test_perms_that_do_not_cancel_compose_into_one_transpose():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        gf.transpose(gf.tanh(gf.transpose(x, [1, 0, 2])), [0, 2, 1], name="y")
    graph, stats, _ = _layout(g)
    (t,) = [n for n in graph if n.op == "Transpose"]
    assert t.name == "y" and t.inputs[0].node.op == "Tanh"
    assert t.inputs[1].node.attrs["value"].tolist() == [1, 2, 0]
    assert stats["cancelled"] == 1


def test_transpose_of_transpose():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        gf.tanh(gf.transpose(gf.transpose(x, [1, 2, 0]), [2, 0, 1]), name="y")
    graph, stats, _ = _layout(g)
    assert _count(graph, "Transpose") == 0 and stats["cancelled"] == 2


def test_binary_op_with_two_transposed_inputs():
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float32, (2, 5, 6, 3), name="a")
        b = gf.placeholder(gf.float32, (2, 5, 6, 3), name="b")
        d = apply_op("Sub", [gf.transpose(a, NHWC_TO_NCHW), gf.transpose(b, NHWC_TO_NCHW)])
        gf.transpose(gf.nn.relu(d), NCHW_TO_NHWC, name="y")
    graph, stats, _ = _layout(g)
    assert _count(graph, "Transpose") == 0 and stats["cancelled"] == 3
    assert [r.node.name for r in graph.node("Sub").inputs] == ["a", "b"]


@pytest.mark.parametrize("shape", [(), (1,), (6,), (5, 1), (3, 1, 1), (1, 3, 5, 6), (1, 1, 1, 1)])
def test_binary_op_with_a_broadcast_constant(shape):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 6, 3, 5), name="x")
        c = _const(np.arange(int(np.prod(shape))).reshape(shape) + 1.0)
        h = apply_op("RealDiv", [c, gf.transpose(x, [0, 2, 3, 1])])  # [2, 3, 5, 6]
        gf.transpose(h, [0, 3, 1, 2], name="y")
    graph, _, _ = _layout(g)
    assert _count(graph, "Transpose") == 0


def test_scalar_and_all_ones_tensors_pass_unchanged():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        s = gf.placeholder(gf.float32, (), name="s")
        ones = gf.placeholder(gf.float32, (1, 1), name="ones")
        h = apply_op("Mul", [apply_op("AddV2", [gf.transpose(x, [2, 0, 1]), s]), ones])
        gf.transpose(h, [1, 2, 0], name="y")
    graph, _, _ = _layout(g)
    assert _count(graph, "Transpose") == 0
    assert graph.node("AddV2").inputs[1].node.name == "s"


@pytest.mark.parametrize("pad", [
    lambda h: gf.pad(h, [[0, 1], [2, 0], [1, 1], [0, 3]]),
    lambda h: gf.pad(h, [[0, 1], [2, 0], [1, 1], [0, 3]], constant_values=7.0),
    lambda h: gf.pad(h, [[0, 0], [2, 1], [1, 1], [0, 2]], mode="REFLECT"),
    lambda h: gf.pad(h, [[1, 0], [0, 3], [1, 0], [0, 0]], mode="SYMMETRIC"),
])
def test_pad_permutes_the_paddings(pad):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 5, 6, 3), name="x")
        gf.transpose(pad(gf.transpose(x, NHWC_TO_NCHW)), NCHW_TO_NHWC, name="y")
    graph, stats, _ = _layout(g)
    assert _count(graph, "Transpose") == 0 and stats["sunk"] == 1


def test_concat_remaps_the_axis():
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float32, (2, 5, 6, 3), name="a")
        b = gf.placeholder(gf.float32, (2, 5, 6, 4), name="b")
        c = gf.concat([gf.transpose(a, NHWC_TO_NCHW), gf.transpose(b, NHWC_TO_NCHW),
                       _const(np.ones((2, 1, 5, 6)))], axis=1)
        gf.transpose(c, NCHW_TO_NHWC, name="y")
    graph, _, _ = _layout(g)
    assert _count(graph, "Transpose") == 0
    assert graph.node("concat").inputs[3].node.attrs["value"].tolist() == 3


def test_fetched_node_inside_the_region_keeps_its_name():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        r = gf.nn.relu(gf.transpose(x, [2, 0, 1]), name="r")
        gf.transpose(gf.exp(r), [1, 2, 0], name="y")
    graph, stats, _ = _layout(g, fetches=("r:0", "y:0"))
    assert graph.node("r").op == "Transpose" and stats["cancelled"] == 1
    assert graph.node("r").inputs[0].node.name == "r/untransposed"
    assert _count(graph, "Transpose") == 1


def test_a_user_that_cannot_take_it_keeps_the_transpose():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        t = gf.transpose(x, [2, 0, 1])
        gf.nn.relu(t, name="y")
        gf.nn.softmax(t, name="z")
    graph, stats, _ = _layout(g, fetches=("y:0", "z:0"))
    assert stats == {"transposes_remaining": 1}
    assert graph.node("y").inputs[0].node.op == "Transpose"


def test_two_users_that_both_need_it_back_are_not_duplicated():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        t = gf.transpose(x, [2, 0, 1])
        gf.nn.relu(t, name="y")
        gf.tanh(t, name="z")
    graph, stats, _ = _layout(g, fetches=("y:0", "z:0"))
    assert "cancelled" not in stats and _count(graph, "Transpose") == 1


def test_partial_sinking_when_it_still_removes_a_transpose():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        r = gf.nn.relu(gf.transpose(x, [2, 0, 1]))
        gf.tanh(gf.transpose(r, [1, 2, 0]), name="y")
        gf.sigmoid(r, name="s1")
        gf.nn.softmax(r, name="s2")
    graph, stats, _ = _layout(g, fetches=("y:0", "s1:0", "s2:0"))
    (back,) = [n for n in graph if n.op == "Transpose"]
    assert back.inputs[0].node.op == "Relu"  # one Transpose after Relu serves both users
    assert graph.node("y").inputs[0].node.op == "Relu" and stats["cancelled"] == 1


def test_non_constant_perm_is_left_alone():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3), name="x")
        p = gf.placeholder(gf.int32, (2,), name="p")
        gf.transpose(gf.nn.relu(gf.transpose(x, p)), [1, 0], name="y")
    graph = graph_from_graph_def(g.as_graph_def())
    result = layout(graph, PassContext(fetches=["y:0"]))
    assert not result.modified and result.stats == {"transposes_remaining": 2}


def test_identity_perm_transpose_is_removed():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3), name="x")
        gf.exp(gf.transpose(x, [0, 1]), name="y")
    graph, stats, _ = _layout(g)
    assert _count(graph, "Transpose") == 0 and stats["cancelled"] == 1


def test_control_edges_devices_and_dtypes_are_kept():
    g = gf.Graph()
    with g.as_default(), gf.device("/cpu:0"):
        x = gf.placeholder(gf.float64, (2, 3, 4), name="x")
        gate = gf.no_op(name="gate")
        with gf.control_dependencies([gate]):
            t = gf.transpose(x, [2, 0, 1], name="t")
        h = gf.nn.relu(t, name="h")
        with gf.control_dependencies([t.op]):
            after = gf.no_op(name="after")
        gf.transpose(apply_op("Mul", [h, 2.0]), [1, 2, 0], name="y")
    graph, _, _ = _layout(g, fetches=("y:0",), targets=["after"])
    assert _count(graph, "Transpose") == 0
    assert [c.name for c in graph.node("h").control_inputs] == ["gate"]
    assert {c.name for c in graph.node("after").control_inputs} == {"x", "gate"}
    assert all(n.device == graph.node("x").device for n in graph)
    assert graph.node("y").out_types[0] == gf.float64


def test_constant_over_the_byte_cap_blocks_sinking():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3, 4), name="x")
        h = apply_op("AddV2", [gf.transpose(x, [2, 0, 1]), _const(np.ones((4, 2, 3)))])
        gf.transpose(h, [1, 2, 0], name="y")
    graph, stats, notes = _layout(g, max_folded_bytes=64)
    assert "cancelled" not in stats and any("max_folded_bytes" in n for n in notes)


_UNARY = [gf.nn.relu, gf.negative, gf.tanh, gf.abs]


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_random_chains_never_add_transposes(data):
    rank = data.draw(st.integers(2, 4))
    dims = data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, dims, name="x")
        perm = data.draw(st.permutations(range(rank)))
        h = gf.transpose(x, perm)
        for _ in range(data.draw(st.integers(1, 4))):
            h = _random_step(data, h)
        back = data.draw(st.permutations(range(len(h.shape))))
        gf.identity(gf.transpose(h, _const(back, np.int32)), name="y")
    before = _count(graph_from_graph_def(g.as_graph_def()), "Transpose")
    graph, _, _ = _layout(g)
    assert _count(graph, "Transpose") <= before


def _random_step(data, h):
    rank = len(h.shape)
    kind = data.draw(st.sampled_from(["unary", "const", "reduce", "pad"][:1 + 3 * bool(rank)]))
    if kind == "unary":
        return data.draw(st.sampled_from(_UNARY))(h)
    if kind == "const":
        k = data.draw(st.integers(0, rank))
        shape = [data.draw(st.sampled_from([1, d])) for d in h.shape[rank - k:]]
        return apply_op("AddV2", [h, _const(np.arange(np.prod(shape)).reshape(shape))])
    if kind == "reduce":
        axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=2,
                                  unique_by=lambda a: a % rank))
        return gf.reduce_sum(h, axes, keepdims=data.draw(st.booleans()))
    pads = [[data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))] for _ in range(rank)]
    return gf.pad(h, pads)
