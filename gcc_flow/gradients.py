"""Symbolic reverse-mode differentiation in the graph, as TensorFlow 1.x's ``tf.gradients``.

    x = gf.placeholder(gf.float32, [None, 3]);  w = gf.Variable(np.ones((3, 2), np.float32))
    loss = gf.reduce_sum(gf.nn.relu(gf.matmul(x, w)))
    dw, = gf.gradients(loss, [w])
      -> gradients/Shape, gradients/grad_ys_0 (Fill: ones like loss),
         gradients/Sum_grad/..., gradients/Relu_grad/ReluGrad, gradients/MatMul_grad/MatMul_1

The gradient registry (API shared by every module of ``gcc_flow/grad/``)
-----------------------------------------------------------------------
* ``@register_gradient("Relu")`` registers ``fn(op, *grads)``. ``op`` is the forward
  ``gf.Operation``; ``grads`` holds one entry per OUTPUT of ``op``: a Tensor (already summed
  when several consumers contributed), or None for an output that got no gradient (call
  ``fill_zeros(op, grads)`` for zeros instead). It returns one entry per INPUT of ``op`` (the
  flat ``op.inputs``, N * T lists flattened): a Tensor of the input's shape and dtype, or None
  where the input is not differentiable. A list or tuple; a bare Tensor for one-input ops.

      @register_gradient("Relu")
      def _relu_grad(op, grad):
          return apply_op("ReluGrad", [grad, op.outputs[0]])

* ``register_no_gradient("Shape")``: the op is differentiable nowhere; every input gets None
  and nothing is propagated past it (TensorFlow's ``ops.NotDifferentiable``).
* ``get_gradient_function(op_type)``: the registered function, None for a no-gradient op,
  LookupError for an op type nobody registered (``gf.gradients`` raises it, naming the node,
  only when such an op lies on a path from ``xs`` to ``ys``).
* ``gradient_registry()`` / ``no_gradient_ops()``: copies of both tables (for tests).
* Import these by name (``from gcc_flow.gradients import register_gradient``): after
  ``import gcc_flow``, the attribute ``gcc_flow.gradients`` is the function ``gf.gradients``.
* Helpers for gradient functions: ``fill_zeros`` here; ``gcc_flow.grad._shapes`` has the
  broadcasting reduction (``reduce_to_inputs``), ``shape_of``, ``const_like``...

Gradient functions run inside ``gradients/<op name>_grad/`` name scopes, in the forward op's
graph. Gradients flow only through floating and complex tensors, and resource handles:
integer, bool and string edges carry none. A Variable stands for its resource handle, and the
gradient of a handle is that of the variable's value (as TensorFlow 1.x): ReadVariableOp passes
its gradient to the handle, and a handle forwarded into a cond branch (Switch) or a while loop
(Enter) gets it back out through the control-flow gradients, so reads inside branches and loop
bodies count:

    y = cond(p, lambda: reduce_sum(x @ w), lambda: 0.0);  gf.gradients(y, [w])
      -> ...MatMul_grad/MatMul_1 -> ReadVariableOp_grad -> Switch_grad: Merge(zeros, grad)

A handle's missing gradient is zeros of the variable's value (``zeros_for``). Ops between
``xs`` and ``ys`` that form a cycle (a v1 while loop's NextIteration -> Merge edge) are refused
with a GraphError naming them: the backward walk has no loop machinery yet.
"""
from __future__ import annotations

import contextlib
from collections import deque
from typing import Callable, Optional, Sequence

from gcc_flow.framework import Graph, Operation, Tensor, apply_op, convert_to_tensor
from schema.ir import Node
from schema.dtypes import DType
from schema.errors import GraphError

__all__ = ["gradients", "register_gradient", "register_gradient_region", "register_no_gradient", "get_gradient_function",
           "RegisterGradient", "NotDifferentiable", "NoGradient", "no_gradient"]

GradientFunction = Callable[..., object]
_GRADIENTS: dict[str, Optional[GradientFunction]] = {}


def register_gradient(op_type: str):
    """Decorator: ``@register_gradient("Tanh") def _tanh_grad(op, grad): ...``."""
    if not isinstance(op_type, str) or not op_type:
        raise TypeError("register_gradient needs an op type name")

    def decorate(fn: GradientFunction) -> GradientFunction:
        if op_type in _GRADIENTS:
            raise KeyError(f"a gradient for op type {op_type!r} is already registered")
        _GRADIENTS[op_type] = fn
        return fn
    return decorate


