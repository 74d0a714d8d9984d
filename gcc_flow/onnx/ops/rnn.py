"""ONNX RNN, GRU and LSTM as the extension ops OnnxRNN, OnnxGRU, OnnxLSTM (a numpy loop over
time in runtime/kernels/onnx_ext_rnn.py; ONNX's inputs, attrs, layouts and activations).

    LSTM(X, W, R, B, seq_lens, h0, c0, P)  -> OnnxLSTM(...) with absent inputs as empty tensors,
                                              sequence_lens as int32; outputs Y, Y_h, Y_c
"""
from __future__ import annotations

from gcc_flow.framework import apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import cast, empty
from schema.dtypes import DType

__all__: list = []   # converters register themselves

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _recurrent(ctx, node, op_type: str, n_inputs: int, extra: dict) -> list:
    x = ctx.input(node, 0)
    inputs = [ctx.input(node, i) for i in range(n_inputs)]
    for i, value in enumerate(inputs):
        if value is None:
            inputs[i] = empty(ctx, DType.INT32 if i == 4 else x.dtype.base)
    inputs[4] = cast(inputs[4], DType.INT32)
    hidden = ctx.attr(node, "hidden_size")
    w_shape = inputs[1].shape
    if hidden is None and w_shape is not None and w_shape[1] is not None:
        hidden = w_shape[1] // _GATES[node.op_type]
    if hidden is None:
        raise ctx.fail(node, "hidden_size is missing and W's shape is unknown")
    attrs = {"hidden_size": int(hidden), "direction": ctx.attr(node, "direction", "forward"),
             "layout": ctx.attr(node, "layout", 0), **extra}
    for name in ("activations", "activation_alpha", "activation_beta"):
        if ctx.attr(node, name) is not None:
            attrs[name] = list(ctx.attr(node, name))
    if ctx.attr(node, "clip") is not None:
        attrs.update(clip=float(ctx.attr(node, "clip")), has_clip=True)
    outs = apply_op(op_type, inputs, attrs)
    return list(outs[:len(node.output)])


@converter("RNN", since=7)
def rnn(ctx, node) -> list:
    return _recurrent(ctx, node, "OnnxRNN", 6, {})


@converter("GRU", since=7)
def gru(ctx, node) -> list:
    return _recurrent(ctx, node, "OnnxGRU", 6,
                      {"linear_before_reset": ctx.attr(node, "linear_before_reset", 0)})


@converter("LSTM", since=7)
def lstm(ctx, node) -> list:
    return _recurrent(ctx, node, "OnnxLSTM", 8,
                      {"input_forget": ctx.attr(node, "input_forget", 0)})
