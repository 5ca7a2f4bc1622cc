"""ONNX export and int8 quantization: parity with torch, manifests, sha256 checks, refusals."""

import json

import numpy as np
import onnx
import pytest
import torch

from edgedepth.checkpoint import load_student
from edgedepth.stages.export import export_student
from export.onnx import _FLOAT_GRAPHS
from export.parity import parity_inputs, torch_vs_bundle
from runtime.bundle import BundleError, load_bundle
from runtime.metrics import agreement
from runtime.runners.registry import runner_for_format

pytestmark = pytest.mark.slow


def test_fp32_onnx_matches_torch(student_ckpt, onnx_bundles):
    fp32, _ = onnx_bundles
    model, _ = load_student(student_ckpt)
    stats = torch_vs_bundle(model, fp32, parity_inputs([1, 3, 64, 96], count=3, seed=7))
    assert stats["max_abs_rel"] <= 1e-4, stats
    assert fp32.manifest["parity"]["max_abs_rel"] <= 1e-4


def test_fp32_graph_is_static_and_clean(onnx_bundles):
    fp32, _ = onnx_bundles
    graph = onnx.load(str(fp32.model_path)).graph
    ops = {node.op_type for node in graph.node}
    assert not ops & {"Shape", "Pad", "If", "Loop"}, ops
    assert "Resize" in ops and "Conv" in ops
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 96]


def test_manifest_follows_contract(onnx_bundles, student_ckpt):
    from edgedepth.checkpoint import checkpoint_sha256

    fp32, int8 = onnx_bundles
    for bundle, precision in ((fp32, "fp32"), (int8, "int8")):
        m = bundle.manifest
        assert (m["format"], m["precision"], m["task"]) == ("onnx", precision, "mono")
        assert m["inputs"][0]["shape"] == [1, 3, 64, 96] and m["inputs"][0]["layout"] == "NCHW"
        assert m["inputs"][0]["normalization"]["mean"] == [0.485, 0.456, 0.406]
        assert m["outputs"][0]["kind"] == "relative_inverse_depth"
        assert m["source"]["checkpoint_sha256"] == checkpoint_sha256(student_ckpt)
        assert set(m["files"]) == {"model.onnx"}
    assert fp32.manifest["source"]["calibration_sha256"] is None
    assert len(int8.manifest["source"]["calibration_sha256"]) == 64


def test_int8_is_qdq_and_smaller(onnx_bundles):
    fp32, int8 = onnx_bundles
    ops = [node.op_type for node in onnx.load(str(int8.model_path)).graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    assert int8.model_path.stat().st_size < 0.4 * fp32.model_path.stat().st_size


def test_int8_keeps_only_the_output_convolution_float(onnx_bundles):
    _, int8 = onnx_bundles
    graph = onnx.load(str(int8.model_path)).graph
    convs = [node for node in graph.node if node.op_type == "Conv"]
    produced_by = {out: node.op_type for node in graph.node for out in node.output}
    float_weight = [node.name for node in convs if produced_by.get(node.input[1]) != "DequantizeLinear"]
    assert float_weight == [convs[-1].name] == int8.manifest["quantization"]["float_nodes"]


def test_int8_tracks_fp32_on_a_random_student(onnx_bundles):
    """Plumbing check on an untrained net (its output is near-constant, the hardest case for int8)."""
    fp32, int8 = onnx_bundles
    x = parity_inputs([1, 3, 64, 96], count=1, seed=3)[0]
    outs = []
    for bundle in (fp32, int8):
        with runner_for_format("onnx")() as runner:
            runner.load(bundle, 1)
            outs.append(runner.infer({"image": x})["depth"])
    stats = agreement(outs[0], outs[1])
    assert np.isfinite(stats["psnr_db"]) and stats["psnr_db"] > 15, stats


def test_tampered_bundle_is_refused(onnx_bundles, tmp_path):
    import shutil

    fp32, _ = onnx_bundles
    copy = tmp_path / "copy"
    shutil.copytree(fp32.path, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(copy)


def test_export_refuses_existing_bundle_without_force(student_ckpt, tmp_path):
    export_student(student_ckpt, tmp_path, "onnx")
    manifest = json.loads((tmp_path / "onnx-fp32" / "manifest.json").read_text())
    with pytest.raises(FileExistsError, match="--force"):
        export_student(student_ckpt, tmp_path, "onnx")
    _FLOAT_GRAPHS.clear()  # traced afresh, not written from this process's memory of the first export
    again = export_student(student_ckpt, tmp_path, "onnx", force=True)
    assert again.manifest["files"] == manifest["files"]  # deterministic export
    assert not [p for p in tmp_path.iterdir() if p.name != "onnx-fp32"]  # no temp dirs left behind


def test_nhwc_export_matches_torch(student_ckpt, tmp_path):
    from edgedepth.checkpoint import checkpoint_sha256
    from export.base import ExportRequest
    from export.registry import get_exporter

    model, info = load_student(student_ckpt)
    bundle = get_exporter("onnx").export(
        ExportRequest(model, info, checkpoint_sha256(student_ckpt), "onnx-nhwc", layout="NHWC"), tmp_path)
    assert bundle.inputs[0]["shape"] == [1, 64, 96, 3] and bundle.inputs[0]["layout"] == "NHWC"
    assert bundle.manifest["parity"]["max_abs_rel"] <= 1e-4
    with torch.no_grad():
        x = torch.from_numpy(parity_inputs([1, 3, 64, 96], 1, 5)[0])
        ref = model(x).numpy()
    with runner_for_format("onnx")() as runner:
        runner.load(bundle, 1)
        got = runner.infer({"image": x.permute(0, 2, 3, 1).contiguous().numpy()})["depth"]
    assert np.abs(got - ref).max() <= 1e-4 * (ref.max() - ref.min())