def register_no_gradient(op_type: str) -> None:
    """Declares ``op_type`` not differentiable: its inputs get no gradient through it."""
    if op_type in _GRADIENTS:
        raise KeyError(f"a gradient for op type {op_type!r} is already registered")
    _GRADIENTS[op_type] = None


RegisterGradient = register_gradient      # TensorFlow's spellings
NotDifferentiable = NoGradient = no_gradient = register_no_gradient


_REGION_FINDERS: list[Callable] = []


def register_gradient_region(finder: Callable) -> Callable:
    """Registers ``finder(node) -> region or None``. A region is a group of ops differentiated
    as one unit (a v1 while loop: gcc_flow/grad/control_flow_grad.py): ``region.nodes`` (IR
    nodes), ``region.inputs`` / ``region.outputs`` (Tensors entering / leaving it) and
    ``region.gradient(grads)``: one gradient (or None) per output in, one per input out."""
    _REGION_FINDERS.append(finder)
    return finder


def _regions_in(between: set) -> dict:
    """node -> region, for the nodes of ``between`` that some finder puts in a region."""
    region_of: dict = {}
    for node in between:
        if node in region_of:
            continue
        for finder in _REGION_FINDERS:
            region = finder(node)
            if region is not None:
                region_of.update((member, region) for member in region.nodes)
                break
    return region_of


def _load_gradient_modules() -> None:
    import gcc_flow.grad  # noqa: F401  (registers every family's gradients)


def get_gradient_function(op_type: str) -> Optional[GradientFunction]:
    """The function registered for ``op_type``; None when it is declared not differentiable."""
    _load_gradient_modules()
    if op_type not in _GRADIENTS:
        raise LookupError(f"no gradient defined for op type {op_type!r}")
    return _GRADIENTS[op_type]


def gradient_registry() -> dict[str, GradientFunction]:
    """Op type -> gradient function, for every differentiable op type."""
    _load_gradient_modules()
    return {k: v for k, v in _GRADIENTS.items() if v is not None}


def no_gradient_ops() -> frozenset:
    _load_gradient_modules()
    return frozenset(k for k, v in _GRADIENTS.items() if v is None)


def fill_zeros(op: Operation, grads: Sequence) -> list:
    """``grads`` with each None replaced by zeros like the matching output of ``op``
    (``zeros_for``: the variable's value for a resource output)."""
    like = next((g for g in grads if g is not None), None)
    return [zeros_for(out, like) if g is None else g for out, g in zip(op.outputs, grads)]


def zeros_for(tensor: Tensor, like: Optional[Tensor] = None) -> Tensor:
    """A zero gradient for ``tensor``: ZerosLike(tensor), or for a resource handle zeros of
    its variable's value, computed only where the handle is (a Switch output's stay dead
    with its branch). ``like``: another gradient of the same value (dtype, shape), if any."""
    if tensor.dtype.base != DType.RESOURCE:
        return apply_op("ZerosLike", [tensor])
    from gcc_flow.grad.state_grad import variable_value_zeros
    zeros = variable_value_zeros(tensor, like)
    if zeros is None:
        raise ValueError(f"gradients: cannot tell the value type of resource {tensor.name} "
                         f"(it does not come from a VarHandleOp)")
    return zeros


def _differentiable(dtype: DType) -> bool:
    base = dtype.base
    return base.is_floating or base.is_complex


def _carries_gradient(dtype: DType) -> bool:
    """Edges the walk follows: differentiable values, and resource handles (whose gradient
    is their variable's value's)."""
    return _differentiable(dtype) or dtype.base == DType.RESOURCE


# -- the backward walk -------------------------------------------------------------------------

