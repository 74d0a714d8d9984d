"""Round trips through the exporter and the importer.

GraphDef -> ONNX -> GraphDef: the TensorFlow fixtures, imported back, run in gcc-flow's runtime
with TensorFlow's stored outputs. ONNX -> GraphDef -> ONNX: hand-built models and models of
onnx's own node test suite, imported and exported again, run in onnxruntime with the outputs
onnxruntime gives for the original; names of inputs and outputs survive.
"""
from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("onnxruntime")

from onnx_export_check import ops_of, run_onnxruntime  # noqa: E402

import runtime  # noqa: E402
from gcc_flow.onnx.exporter import export_model, onnx_name  # noqa: E402
from gcc_flow.onnx.importer import import_graph  # noqa: E402
from schema.io import read_graph_def  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "tf"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
RNG = np.random.default_rng(5)


# -- GraphDef -> ONNX -> GraphDef -----------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "cnn", "depthwise", "strided_slice", "broadcast_arith",
                                  "reductions", "frozen", "array_ops", "mobilenet_v2"])
def test_graph_def_to_onnx_and_back_keeps_tensorflows_outputs(name):
    spec, data = MANIFEST[name], np.load(FIXTURES / f"{name}.npz")
    fetches = spec["fetches"]
    model = export_model(read_graph_def(FIXTURES / f"{name}.pb"), inputs=list(spec["feeds"]),
                         outputs=list(fetches))
    result = import_graph(model)
    inputs, outputs = dict(result.inputs), dict(result.outputs)
    session = runtime.load(result.graph.as_graph_def())
    feeds = {inputs[onnx_name(k)]: data[v] for k, v in spec["feeds"].items()
             if onnx_name(k) in inputs}
    got = session.run([outputs[onnx_name(f)] for f in fetches], feeds)
    for fetch, value in zip(fetches, got):
        want = data[fetches[fetch]]
        assert value.dtype == want.dtype and value.shape == want.shape, fetch
        np.testing.assert_allclose(value, want, rtol=1e-4, atol=1e-5, err_msg=fetch)


# -- ONNX -> GraphDef -> ONNX -----------------------------------------------------------------

def round_trip(model: onnx.ModelProto) -> onnx.ModelProto:
    result = import_graph(model)
    return export_model(result.graph.as_graph_def(), inputs=[t for _, t in result.inputs],
                        outputs=[t for _, t in result.outputs])


def assert_same_results(original: onnx.ModelProto, again: onnx.ModelProto, inputs: list):
    feeds = {i.name: np.asarray(v) for i, v in zip(original.graph.input, inputs)}
    want = run_onnxruntime(original, feeds)
    names = {i.name for i in again.graph.input}
    got = run_onnxruntime(again, {k: v for k, v in feeds.items() if k in names})
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True)


def _init(name: str, *shape, low=-1.0, high=1.0):
    return numpy_helper.from_array(RNG.uniform(low, high, shape).astype(np.float32), name)


def nchw_convnet() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "o", "m", "v"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], group=4, kernel_shape=[3, 3],
                         auto_pad="SAME_UPPER"),
        helper.make_node("GlobalAveragePool", ["c2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["y"]),
    ]
    inits = [_init("w1", 8, 3, 3, 3), _init("b1", 8), _init("s", 8), _init("o", 8),
             _init("m", 8), _init("v", 8, low=0.5, high=2.0), _init("w2", 8, 2, 3, 3),
             _init("wf", 5, 8), _init("bf", 5)]
    graph = helper.make_graph(
        nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_convnet_round_trip_keeps_names_values_and_layout():
    model = nchw_convnet()
    again = round_trip(model)
    onnx.checker.check_model(again, full_check=True)
    assert [i.name for i in again.graph.input] == ["x"]
    assert [o.name for o in again.graph.output] == ["y"]
    assert ops_of(again).count("Conv") == 2 and ops_of(again).count("Transpose") <= 2
    assert_same_results(model, again, [RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)])


# Cases of onnx's node test suite (onnx.backend.test.case.node), one or two per op family.
NODE_CASES = """
    test_abs test_add_bcast test_sub test_mul test_div test_pow_bcast_array
    test_mod_mixed_sign_int32 test_mod_mixed_sign_float32 test_sign test_ceil test_round
    test_isinf test_cos test_neg
    test_sqrt test_reciprocal test_exp test_log test_erf test_relu test_leakyrelu
    test_hardsigmoid test_prelu_broadcast test_gelu_tanh_1 test_mish test_softmax_axis_1
    test_logsoftmax_axis_1 test_hardmax_example test_less test_greater_equal test_equal
    test_and2d test_or_bcast3v1d test_xor3d test_where_example test_sum_example test_min_example
    test_max_example test_mean_example test_clip_splitbounds test_argmax_default_axis_example
    test_reduce_mean_keepdims_example test_reduce_sum_default_axes_keepdims_example test_shape
    test_reshape_negative_dim test_flatten_axis1 test_expand_dim_changed test_tile
    test_transpose_all_permutations_0 test_unsqueeze_axis_1 test_concat_3d_axis_1
    test_split_equal_parts_1d_opset18 test_slice_default_axes test_gather_1
    test_gather_elements_0 test_gathernd_example_float32 test_scatter_elements_with_axis
    test_scatternd test_nonzero_example test_onehot_negative_indices test_constant_pad
    test_range_float_type_positive_delta test_cumsum_2d_axis_1 test_top_k
    test_unique_sorted_with_axis test_reversesequence_time test_depthtospace_example
    test_einsum_batch_matmul test_det_2d test_bitshift_left_uint8 test_matmul_3d
    test_gemm_default_matrix_bias test_conv_with_strides_padding test_convtranspose
    test_averagepool_2d_pads test_maxpool_2d_same_upper
    test_maxpool_with_argmax_2d_precomputed_pads
    test_globalaveragepool test_lrn test_batchnorm_example test_instancenorm_example
    test_layer_normalization_2d_axis0 test_resize_upsample_scales_linear test_gridsample
    test_col2im test_affine_grid_2d test_nonmaxsuppression_suppress_by_IOU test_dropout_default
    test_simple_rnn_defaults test_rnn_seq_length test_gru_defaults test_lstm_defaults
""".split()


@pytest.fixture(scope="module")
def node_cases() -> dict:
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return {c.name: c for c in collect_testcases(None) if c.name in set(NODE_CASES)}


@pytest.mark.parametrize("name", NODE_CASES)
def test_onnx_node_case_round_trip(node_cases, name):
    case = node_cases[name]
    again = round_trip(case.model)
    onnx.checker.check_model(again, full_check=True)
    assert_same_results(case.model, again, list(case.data_sets[0][0]))
