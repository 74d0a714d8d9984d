"""TensorFlow's v1 dynamic control flow, with TensorFlow's op names and attrs, and the stacks that
while-loop gradients use.

    Switch(f32[3], pred: bool[]) -> (output_false f32[3], output_true f32[3]); one of them is dead
    Merge([f32[3], f32[?]])      -> (output f32[?], value_index i32[])
    Enter(x, frame_name="while/while_context") -> x inside the loop frame;  Exit(x) -> back out
    NextIteration(x) -> x in the next iteration;  LoopCond(bool[]) -> bool[] (the loop's pivot)

Every op here carries the registry flag ``control_flow`` (``op_def.is_control_flow``): passes
ask it instead of listing names. What each op does to frames is its *role* (``flow_role``),
used by validation and the dynamic executor:

    FLOW_ROLES["RefEnter"] -> "enter";  flow_role(node) -> "merge" / None for ordinary ops

A back edge is an edge from a NextIteration into a Merge (``is_back_edge``): topological
orders leave it out, so a well-formed loop is no cycle.
"""
from __future__ import annotations

from typing import Optional

from schema.registry import op
from schema.shapes import same_as_input, scalar

__all__ = ["FLOW_ROLES", "flow_role", "is_back_edge", "NEXT_ITERATION_OPS", "MERGE_OPS",
           "merge_shapes"]

# op name -> role in the frame/iteration model (TensorFlow's IsSwitch, IsMerge, IsEnter...).
FLOW_ROLES: dict[str, str] = {
    "Switch": "switch", "RefSwitch": "switch", "Merge": "merge", "RefMerge": "merge",
    "Enter": "enter", "RefEnter": "enter", "Exit": "exit", "RefExit": "exit",
    "NextIteration": "next_iteration", "RefNextIteration": "next_iteration",
    "LoopCond": "loop_cond", "ControlTrigger": "control_trigger",
}
NEXT_ITERATION_OPS = frozenset(k for k, v in FLOW_ROLES.items() if v == "next_iteration")
MERGE_OPS = frozenset(k for k, v in FLOW_ROLES.items() if v == "merge")


def flow_role(node) -> Optional[str]:
    """The control-flow role of an IR node ("switch", "merge", "enter"...), None otherwise."""
    return FLOW_ROLES.get(node.op)


def is_back_edge(source, user) -> bool:
    """True for an edge NextIteration -> Merge: the edge that closes a loop."""
    return source.op in NEXT_ITERATION_OPS and user.op in MERGE_OPS


# -- shape functions ---------------------------------------------------------------------------

def _known_input_shape(ctx, i: int):
    """Input i's shape; unknown while its producer is not inferred yet (a back edge)."""
    ref = ctx.node.inputs[i]
    shapes = ref.node.out_shapes
    return shapes[ref.index] if ref.index < len(shapes) else None


def merge_shapes(shapes: list):
    """TensorFlow's MergeShape: dims that differ become unknown; ranks that differ, or any
    unknown rank, give an unknown shape.  [(2, 3), (2, 4)] -> (2, None)"""
    out = shapes[0]
    for shape in shapes[1:]:
        if out is None or shape is None or len(shape) != len(out):
            return None
        out = tuple(a if a == b else None for a, b in zip(out, shape))
    return out


def _merge_shape(ctx):
    shapes = [_known_input_shape(ctx, i) for i in range(ctx.num_inputs)]
    return [merge_shapes(shapes) if shapes else None, ()]


def _switch_shape(ctx):
    pred = ctx.shape(1)
    if pred is not None and len(pred) != 0:
        raise ctx.fail(f"pred must be a scalar, got shape {list(pred)}")
    return [ctx.shape(0), ctx.shape(0)]


def _loop_cond_shape(ctx):
    shape = ctx.shape(0)
    if shape is not None and len(shape) != 0:
        raise ctx.fail(f"input must be a scalar bool, got shape {list(shape)}")
    return [()]


def _enter_shape(ctx):
    """TensorFlow's: a constant Enter keeps its input's shape; a loop variable's is unknown
    (it may change between iterations; the frontend sets it from the shape invariant)."""
    if not ctx.attr("frame_name"):
        raise ctx.fail("attr 'frame_name' is empty: an Enter must name the frame it enters")
    return [ctx.shape(0) if ctx.attr("is_constant") else None]


_ENTER_ATTRS = ["T: type", "frame_name: string", "is_constant: bool = false",
                "parallel_iterations: int >= 1 = 10"]

for _prefix, _arg in (("", "T"), ("Ref", "Ref(T)")):
    op(f"{_prefix}Switch", inputs=[f"data: {_arg}", "pred: bool"],
       outputs=[f"output_false: {_arg}", f"output_true: {_arg}"], attrs=["T: type"],
       shape=_switch_shape, control_flow=True)
    op(f"{_prefix}Merge", inputs=[f"inputs: N * {_arg}"],
       outputs=[f"output: {_arg}", "value_index: int32"], attrs=["T: type", "N: int >= 1"],
       shape=_merge_shape, control_flow=True)
    op(f"{_prefix}Enter", inputs=[f"data: {_arg}"], outputs=[f"output: {_arg}"],
       attrs=_ENTER_ATTRS, shape=_enter_shape, control_flow=True)
    op(f"{_prefix}Exit", inputs=[f"data: {_arg}"], outputs=[f"output: {_arg}"],
       attrs=["T: type"], shape=same_as_input(0), control_flow=True)
    op(f"{_prefix}NextIteration", inputs=[f"data: {_arg}"], outputs=[f"output: {_arg}"],
       attrs=["T: type"], shape=same_as_input(0), control_flow=True)

op("LoopCond", inputs=["input: bool"], outputs=["output: bool"], shape=_loop_cond_shape,
   control_flow=True)
op("ControlTrigger", control_flow=True)

# Stacks (TensorFlow's data_flow_ops), used by while-loop gradients to keep per-iteration values
# for the backward loop. Each run of StackV2 makes a new, empty stack; max_size < 0: unbounded.
op("StackV2", inputs=["max_size: int32"], outputs=["handle: resource"],
   attrs=["elem_type: type", "stack_name: string = ''"], shape=scalar, stateful=True)
op("StackPushV2", inputs=["handle: resource", "elem: T"], outputs=["output: T"],
   attrs=["T: type", "swap_memory: bool = false"], shape=same_as_input(1), stateful=True)
op("StackPopV2", inputs=["handle: resource"], outputs=["elem: elem_type"],
   attrs=["elem_type: type"], stateful=True)
op("StackCloseV2", inputs=["handle: resource"], stateful=True)
