"""fuse: folds inference batch normalization into convolution weights and fuses a contraction with
its bias and activation into one node, as TensorFlow's Grappler remapper does.

    Conv2D(x, w) -> Mul(., s) -> AddV2(., t) -> Relu6  =>  _FusedConv2D(x, w*s, t) [BiasAdd, Relu6]
    Conv2D(x, w) -> FusedBatchNormV3(is_training=False) =>  _FusedConv2D(x, w*a, b) [BiasAdd]
    MatMul(a, w) -> BiasAdd(., c) -> Relu              =>  _FusedMatMul(a, w, c) [BiasAdd, Relu]
    Pad(x, [[0,0],[1,1],[1,1],[0,0]]) -> Conv2D VALID   =>  Conv2D(x) padding=SAME (or EXPLICIT)

A chain starts at a Conv2D, DepthwiseConv2dNative or MatMul (or a fused node with only a bias)
and follows sole consumers through per-channel affine steps (BiasAdd; Add/AddV2/Sub/Mul/RealDiv by
a constant broadcasting along the channel axis only; FusedBatchNorm with is_training=False), then
at most one activation. The steps compose into y = scale * contraction + shift in float64: the
scale goes into the constant filter (on its output-channel axis), the shift becomes the bias.
Without constant operands TensorFlow's own forms are used: BiasAdd of any tensor, or (Conv2D)
fused_ops ["FusedBatchNorm", ...] reading the batch norm's parameters.

The fused node takes the last node's name (fetches keep working) and the contraction's device.
Never fused: intermediate nodes that are preserved or have other users, nodes on other devices,
dtypes or attrs the fused op does not declare (float types only). Constants are read from Const
nodes (prune removes the Identity in between first).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from passes import fold_batch_norm as fold
from passes.base import PassContext, PassResult, count, register_pass
from passes.edit import move_control_users
from schema.infer import infer_node
from schema.ir import Graph, Node, TensorRef
from schema.ops.fused import FUSED_FIRST_OPS, fused_channel_axis
from schema.ops.nn import batch_norm_channel_axis
from schema.ops.nn_conv import LAYOUTS, window_output
from schema.registry import NO_DEFAULT, OpDef, find_op

__all__ = ["fuse"]


# Graph op -> (fused_ops name, {its attr: the fused node's attr}); TensorFlow's CPU activations.
_ACTIVATIONS = {"Relu": ("Relu", {}), "Relu6": ("Relu6", {}), "Elu": ("Elu", {}),
                "LeakyRelu": ("LeakyRelu", {"alpha": "leakyrelu_alpha"})}
_NO_LEAKY = frozenset(_ACTIVATIONS) - {"LeakyRelu"}  # TensorFlow's fused depthwise lacks it


@dataclasses.dataclass(frozen=True)
class Contraction:
    fused_op: str
    scale_filter: fold.ScaleFilter         # (w, scale, head) -> the scaled filter
    stat: str
    rank: int = 4
    activations: frozenset = frozenset(_ACTIVATIONS)


_CONTRACTIONS = {
    "Conv2D": Contraction("_FusedConv2D", fold.scale_conv2d_filter, "conv_bias_activation"),
    "DepthwiseConv2dNative": Contraction("_FusedDepthwiseConv2dNative", fold.scale_depthwise_filter,
                                         "conv_bias_activation", activations=_NO_LEAKY),
    "MatMul": Contraction("_FusedMatMul", fold.scale_matmul_filter, "matmul_bias_activation", 2),
}
_BY_FUSED = {c.fused_op: c for c in _CONTRACTIONS.values()}
_HEADS = _CONTRACTIONS.keys() | _BY_FUSED.keys()


@dataclasses.dataclass
class Chain:
    """What a matched chain computes: scale * head + shift (or a non-constant first op)."""
    head: Node
    spec: Contraction
    axis: int                              # the output's channel axis
    channels: int
    filter: Optional[np.ndarray]           # the head's filter when it is a Const
    scale: np.ndarray
    shift: np.ndarray
    nodes: list = dataclasses.field(default_factory=list)
    has_bias: bool = False
    dynamic: Optional[tuple] = None        # (first fused op, [arg refs], {attrs})
    activation: Optional[tuple] = None     # (fused_ops name, {attrs})
    scaled: bool = False
    batch_norms: int = 0


@register_pass("fuse")
def fuse(graph: Graph, ctx: PassContext) -> PassResult:
    stats: dict[str, int] = {}
    for node in graph.topological_order():
        if graph.nodes.get(node.name) is node and node.op in _HEADS:
            _fold_pad(graph, ctx, node, stats)
    for node in graph.topological_order():
        chain = _match_chain(graph, ctx, node) if graph.nodes.get(node.name) is node else None
        if chain is not None:
            _emit(graph, ctx, chain, stats)
    return PassResult(graph, bool(stats), stats)


def _per_channel(chain: Chain, ref: TensorRef) -> Optional[np.ndarray]:
    """A finite constant broadcasting along the channel axis only, as float64 [C]; else None."""
    return fold.per_channel_const(ref, chain.spec.rank, chain.axis, chain.channels)


# -- matching ----------------------------------------------------------------------------------

def _match_chain(graph: Graph, ctx: PassContext, head: Node) -> Optional[Chain]:
    chain = _start(head)
    current = head
    while chain is not None and chain.activation is None:
        user = _sole_consumer(graph, ctx, current)
        step = _STEPS.get(user.op) if user is not None else None
        if step is None or not step(ctx, chain, user, current.output(0)):
            break
        chain.nodes.append(user)
        current = user
    return chain if chain is not None and chain.nodes else None


def _start(head: Node) -> Optional[Chain]:
    spec = _CONTRACTIONS.get(head.op) or _BY_FUSED.get(head.op)
    if spec is None or head.num_outputs != 1 or not head.out_types[0].is_floating:
        return None
    shape = head.out_shapes[0]
    if shape is None or len(shape) != spec.rank:
        return None
    axis = fused_channel_axis(head.attrs.get, spec.rank)
    if shape[axis] is None or not _expressible(head, find_op(spec.fused_op)):
        return None
    chain = Chain(head, spec, axis, shape[axis], fold.float_const(head.inputs[1]),
                  np.ones(shape[axis]), np.zeros(shape[axis]))
    if head.op != spec.fused_op:
        return chain
    # A fused node with only a bias may take more steps: its bias is the starting shift.
    if list(head.attrs.get("fused_ops", [])) != ["BiasAdd"]:
        return None
    bias, chain.has_bias = _per_channel(chain, head.inputs[2]), True
    if bias is None:
        chain.dynamic = ("BiasAdd", [head.inputs[2]], {})
    else:
        chain.shift = bias
    return chain


def _expressible(head: Node, fused: OpDef) -> bool:
    """The head's attrs fit the fused op: allowed values, or defaults of attrs it lacks.
    Internal attrs ("_class", "_output_shapes") are not carried over."""
    if head.op == fused.name:
        return True
    for key, value in head.attrs.items():
        spec = fused.attrs.get(key)
        if key.startswith("_"):
            continue
        if spec is None:
            own = head.op_def.attrs.get(key)
            if own is None or own.default is NO_DEFAULT or value != own.default:
                return False
        elif spec.allowed is not None and value not in spec.allowed:
            return False
    return True


def _sole_consumer(graph: Graph, ctx: PassContext, node: Node) -> Optional[Node]:
    """The only node reading ``node`` by data (its output 0, once), on the same device."""
    if ctx.is_preserved(node):
        return None
    readers = [pair for ref in node.outputs for pair in graph.consumers(ref)]
    if len(readers) != 1 or readers[0][0].inputs[readers[0][1]].index != 0:
        return None
    user = readers[0][0]
    return user if user.device == node.device and user.op_def is not None else None


def _affine(chain: Chain, a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
    """Applies y -> a*y + b; refused after a non-constant op, and a scale without a constant
    filter."""
    if chain.dynamic is not None or (a is not None and chain.filter is None):
        return False
    chain.scale, chain.shift = fold.compose_affine(chain.scale, chain.shift, a, b)
    chain.scaled |= a is not None
    chain.has_bias |= b is not None
    return True


def _bias_step(ctx, chain: Chain, user: Node, ref: TensorRef) -> bool:
    if user.inputs[0] != ref or fused_channel_axis(user.attrs.get, chain.spec.rank) != chain.axis:
        return False
    bias = _per_channel(chain, user.inputs[1])
    if bias is not None:
        return _affine(chain, None, bias)
    if chain.nodes or chain.has_bias:
        return False
    chain.dynamic, chain.has_bias = ("BiasAdd", [user.inputs[1]], {}), True
    return True


def _binary_step(combine: Callable) -> Callable:
    """A step ``x op c`` or ``c op x`` with c per-channel: combine(c, x_first) -> (a, b)|None."""
    def step(ctx, chain: Chain, user: Node, ref: TensorRef) -> bool:
        if len(user.inputs) != 2 or user.inputs[0] == user.inputs[1]:
            return False
        first = user.inputs[0] == ref
        value = _per_channel(chain, user.inputs[1 if first else 0])
        affine = combine(value, first) if value is not None else None
        return affine is not None and _affine(chain, *affine)
    return step


def _batch_norm_step(ctx, chain: Chain, user: Node, ref: TensorRef) -> bool:
    """FusedBatchNorm in inference mode: folded when its parameters and the filter are
    constant, else (Conv2D, first step) TensorFlow's fused_ops ["FusedBatchNorm"]."""
    rank, axis = batch_norm_channel_axis(user.attrs.get("data_format", "NHWC"))
    if (user.attrs.get("is_training", True) or user.inputs[0] != ref or axis != chain.axis
            or rank != chain.spec.rank or ctx.is_preserved(user)):
        return False
    params = [_per_channel(chain, r) for r in user.inputs[1:5]]
    epsilon = float(user.attrs.get("epsilon", 1e-4))
    if all(p is not None for p in params) and chain.filter is not None:
        folded = _affine(chain, *fold.batch_norm_affine(*params, epsilon))
        chain.batch_norms += folded
        return folded
    if (chain.nodes or chain.has_bias or "FusedBatchNorm" not in FUSED_FIRST_OPS[
            chain.spec.fused_op] or user.inputs[1].dtype != chain.head.out_types[0]):
        return False
    chain.dynamic = ("FusedBatchNorm", list(user.inputs[1:5]), {"epsilon": epsilon})
    chain.has_bias = True
    return True