class _Walk:
    """The ops between ``xs`` and ``ys``, and how many gradient edges each op still awaits.

    between: ops reachable forward from ``xs`` along differentiable edges AND backward from
    ``ys``; pending[op]: number of (consumer, input) edges from op into ``between``.
    """

    def __init__(self, ys: list[Tensor], xs: list[Tensor]):
        reached = self._forward({x.op._node for x in xs})
        self.between = self._backward({y.op._node for y in ys}, reached)
        _load_gradient_modules()
        self.region_of = _regions_in(self.between) if _REGION_FINDERS else {}
        self.pending: dict = {self.unit(n): 0 for n in self.between}
        for node in self.between:
            for ref in self.edges_in(node):
                self.pending[self.unit(ref.node)] += 1

    def unit(self, node):
        """What the walk handles ``node`` as: itself, or the region holding it."""
        return self.region_of.get(node, node)

    def edges_in(self, node) -> list:
        """``node``'s differentiable inputs from ``between``, less those inside its region."""
        region = self.region_of.get(node)
        return [r for r in node.inputs if r.node in self.between and _carries_gradient(r.dtype)
                and (region is None or self.region_of.get(r.node) is not region)]

    @staticmethod
    def _forward(start: set) -> set:
        seen, stack = set(start), list(start)
        while stack:
            node = stack.pop()
            for user in node.users:
                if user not in seen and any(r.node is node and _carries_gradient(r.dtype)
                                            for r in user.inputs):
                    seen.add(user)
                    stack.append(user)
        return seen

    @staticmethod
    def _backward(start: set, reached: set) -> set:
        between = {n for n in start if n in reached}
        stack = list(between)
        while stack:
            node = stack.pop()
            for ref in node.inputs:
                if (ref.node in reached and ref.node not in between
                        and _carries_gradient(ref.dtype)):
                    between.add(ref.node)
                    stack.append(ref.node)
        return between


class _Accumulator:
    """Gradient contributions per tensor; summed with AddN the first time they are read."""

    def __init__(self):
        self.parts: dict = {}

    def add(self, tensor: Tensor, grad: Optional[Tensor]) -> None:
        if grad is not None:
            self.parts.setdefault(tensor._ref, []).append(grad)

    def has_any(self, op: Operation) -> bool:
        return any(self.parts.get(ref) for ref in op._node.outputs)

    def total(self, tensor: Tensor) -> Optional[Tensor]:
        parts = self.parts.get(tensor._ref)
        if not parts:
            return None
        if len(parts) > 1:
            parts[:] = [apply_op("AddN", [list(parts)])]
        return parts[0]


def _expand_variables(items: list) -> list[Tensor]:
    """Each item as the tensor the walk differentiates: a Variable -> its resource handle; a
    reference variable -> its ref tensor; anything else -> a tensor."""
    out = []
    for x in items:
        handle = getattr(x, "handle", None) if not isinstance(x, Tensor) else None
        if handle is not None:
            out.append(handle)
        elif hasattr(x, "_ref_tensor"):
            out.append(x._ref_tensor())
        else:
            out.append(convert_to_tensor(x))
    return out


def _initial_grads(ys: list[Tensor], grad_ys, acc: _Accumulator) -> None:
    grad_ys = [None] * len(ys) if grad_ys is None else list(grad_ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"gradients: {len(ys)} ys but {len(grad_ys)} grad_ys")
    for i, (y, g) in enumerate(zip(ys, grad_ys)):
        if not _differentiable(y.dtype):
            continue
        if g is None:
            shape = apply_op("Shape", [y])
            g = apply_op("Fill", [shape, convert_to_tensor(1, y.dtype.base)],
                         name=f"grad_ys_{i}")
        else:
            g = convert_to_tensor(g, y.dtype.base)
            _check_grad_y_shape(y, g)
        acc.add(y, g)


def _check_grad_y_shape(y: Tensor, g: Tensor) -> None:
    a, b = y.shape, g.shape
    if a is None or b is None:
        return
    if len(a) != len(b) or any(p is not None and q is not None and p != q for p, q in zip(a, b)):
        raise ValueError(f"gradients: grad_ys for {y.name} has shape {list(b)}, but {y.name} "
                         f"has shape {list(a)}")


def _op_input_grads(op: Operation, acc: _Accumulator, colocate: bool) -> list:
    """Calls the op's gradient function; one entry per input (None where none flows)."""
    try:
        fn = get_gradient_function(op.type)
    except LookupError:
        raise LookupError(f"no gradient defined for operation {op.name!r} "
                          f"(op type: {op.type})") from None
    if fn is None:
        return [None] * len(op.inputs)
    graph = op.graph
    device = graph.device(op.device) if colocate else contextlib.nullcontext()
    out_grads = [acc.total(t) for t in op.outputs]
    with graph.name_scope(op.name + "_grad"), device:
        result = fn(op, *out_grads)
    result = list(result) if isinstance(result, (list, tuple)) else [result]
    if len(result) != len(op.inputs):
        raise ValueError(f"gradient function for {op.name!r} ({op.type}) returned "
                         f"{len(result)} gradients for {len(op.inputs)} inputs")
    return result


