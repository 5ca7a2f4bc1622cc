"""Stereo originals (RAFT-Stereo realtime, AANet), small and random-init, exported to every format at fp32 and
held to torch; their ONNX runs in onnxruntime with no custom op."""

from __future__ import annotations

import pytest

from tests.originals.checks import check_family

STANDARD_DOMAINS = {"", "ai.onnx"}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["raft-stereo", "aanet"])
def test_stereo_original_exports_to_every_format(family, tmp_path):
    import onnx

    rows = check_family(family, tmp_path)
    model = onnx.load(str(rows["onnx"]["bundle"].model_path))
    domains = {node.domain for node in model.graph.node}
    assert domains <= STANDARD_DOMAINS, f"{family}'s ONNX needs custom ops: {domains - STANDARD_DOMAINS}"
    assert {op.domain for op in model.opset_import} <= STANDARD_DOMAINS | {"ai.onnx.ml"}
