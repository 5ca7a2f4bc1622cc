"""The int8 share of a QDQ graph's multiply-accumulates, and the per-layer int8 sensitivity, on graphs built by
hand whose answers are known."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from quantize.macs import int8_mac_share
from quantize.sensitivity import WEIGHT_LEVELS, fake_quantize_weight, layer_sensitivity, sensitivity_table


def _save(path, nodes, inits, out_shape):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("depth", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_int8_share_counts_conv_and_matmul_work(tmp_path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.int8), "w_q"),
             numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(0, np.int8), "z"),
             numpy_helper.from_array(np.array(128, np.uint8), "zu"),
             numpy_helper.from_array(rng.normal(size=(256, 10)).astype(np.float32), "m"),
             numpy_helper.from_array(np.array([1, 256], np.int64), "shape")]
    nodes = [helper.make_node("QuantizeLinear", ["image", "s", "zu"], ["x_q"]),
             helper.make_node("DequantizeLinear", ["x_q", "s", "zu"], ["x"]),
             helper.make_node("DequantizeLinear", ["w_q", "s", "z"], ["w"]),
             helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Reshape", ["c", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "m"], ["depth"], name="head")]
    share = int8_mac_share(_save(tmp_path / "m.onnx", nodes, inits, [1, 10]))
    conv, head = 4 * 8 * 8 * 3 * 3 * 3, 256 * 10
    assert (share["macs"], share["int8_macs"]) == (conv + head, conv)
    assert share["int8_share"] == round(conv / (conv + head), 4) and share["float_mac_nodes"] == ["head"]


def test_weights_round_per_output_channel():
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(5, 3, 3, 3)).astype(np.float32) * np.array([1, 10, 100, 0, 1e-3])[:, None, None, None]
    rounded = fake_quantize_weight(weight, 0)
    peak = np.abs(weight).reshape(5, -1).max(axis=1)
    for channel in range(5):
        step = peak[channel] / WEIGHT_LEVELS
        assert np.abs(rounded[channel] - weight[channel]).max() <= step / 2 + 1e-6 * max(peak[channel], 1)
    assert not rounded[3].any()  # an all-zero channel stays zero


@pytest.mark.parametrize("outlier", [1.0, 1000.0])
def test_the_layer_fed_an_outlier_channel_ranks_first(tmp_path, outlier):
    """Two convolutions; the first's channel 0 is `outlier` times larger and the second ignores it. Per-channel
    weights keep the first layer exact enough, but the second's per-tensor input range is then set by a channel
    it does not use, leaving its real inputs a few levels: with an outlier it must rank as the most harmful."""
    rng = np.random.default_rng(2)
    first = rng.normal(size=(4, 3, 3, 3)).astype(np.float32) * 0.3
    first[0] *= outlier
    second = rng.normal(size=(1, 4, 3, 3)).astype(np.float32) * 0.3
    second[:, 0] = 0.0
    inits = [numpy_helper.from_array(first, "w1"), numpy_helper.from_array(second, "w2"),
             numpy_helper.from_array(np.array([1, 8, 8], np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["image", "w1"], ["a"], pads=[1, 1, 1, 1], name="first"),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["b"], pads=[1, 1, 1, 1], name="second"),
             helper.make_node("Reshape", ["b", "shape"], ["depth"])]
    path = _save(tmp_path / "m.onnx", nodes, inits, [1, 8, 8])
    calibration = [rng.normal(size=(1, 3, 8, 8)).astype(np.float32) for _ in range(4)]
    layers = layer_sensitivity(path, calibration, ["image"], threads=1)
    assert [layer.node for layer in layers] in (["first", "second"], ["second", "first"])
    assert all(np.isfinite(layer.psnr_db) and layer.psnr_db > 10 for layer in layers)
    if outlier > 1:
        assert layers[0].node == "second" and layers[1].psnr_db - layers[0].psnr_db > 10, layers
    assert "| second | Conv |" in sensitivity_table(layers)