def _activation_step(ctx, chain: Chain, user: Node, ref: TensorRef) -> bool:
    if (not chain.nodes and not chain.has_bias  # Conv2D -> Relu alone: TensorFlow leaves it
            or user.op not in chain.spec.activations):
        return False
    name, renames = _ACTIVATIONS[user.op]
    chain.activation = (name, {new: user.attrs[old] for old, new in renames.items()
                               if old in user.attrs})
    return True


_STEPS = {"BiasAdd": _bias_step, "BiasAddV1": _bias_step, "FusedBatchNorm": _batch_norm_step,
          "FusedBatchNormV2": _batch_norm_step, "FusedBatchNormV3": _batch_norm_step,
          **{op: _binary_step(combine) for op, combine in fold.PER_CHANNEL_AFFINE.items()},
          **{op: _activation_step for op in _ACTIVATIONS}}


# -- rewriting ---------------------------------------------------------------------------------

def _emit(graph: Graph, ctx: PassContext, chain: Chain, stats: dict) -> None:
    """Replaces head .. last by one node named like the last; drops constants left unused."""
    head, last, dtype = chain.head, chain.nodes[-1], chain.head.out_types[0]
    new_filter = fold.folded_filter(chain.filter, chain.scale, chain.spec.scale_filter, head,
                               dtype.np) if chain.scaled else None
    shift = chain.shift.astype(dtype.np)
    if not fold.all_finite(new_filter, shift):
        ctx.note(f"fuse: folding into {head.name!r} would overflow {dtype.tf_name}; not fused")
        return
    filter_ref = head.inputs[1] if new_filter is None else fold.add_const(
        graph, f"{last.name}/filter", new_filter, dtype, [head.inputs[1].node])
    if chain.dynamic or chain.activation or chain.has_bias:
        first, args, extra = chain.dynamic or ("BiasAdd", [_bias(graph, chain, shift)], {})
        op, attrs = chain.spec.fused_op, _fused_attrs(chain, first, args, extra)
        count(stats, chain.spec.stat)
        if first == "FusedBatchNorm":
            count(stats, "conv_batchnorm")
    else:
        op, attrs, args = head.op, dict(head.attrs), []
    if chain.scaled:
        count(stats, "batchnorm_folded", max(chain.batch_norms, 1))
    members = [head] + chain.nodes
    controls = list(dict.fromkeys(c for n in members for c in n.control_inputs
                                  if c not in members))
    fused = graph.add_node(op, graph.unique_name(f"{last.name}/fused"),
                           inputs=[head.inputs[0], filter_ref] + args, attrs=attrs,
                           device=head.device, control_inputs=controls)
    _replace(graph, ctx, members, fused)


