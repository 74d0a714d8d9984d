"""Loading a GraphDef and running it, TensorFlow 1.x Session style.

    sess = runtime.load("model.pb")
    y = sess.run("y:0", {"x:0": x})                 # a tensor name
    y, _ = sess.run(["y", "init"], {"x": x})        # node names: output 0, or a target (None)

Only the part of the graph the fetches need runs. Each (fetches, feeds) signature is compiled
once into a Plan and reused. Variables live in the Session across run() calls.

Graphs with v1 control flow (Switch, Merge, Enter, Exit, NextIteration...) are checked when
the Session is made (schema.validate.check_control_flow: unpaired control flow is refused) and
run on the dataflow executor (runtime/dataflow.py). Tensors inside a while-loop frame cannot be
fetched or fed, and fetching a dead tensor (an untaken cond branch) is an ExecutionError.

Feeds: numpy arrays must have the tensor's dtype or one that casts to it within the same kind
(float64 -> float32 is accepted, float -> int is a FeedError); Python scalars and lists are
converted to the tensor's dtype. Shapes must agree with the tensor's static shape.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Optional, Union

import numpy as np

from runtime.gpu import compile_for_device, device_kind
from runtime.kernels import KernelContext, compile_node
from runtime.kernels.onnx_ext_sequence import TensorSequence
from runtime.plan import Plan, compile_plan
from runtime.resources import ResourceManager
from schema import graph_pb2
from schema.dtypes import DType
from schema.errors import FeedError, FetchError, GccFlowError, GraphError
from schema.io import parse_graph_def, read_graph_def
from schema.ir import Graph, Node, TensorRef, parse_tensor_name
from schema.limits import DEFAULT_LIMITS, Limits
from schema.serde import graph_from_graph_def
from schema.validate import FrameMap, check_control_flow

__all__ = ["load", "Session"]

Model = Union[str, os.PathLike, bytes, graph_pb2.GraphDef, Graph]


def load(model: Model, device: str = "cpu", *, devices: Optional[list] = None,
         allow_unknown: bool = False, limits: Limits = DEFAULT_LIMITS, **options) -> "Session":
    """A Session over ``model``: a GraphDef, its serialized bytes, a .pb/.pbtxt path, or IR.

    ``device`` runs everything on one device ("cpu", "gpu"). ``devices`` (["cpu:0", "cpu:1",
    "gpu:0"]) places the graph across several (TensorFlow's placer rules plus a cost model),
    partitions it with Send/Recv and runs the partitions concurrently; ``options`` go to the
    placer (allow_soft_placement=True, cost_model=True).
    """
    graph = _as_graph(model, allow_unknown, limits)
    if devices is not None:
        from runtime.multi_device import MultiDeviceSession
        return MultiDeviceSession(graph, devices=devices, limits=limits, **options)
    if options:
        raise GccFlowError(f"unexpected options {sorted(options)} for a one-device session")
    return Session(graph, device=device, limits=limits)


def _as_graph(model: Model, allow_unknown: bool, limits: Limits) -> Graph:
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, os.PathLike)):
        graph_def = read_graph_def(model, limits)
    elif isinstance(model, (bytes, bytearray)):
        graph_def = parse_graph_def(bytes(model), limits=limits)
    elif isinstance(model, graph_pb2.GraphDef):
        graph_def = model
    elif hasattr(model, "SerializeToString") and hasattr(model, "node"):
        # A GraphDef from another protobuf module (TensorFlow's own): same wire format.
        graph_def = parse_graph_def(model.SerializeToString(), limits=limits)
    else:
        raise GccFlowError(f"cannot load a model from {type(model).__name__}")
    return graph_from_graph_def(graph_def, allow_unknown=allow_unknown, limits=limits)


def _device_name(device: str) -> str:
    kind, index = device_kind(device)
    return f"/device:{kind.upper()}:{index}"


class Session:
    def __init__(self, graph: Graph, device: str = "cpu", limits: Limits = DEFAULT_LIMITS):
        self.graph = graph
        self.device = _device_name(device)
        self.limits = limits
        self.resources = ResourceManager()
        # GPU sessions: kernels compiled with xp = cupy, feeds uploaded, fetches copied back.
        self._device_hooks = compile_for_device(graph, device, self.resources, limits)
        self._plans: dict[Any, tuple[Plan, Any]] = {}
        self._kernels: dict[Node, Any] = {}
        self._lock = threading.Lock()
        self._graph_size = len(graph.nodes)
        self._alias_map: Optional[dict] = None
        self._alias_size = -1
        self._frame_map: Optional[FrameMap] = None
        if any(node.op_def is not None and node.op_def.is_control_flow
               for node in graph.nodes.values()):
            self._frame_map = check_control_flow(graph)

    # -- public --------------------------------------------------------------------------
    def run(self, fetches, feed_dict: Optional[dict] = None):
        feed_dict = feed_dict or {}
        if len(self.graph.nodes) != self._graph_size:  # the graph grew (frontend sessions)
            self._plans.clear()
            self._graph_size = len(self.graph.nodes)
            self._frame_map = None
        key = (_hashable(fetches), tuple(_name_of(k) for k in feed_dict))
        entry = self._plans.get(key)
        if entry is None:
            entry = self._compile(fetches, list(feed_dict))
        plan, (structure, feed_refs) = entry
        values = [self._check_feed(ref, feed_dict[name])
                  for ref, name in zip(feed_refs, feed_dict)]
        results = plan.execute(values)
        flat = [None if r is None else _copy_out(r) for r in results]
        return _rebuild(structure, flat)

    def make_callable(self, fetches, feed_list=()):
        """A function taking the feeds positionally, as tf.Session.make_callable."""
        plan, (structure, feed_refs) = self._compile(fetches, list(feed_list))

        def call(*values):
            checked = [self._check_feed(ref, v) for ref, v in zip(feed_refs, values)]
            return _rebuild(structure, [None if r is None else _copy_out(r)
                                        for r in plan.execute(checked)])
        return call

    # -- compilation ---------------------------------------------------------------------
    def _compile(self, fetches, feed_names: list):
        with self._lock:
            structure, names = _flatten(fetches)
            fetch_refs, targets = [], []
            for name in names:
                ref, target = self._resolve_fetch(name)
                fetch_refs.append(ref)
                if target is not None:
                    targets.append(target)
            feed_refs = [self._resolve_feed(name) for name in feed_names]
            plan = self._plan_for(fetch_refs, targets, feed_refs)
            entry = (plan, (structure, feed_refs))
            self._plans[(_hashable(fetches), tuple(_name_of(k) for k in feed_names))] = entry
            return entry

    def _frames(self) -> FrameMap:
        """The whole graph's frames (checked control flow), computed once per graph size."""
        if self._frame_map is None:
            self._frame_map = check_control_flow(self.graph)
        return self._frame_map

    def _plan_for(self, fetch_refs: list, targets: list, feed_refs: list):
        """The executable plan for one signature (MultiDeviceSession plans per device)."""
        plan = compile_plan(self.graph, fetch_refs, targets, feed_refs, self._kernel_for,
                            self.device, self.limits, self._frames)
        if self._device_hooks is not None:
            plan = self._device_hooks.wrap_plan(plan)
        return plan

    def _kernel_for(self, node: Node):
        if self._device_hooks is not None:
            return self._device_hooks.kernel_for(node)
        fn = self._kernels.get(node)
        if fn is None:
            ctx = KernelContext(node=node, device="cpu", resources=self.resources,
                                limits=self.limits)
            fn = self._kernels[node] = compile_node(ctx)
        return fn

    def _resolve_fetch(self, name) -> tuple[Optional[TensorRef], Optional[Node]]:
        name = _name_of(name)
        if not isinstance(name, str):
            raise FetchError(f"a fetch must be a tensor or node name, got {type(name).__name__}")
        try:
            return self._resolve_fetch_name(name)
        except FetchError:
            aliased = self._aliased(name)
            if aliased is None:
                raise
            return aliased, None

    def _resolve_fetch_name(self, name: str) -> tuple[Optional[TensorRef], Optional[Node]]:
        if name.startswith("^"):
            return None, self._node(name[1:], FetchError, "fetch")
        if ":" in name:
            return self._tensor(name, FetchError, "fetch"), None
        node = self._node(name, FetchError, "fetch")
        if node.num_outputs == 0:
            return None, node
        return node.output(0), None

    def _resolve_feed(self, name) -> TensorRef:
        name = _name_of(name)
        if not isinstance(name, str):
            raise FeedError(f"a feed key must be a tensor name, got {type(name).__name__}")
        try:
            return self._tensor(name, FeedError, "feed")
        except FeedError:
            aliased = self._aliased(name)
            if aliased is None:
                raise
            return aliased

    def _aliased(self, name: str) -> Optional[TensorRef]:
        """A tensor named by a node's ``_alias`` attr (an imported model's original name, which
        may contain any character); exact TensorFlow names always win over aliases."""
        if self._alias_map is None or self._alias_size != len(self.graph.nodes):
            self._alias_map = {node.attrs["_alias"]: node.output(0) for node in self.graph
                               if isinstance(node.attrs.get("_alias"), str) and node.num_outputs}
            self._alias_size = len(self.graph.nodes)
        return self._alias_map.get(name)

    def _node(self, name: str, error, what: str) -> Node:
        node = self.graph.nodes.get(name)
        if node is None:
            raise error(f"{what} {name!r}: the graph has no node named {name!r}")
        return node

    def _tensor(self, name: str, error, what: str) -> TensorRef:
        try:
            node_name, index = parse_tensor_name(name)
        except GraphError as err:
            raise error(f"{what} {name!r}: {err}") from None
        node = self._node(node_name, error, what)
        if index >= node.num_outputs:
            raise error(f"{what} {name!r}: node {node_name!r} ({node.op}) has "
                        f"{node.num_outputs} outputs")
        return node.output(index)

    # -- feeds ---------------------------------------------------------------------------
    def _check_feed(self, ref: TensorRef, value) -> Any:
        dtype = ref.dtype.base
        if dtype == DType.VARIANT and isinstance(value, (list, tuple)):
            return TensorSequence(np.asarray(v) for v in value)   # an ONNX sequence
        if dtype in (DType.INVALID, DType.RESOURCE, DType.VARIANT):
            return value
        target = dtype.np
        if isinstance(value, np.ndarray) or np.isscalar(value) and isinstance(value, np.generic):
            arr = np.asarray(value)
            if arr.dtype != target:
                if dtype == DType.STRING or not np.can_cast(arr.dtype, target, "same_kind"):
                    raise FeedError(f"feed {ref.name}: expected {dtype.tf_name}, got an array of "
                                    f"{arr.dtype}")
                arr = arr.astype(target)
        else:
            try:
                arr = np.asarray(value, dtype=target)
            except (TypeError, ValueError) as err:
                raise FeedError(f"feed {ref.name}: cannot convert {type(value).__name__} to "
                                f"{dtype.tf_name}: {err}") from None
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        _check_shape(ref, arr.shape)
        return arr if self._device_hooks is None else self._device_hooks.feed(ref, arr)


def _name_of(fetch):
    """Accepts objects with a TensorFlow-style name (the frontend's Tensor and Operation)
    without importing the frontend: a tensor has ``value_index``, an operation ``node_def``."""
    if isinstance(fetch, str):
        return fetch
    element = getattr(fetch, "_as_graph_element", None)  # a Variable fetches its value
    if callable(element):
        fetch = element()
    if hasattr(fetch, "value_index") and isinstance(getattr(fetch, "name", None), str):
        return fetch.name
    if hasattr(fetch, "node_def") and isinstance(getattr(fetch, "name", None), str):
        return "^" + fetch.name
    return fetch


def _check_shape(ref: TensorRef, shape: tuple) -> None:
    static = ref.shape
    if static is None:
        return
    if len(static) != len(shape) or any(s is not None and s != d for s, d in zip(static, shape)):
        shown = [("?" if d is None else d) for d in static]
        raise FeedError(f"feed {ref.name}: expected shape {shown}, got {list(shape)}")


def _copy_out(value):
    if isinstance(value, TensorSequence):   # a variant holding tensors: fetched whole
        return TensorSequence(np.array(v, copy=True) for v in value)
    return np.array(value, copy=True)


def _hashable(fetches):
    fetches = _name_of(fetches)
    if isinstance(fetches, list):
        return ("list",) + tuple(_hashable(f) for f in fetches)
    if isinstance(fetches, tuple):
        return ("tuple",) + tuple(_hashable(f) for f in fetches)
    if isinstance(fetches, dict):
        return ("dict",) + tuple((k, _hashable(v)) for k, v in fetches.items())
    return fetches


def _flatten(fetches) -> tuple[Any, list]:
    """(structure, flat names): a str, or nested lists/tuples/dicts of them."""
    names: list = []

    def walk(f):
        if isinstance(f, (list, tuple)):
            return (type(f), [walk(x) for x in f])
        if isinstance(f, dict):
            return (dict, [(k, walk(v)) for k, v in f.items()])
        names.append(f)
        return len(names) - 1
    return walk(fetches), names


def _rebuild(structure, flat: list):
    if isinstance(structure, int):
        return flat[structure]
    kind, items = structure
    if kind is dict:
        return {k: _rebuild(v, flat) for k, v in items}
    return kind(_rebuild(x, flat) for x in items)
