"""The graph rewrites of transformer originals are exact and do what they say: no attention mask or scale left on
the N×N scores of the exported graph, and the graph still computes the original."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from edgedepth.originals import hf
from export.onnx import export_onnx_file
from tests.originals.families import build


@pytest.mark.slow
@pytest.mark.parametrize("family", ["depth-anything", "dpt"])
def test_attention_scores_go_straight_to_softmax(family, tmp_path):
    original = build(family, tmp_path)
    assert hf.NO_MASK in original.rewrites and hf.FOLDED_SCALE in original.rewrites
    example = torch.randn(1, 3, *original.input_size)
    path = tmp_path / "model.onnx"
    export_onnx_file(original.module, (example,), path, "image", "depth")
    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    softmaxes = [node for node in graph.node if node.op_type == "Softmax"]
    assert softmaxes
    assert {producer[node.input[0]].op_type for node in softmaxes} == {"MatMul"}
    # and the graph still computes the original (torch's eager run builds no mask at all)
    with torch.no_grad():
        expected = original.module(example).numpy()
    got = onnxruntime.InferenceSession(str(path)).run(None, {"image": example.numpy()})[0]
    assert np.abs(got - expected).max() <= 1e-5 * (expected.max() - expected.min())