def _replace(graph: Graph, ctx: PassContext, members: list, fused: Node) -> None:
    """Users of the last member read ``fused``, which then takes its name; control users of
    every member wait for ``fused``."""
    last, name = members[-1], members[-1].name
    graph.replace_all_uses(last.output(0), fused.output(0))
    for node in members:
        for user in graph.users(node):
            if user in members:
                graph.remove_control_input(user, node)
        move_control_users(graph, node, [fused])
    sources = [r.node for n in members for r in n.inputs]
    for node in reversed(members):
        graph.remove_node(node)
    graph.rename(fused, name)
    _drop_dead(graph, ctx, sources)


def _bias(graph: Graph, chain: Chain, shift: np.ndarray) -> TensorRef:
    """The shift as a [C] tensor: an existing Const holding exactly it, else a new one."""
    refs = [r for n in chain.nodes for r in n.inputs] + chain.head.inputs[2:]
    return fold.bias_const(graph, refs, shift, f"{chain.nodes[-1].name}/bias",
                      chain.head.out_types[0], chain.head)


def _fused_attrs(chain: Chain, first: str, args: list, extra: dict) -> dict:
    fused = find_op(chain.spec.fused_op)
    attrs = {k: v for k, v in chain.head.attrs.items() if k in fused.attrs}
    activation = [chain.activation[0]] if chain.activation else []
    attrs.update(extra, fused_ops=[first] + activation, num_args=len(args))
    attrs.update(chain.activation[1] if chain.activation else {})
    if "TArgs" in fused.attrs:
        attrs.update(TArgs=[r.dtype for r in args], num_host_args=0)
    return attrs


