"""The tensor-manipulation converters (gcc_flow/onnx/ops/tensor.py, indexing.py, padding.py):
one-node ONNX models imported and run by gcc-flow, compared with onnxruntime on random inputs,
plus the structure of what they map to and their refusals."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from onnx_convert_check import Init, compare, import_one_node, make_model  # noqa: E402

import gcc_flow as gf  # noqa: E402
from gcc_flow.onnx.context import NotSupported, OnnxImportError  # noqa: E402
from gcc_flow.onnx.importer import import_graph  # noqa: E402
from schema.errors import LimitExceeded  # noqa: E402

RNG = np.random.default_rng(7)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*values):
    return np.array(values, np.int64)


X = f32(3, 4, 5)
IDX = RNG.integers(-3, 3, (3, 4, 2)).astype(np.int64)

# (id, op, inputs, attrs); attrs may hold n_outputs and opset.
CASES = [
    ("reshape_const_zero", "Reshape", [X, Init(i64(0, -1))], {}),
    ("reshape_runtime_zero", "Reshape", [X, i64(0, -1, 1)], {}),
    ("reshape_allowzero", "Reshape", [f32(0, 3), Init(i64(3, 0))], {"allowzero": 1}),
    ("flatten", "Flatten", [X], {"axis": 2}),
    ("flatten_negative", "Flatten", [X], {"axis": -1}),
    ("flatten_zero", "Flatten", [X], {"axis": 0}),
    ("transpose_default", "Transpose", [X], {}),
    ("transpose_perm", "Transpose", [X], {"perm": [1, 2, 0]}),
    ("concat", "Concat", [X, f32(3, 2, 5)], {"axis": -2}),
    ("split_sizes", "Split", [X, Init(i64(1, 4))], {"axis": 2, "n_outputs": 2}),
    ("split_runtime_sizes", "Split", [X, i64(1, 3)], {"axis": 1, "n_outputs": 2}),
    ("split_even", "Split", [X], {"axis": 0, "n_outputs": 3, "opset": 13}),
    ("split_attr", "Split", [X], {"axis": 1, "split": [3, 1], "n_outputs": 2, "opset": 11}),
    ("split_uneven", "Split", [X], {"axis": 2, "num_outputs": 3, "n_outputs": 3}),
    ("squeeze", "Squeeze", [f32(1, 3, 1), Init(i64(-1))], {}),
    ("squeeze_all", "Squeeze", [f32(1, 3, 1)], {}),
    ("squeeze_runtime", "Squeeze", [f32(1, 3, 1), i64(0, 2)], {}),
    ("unsqueeze", "Unsqueeze", [X, Init(i64(0, -1))], {}),
    ("unsqueeze_attr", "Unsqueeze", [X], {"axes": [4, 1], "opset": 11}),
    ("unsqueeze_runtime", "Unsqueeze", [X, i64(1, -1)], {}),
    ("expand_const", "Expand", [f32(3, 1, 5), Init(i64(2, 1, 4, 1))], {}),
    ("expand_runtime", "Expand", [f32(3, 1, 5), i64(2, 1, 4, 1)], {}),
    ("expand_shorter", "Expand", [f32(3, 1, 5), i64(4, 1)], {}),
    ("tile", "Tile", [X, i64(1, 2, 3)], {}),
    ("shape_slice", "Shape", [X], {"start": 1, "end": -1}),
    ("size", "Size", [X], {}),
    ("eye_like", "EyeLike", [f32(3, 5)], {"k": 1, "dtype": 7}),
    ("trilu_const_k", "Trilu", [X, Init(np.int64(1))], {}),
    ("trilu_runtime_k", "Trilu", [X, np.int64(-1)], {"upper": 0}),
    ("slice_const", "Slice", [X, Init(i64(1, -1)), Init(i64(4, 0)), Init(i64(1, 2)),
                              Init(i64(1, -2))], {}),
    ("slice_runtime", "Slice", [X, i64(1, -1), i64(4, 0), i64(1, 2), i64(1, -2)], {}),
    ("slice_runtime_default_axes", "Slice", [X, i64(0, 1), i64(-1, 100)], {}),
    ("slice_clamped", "Slice", [X, Init(i64(-100)), Init(i64(100)), Init(i64(-1))], {}),
    ("slice_reverse_to_start", "Slice", [X, Init(i64(4)), Init(i64(-1000)), Init(i64(2)),
                                         Init(i64(-1))], {}),
    ("slice_v1", "Slice", [X], {"starts": [1], "ends": [3], "axes": [2], "opset": 9}),
    ("gather_const_negative", "Gather", [X, Init(i64(-1, 0))], {"axis": 1}),
    ("gather_runtime_negative", "Gather", [X, i64(-1, 0, 2)], {"axis": 2}),
    ("gather_scalar", "Gather", [X, np.int64(-2)], {}),
    ("gather_elements", "GatherElements", [X, IDX], {"axis": 2}),
    ("gather_nd", "GatherND", [X, i64([0, 1], [2, -1])], {}),
    ("gather_nd_batch", "GatherND", [X, Init(i64([1], [2], [0]))], {"batch_dims": 1}),
    ("scatter_elements_add", "ScatterElements", [X, IDX, f32(3, 4, 2)],
     {"axis": 2, "reduction": "add"}),
    ("scatter_elements_none", "ScatterElements", [X, np.array([[[1]]], np.int64),
                                                  f32(1, 1, 1)], {"axis": 0, "opset": 13}),
    ("scatter_nd_mul", "ScatterND", [X, i64([0, 1], [2, 2]), f32(2, 5)], {"reduction": "mul"}),
    ("scatter_nd_none", "ScatterND", [X, i64([1], [-1]), f32(2, 4, 5)], {}),
    ("non_zero", "NonZero", [X > 0], {}),
    ("compress_axis", "Compress", [X, np.array([1, 0, 1], bool)], {"axis": 0}),
    ("compress_flat", "Compress", [X, np.array([0, 1, 1, 0, 1], bool)], {}),
    ("top_k_axis", "TopK", [X, i64(2)], {"axis": 1, "n_outputs": 2}),
    ("top_k_smallest", "TopK", [X, i64(3)], {"largest": 0, "n_outputs": 2}),
    ("top_k_v1", "TopK", [X], {"k": 2, "n_outputs": 2, "opset": 9}),
    ("one_hot", "OneHot", [i64(0, -1, 2, 7), np.float32(4), np.array([0, 5], np.float32)],
     {"axis": 0}),
    ("one_hot_negative_axis", "OneHot", [i64([0, 3], [1, -4]), np.int64(4), i64(1, 2)],
     {"axis": -2}),
    ("unique_unsorted", "Unique", [np.array([2, 1, 1, 3, 4, 3], np.float32)],
     {"sorted": 0, "n_outputs": 4}),
    ("unique_axis", "Unique", [i64([1, 0, 0], [1, 0, 0], [2, 3, 4])],
     {"axis": 0, "n_outputs": 4}),
    ("reverse_sequence", "ReverseSequence", [f32(4, 2, 3), i64(3, 1)],
     {"time_axis": 0, "batch_axis": 1}),
    ("pad_constant_crop", "Pad", [X, Init(i64(1, 0, -1, 2, -1, 1))], {}),
    ("pad_value", "Pad", [X, Init(i64(1, 0, 0, 2, 1, 1)), Init(np.float32(3))], {}),
    ("pad_runtime", "Pad", [X, i64(1, 0, 0, 2, 1, 1), np.float32(2)], {}),
    ("pad_edge_axes", "Pad", [X, Init(i64(1, 2, 1, 2)), None, Init(i64(0, -1))],
     {"mode": "edge"}),
    ("pad_wrap", "Pad", [X, Init(i64(1, 2, 1, 2)), None, Init(i64(0, -1))],
     {"mode": "wrap", "opset": 19}),
    ("pad_reflect", "Pad", [X, Init(i64(1, 2, 1, 2)), None, Init(i64(0, -1))],
     {"mode": "reflect"}),
    ("pad_reflect_runtime", "Pad", [X, i64(0, 1, 2, 0, 2, 1)], {"mode": "reflect"}),
    ("pad_edge_runtime_axes", "Pad", [X, i64(1, 2, 0, 1), None, i64(1, 2)], {"mode": "edge"}),
    ("pad_v2_attr", "Pad", [X], {"pads": [0, 1, 0, 0, 1, 2], "value": 1.5, "opset": 10}),
    ("center_crop_pad", "CenterCropPad", [X, Init(i64(5, 2))], {"axes": [0, 2]}),
]


@pytest.mark.parametrize("op_type, inputs, attrs", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_matches_onnxruntime(op_type, inputs, attrs):
    attrs = dict(attrs)
    compare(op_type, inputs, n_outputs=attrs.pop("n_outputs", 1), opset=attrs.pop("opset", 18),
            **attrs)


SYMBOLIC_CASES = ["reshape_const_zero", "reshape_runtime_zero", "flatten", "flatten_negative",
                  "transpose_default", "split_sizes", "split_uneven", "squeeze", "unsqueeze",
                  "expand_runtime", "shape_slice", "size", "trilu_const_k", "slice_const",
                  "slice_runtime", "gather_const_negative", "gather_runtime_negative",
                  "gather_nd", "top_k_axis", "one_hot_negative_axis", "compress_axis",
                  "pad_constant_crop", "pad_edge_axes", "pad_reflect_runtime", "non_zero"]


@pytest.mark.parametrize("case", SYMBOLIC_CASES)
def test_matches_with_every_input_dim_unknown_at_import(case):
    """The same models with all graph-input dims symbolic: shapes resolve at run time."""
    _, op_type, inputs, attrs = next(c for c in CASES if c[0] == case)
    attrs = dict(attrs)
    compare(op_type, inputs, n_outputs=attrs.pop("n_outputs", 1), opset=attrs.pop("opset", 18),
            symbolic=True, **attrs)


def _op_types(op_type: str, inputs, **attrs) -> list[str]:
    graph = import_one_node(op_type, inputs, **attrs).graph
    return [op.type for op in graph.get_operations()
            if op.type not in ("Const", "Placeholder", "Identity")]


def test_constant_slice_is_one_strided_slice():
    assert _op_types("Slice", [X, Init(i64(1)), Init(i64(-1)), Init(i64(2))]) == ["StridedSlice"]


def test_constant_negative_gather_indices_are_fixed_at_import():
    graph = import_one_node("Gather", [X, Init(i64(-1, 0))], axis=1).graph
    gather = next(op for op in graph.get_operations() if op.type == "GatherV2")
    indices = gather.inputs[1].op.get_attr("value")
    assert indices.tolist() == [3, 0]


def test_static_pad_modes_map_to_tensorflow_ops():
    assert _op_types("Pad", [X, Init(i64(1, 1, 1, 1)), None, Init(i64(1, 2))],
                     mode="reflect") == ["MirrorPad"]
    assert _op_types("Pad", [X, Init(i64(0, 1, 0, 0, 1, 0))]) == ["Pad"]
    assert _op_types("Pad", [X, Init(i64(2, 0)), None, Init(i64(0))],
                     mode="edge") == ["GatherV2"]


def test_run_time_axes_use_extension_ops():
    assert _op_types("Unsqueeze", [X, i64(0)]) == ["OnnxUnsqueeze"]
    assert _op_types("Pad", [X, i64(0, 0, 1, 0, 0, 1)], mode="edge") == ["OnnxPad"]


def test_malformed_attrs_are_refused_with_the_node():
    with pytest.raises(OnnxImportError, match="bad_transpose.*perm"):
        import_one_node("Transpose", [X], perm=[0, 0, 1], node_name="bad_transpose")


def test_unsupported_pad_mode_names_the_mode():
    with pytest.raises(NotSupported, match="not supported: Pad mode 'symmetric'"):
        import_one_node("Pad", [X, Init(i64(1, 1, 1, 1, 1, 1))], mode="symmetric")


def test_huge_declared_shape_refuses_an_import_time_constant():
    model, _ = make_model("EyeLike", [f32(1, 1)])
    for dim in model.graph.input[0].type.tensor_type.shape.dim:
        dim.dim_value = 10 ** 7
    model.graph.output[0].type.tensor_type.elem_type = 1
    model.graph.output[0].type.tensor_type.shape.SetInParent()
    with pytest.raises(LimitExceeded, match="EyeLike"):
        import_graph(model)


def test_run_time_pads_beyond_the_budget_are_refused():
    result = import_one_node("Pad", [X, i64(0, 0, 0, 0, 0, 10 ** 10)])
    inputs = dict(result.inputs)
    with gf.Session(result.graph) as sess, pytest.raises(LimitExceeded):
        sess.run(result.outputs[0][1], {inputs["in0"]: X, inputs["in1"]: i64(0, 0, 0, 0, 0,
                                                                              10 ** 10)})