def _backprop(walk: _Walk, graph: Graph, acc: _Accumulator, stop_ops: set,
              colocate: bool) -> None:
    ready = deque(u for u, count in walk.pending.items() if count == 0)
    while ready:
        unit = ready.popleft()
        if isinstance(unit, Node):
            _node_grads(unit, walk, graph, acc, stop_ops, colocate)
            members = [unit]
        else:
            _region_grads(unit, walk, acc)
            members = [n for n in unit.nodes if n in walk.between]
        for node in members:
            for ref in walk.edges_in(node):
                producer = walk.unit(ref.node)
                walk.pending[producer] -= 1
                if walk.pending[producer] == 0:
                    ready.append(producer)
    stuck = sorted(getattr(u, "name", "a region") for u, count in walk.pending.items()
                   if count > 0)
    if stuck:
        raise GraphError(f"gradients: the ops between xs and ys form a cycle (a v1 while loop?) "
                         f"through {stuck[:5]}: gf.gradients cannot differentiate loops yet")


def _node_grads(node, walk: _Walk, graph: Graph, acc: _Accumulator, stop_ops: set,
                colocate: bool) -> None:
    op = graph._op(node)
    feeds_between = any(r.node in walk.between and _carries_gradient(r.dtype)
                        for r in node.inputs)
    if feeds_between and node not in stop_ops and acc.has_any(op):
        for t_in, g in zip(op.inputs, _op_input_grads(op, acc, colocate)):
            if t_in.op._node in walk.between and _carries_gradient(t_in.dtype):
                acc.add(t_in, g)


def _region_grads(region, walk: _Walk, acc: _Accumulator) -> None:
    grads = [acc.total(t) for t in region.outputs]
    if all(g is None for g in grads):
        return
    for t_in, g in zip(region.inputs, region.gradient(grads)):
        if t_in.op._node in walk.between and _carries_gradient(t_in.dtype):
            acc.add(t_in, g)


def gradients(ys, xs, grad_ys=None, name: str = "gradients",
              colocate_gradients_with_ops: bool = False, gate_gradients: bool = False,
              aggregation_method=None, stop_gradients=None,
              unconnected_gradients: str = "none") -> list:
    """d(sum of ys)/dx for each x in ``xs``: a list with a Tensor, or None where x is not
    connected to ``ys`` (zeros with ``unconnected_gradients="zero"``).

    ``grad_ys`` weights each y (default: ones of y's shape); ``stop_gradients`` tensors are
    treated as constants. ``gate_gradients`` and ``aggregation_method`` are accepted for
    TensorFlow compatibility and change nothing.
    """
    single_x = not isinstance(xs, (list, tuple))
    ys = [convert_to_tensor(y) for y in (ys if isinstance(ys, (list, tuple)) else [ys])]
    xs = list(xs) if not single_x else [xs]
    if unconnected_gradients not in ("none", "zero"):
        raise ValueError(f"unconnected_gradients must be 'none' or 'zero', "
                         f"got {unconnected_gradients!r}")
    if not ys:
        raise ValueError("gradients: ys is empty")
    graph = ys[0].graph
    with graph.as_default(), graph.name_scope(name):
        targets = _expand_variables(xs)
        acc = _Accumulator()
        _initial_grads(ys, grad_ys if grad_ys is None or isinstance(grad_ys, (list, tuple))
                       else [grad_ys], acc)
        walk = _Walk(ys, targets)
        stops = {t.op._node for t in _expand_variables(list(stop_gradients or []))}
        _backprop(walk, graph, acc, stops, colocate_gradients_with_ops)
        return [_result(t, acc, unconnected_gradients) for t in targets]


def _result(target: Tensor, acc: _Accumulator, unconnected: str) -> Optional[Tensor]:
    total = acc.total(target)
    if total is None and unconnected == "zero":
        return zeros_for(target)
    return total