def _drop_dead(graph: Graph, ctx: PassContext, candidates: list) -> None:
    """Removes candidates (and their inputs, in turn) that nothing uses any more."""
    stack = list(candidates)
    while stack:
        node = stack.pop()
        op_def = node.op_def
        if (graph.nodes.get(node.name) is not node or node.users or op_def is None
                or op_def.has_side_effects or op_def.is_feed or not node.num_outputs
                or ctx.is_preserved(node)):
            continue
        stack.extend([r.node for r in node.inputs] + list(node.control_inputs))
        graph.remove_node(node)


# -- Pad before a convolution ----------------------------------------------------------------

def _fold_pad(graph: Graph, ctx: PassContext, conv: Node, stats: dict) -> None:
    """Pad(x, zeros on N and C) -> conv VALID/EXPLICIT  =>  conv(x) SAME when the pads are
    SAME's, else EXPLICIT where the conv (and its fused form) can say it."""
    spec = _CONTRACTIONS.get(conv.op) or _BY_FUSED[conv.op]
    pad = conv.inputs[0].node
    layout = LAYOUTS.get(conv.attrs.get("data_format", "NHWC"))
    if (spec.rank != 4 or pad.op not in ("Pad", "PadV2") or layout is None
            or ctx.is_preserved(pad) or pad.device != conv.device
            or graph.consumers(pad.output(0)) != [(conv, 0)] or not _zero_padded(pad)):
        return
    total = _total_pads(conv, pad, layout)
    if total is None:
        return
    padding = ("VALID" if total == ((0, 0), (0, 0)) else
               "SAME" if _is_same(conv, pad, layout, total) else "EXPLICIT")
    if padding == "EXPLICIT" and not _allows_explicit(conv, spec):
        return
    explicit = [0] * 8
    for axis, pair in zip((layout.height, layout.width), total):
        explicit[2 * axis:2 * axis + 2] = pair
    conv.attrs["padding"] = padding
    if "explicit_paddings" in conv.op_def.attrs:
        conv.attrs["explicit_paddings"] = explicit if padding == "EXPLICIT" else []
    graph.set_input(conv, 0, pad.inputs[0])
    infer_node(conv)
    for ctl in pad.control_inputs:
        graph.add_control_input(conv, ctl)
    move_control_users(graph, pad, [conv])
    sources = [r.node for r in pad.inputs]
    graph.remove_node(pad)
    _drop_dead(graph, ctx, sources)
    count(stats, "pad_folded")


def _zero_padded(pad: Node) -> bool:
    if pad.op == "Pad":
        return True
    value = fold.const_value(pad.inputs[2])
    return value is not None and value.size == 1 and bool(np.all(value == 0))


def _total_pads(conv: Node, pad: Node, layout) -> Optional[tuple]:
    """((top, bottom), (left, right)) of the Pad plus the conv's own; None if not foldable."""
    value = fold.const_value(pad.inputs[1])
    if value is None or value.shape != (4, 2) or value.dtype.kind not in "iu":
        return None
    pairs = [tuple(int(v) for v in row) for row in value]
    if (pairs[layout.batch] != (0, 0) or pairs[layout.channel] != (0, 0)
            or min(min(p) for p in pairs) < 0 or conv.attrs["padding"] not in ("VALID",
                                                                             "EXPLICIT")):
        return None
    own = list(conv.attrs.get("explicit_paddings") or [0] * 8)
    return tuple((pairs[a][0] + own[2 * a], pairs[a][1] + own[2 * a + 1])
                 for a in (layout.height, layout.width))


def _is_same(conv: Node, pad: Node, layout, total: tuple) -> bool:
    """True when SAME padding of the unpadded input gives exactly these pads."""
    shape, kernel = pad.inputs[0].shape, conv.inputs[1].shape
    if shape is None or kernel is None or len(shape) != 4:
        return False
    strides = layout.spatial(conv.attrs["strides"])
    dilations = layout.spatial(conv.attrs.get("dilations", [1, 1, 1, 1]))
    for i, size in enumerate(layout.spatial(shape)):
        if size is None or kernel[i] is None or window_output(
                size, kernel[i], strides[i], dilations[i], "SAME")[1:] != total[i]:
            return False
    return True


def _allows_explicit(conv: Node, spec: Contraction) -> bool:
    defs = [conv.op_def] + ([find_op(spec.fused_op)] if conv.op in _CONTRACTIONS else [])
    return all("explicit_paddings" in d.attrs and "EXPLICIT" in (d.attrs["padding"].allowed or ())
               for d in defs)
