"""A stereo student through the stage verbs: distill → export (two-input bundles) → verify → bench, with stereo
rows (EPE, bad-2.0, D1, depth through the calibration) next to the SGBM teacher's."""

import json

import numpy as np
import pytest

from edgedepth.cli import main
from runtime.bundle import load_bundle
from tests.helpers import STEREO_FORBIDDEN_OPS

pytestmark = pytest.mark.e2e

FAST_EVAL = ["--eval-scenes", "1", "--warmup", "1", "--iters", "3", "--threads", "1"]
# Formats whose fp32 and int8 bundles run here, and the modules that takes.
RUNNABLE = {"onnx": ("onnxruntime",), "tflite": ("litert_torch", "ai_edge_litert", "ai_edge_quantizer"),
            "openvino": ("openvino", "nncf")}


@pytest.fixture(scope="module")
def stereo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stereo")
    ckpt = out / "student.safetensors"
    assert main(["distill", "--task", "stereo", "--out", str(ckpt), "--steps", "3", "--scenes", "4",
                 "--size", "64x128", "--batch-size", "2", "--threads", "1"]) == 0
    formats = ",".join(f for f, modules in RUNNABLE.items() if all(_has(m) for m in modules))
    assert main(["export", "--student", str(ckpt), "--out", str(out / "bundles"), "--format", formats,
                 "--precision", "fp32,int8", "--calibration", "3"]) == 0
    if _has("coremltools"):
        assert main(["export", "--student", str(ckpt), "--out", str(out / "bundles"), "--format", "coreml",
                     "--precision", "fp16"]) == 0
    assert main(["verify", "--student", str(ckpt), "--bundles", str(out / "bundles"), "--out", str(out),
                 *FAST_EVAL]) == 0
    assert main(["bench", "--student", str(ckpt), "--bundles", str(out / "bundles"), "--out", str(out),
                 *FAST_EVAL]) == 0
    return out, formats.split(",")


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_bundles_take_both_views(stereo_run):
    out, formats = stereo_run
    for fmt in formats:
        for precision in ("fp32", "int8"):
            bundle = load_bundle(out / "bundles" / f"{fmt}-{precision}")
            assert [spec["name"] for spec in bundle.inputs] == ["left", "right"]
            assert all(spec["shape"] == [1, 3, 64, 128] for spec in bundle.inputs)
            assert bundle.outputs[0]["name"] == "disparity" and bundle.outputs[0]["kind"] == "disparity"
            assert bundle.manifest["task"] == "stereo"
            if precision == "int8":
                assert bundle.manifest["quantization"]["calibration_samples"] == 3
            else:
                assert bundle.manifest["parity"]["max_abs_rel"] <= 1e-4


def test_tflite_pair_has_portable_ops(stereo_run):
    """The LiteRT flatbuffer of the pair (its parity with torch is the export's fp32 gate, checked above): two
    static inputs, no sampling, gather, flex or custom ops."""
    out, formats = stereo_run
    if "tflite" not in formats:
        pytest.skip("the TFLite exporter's libraries are not installed")
    from ai_edge_litert.interpreter import Interpreter

    bundle = load_bundle(out / "bundles" / "tflite-fp32")
    interpreter = Interpreter(model_path=str(bundle.model_path), num_threads=1)
    ops = {op["op_name"].lower() for op in interpreter._get_ops_details()}
    assert not ops & STEREO_FORBIDDEN_OPS and not any(op.startswith(("flex", "custom")) for op in ops), ops
    assert [list(d["shape"]) for d in interpreter.get_input_details()] == [[1, 3, 64, 128]] * 2


def test_report_has_stereo_rows(stereo_run):
    out, formats = stereo_run
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "stereo" and "calibration" in report["reference"]["alignment"]
    rows = {row["artifact"]: row for row in report["rows"]}
    student = rows["student:torch-fp32"]
    teacher = rows["teacher:sgbm"]["accuracy"]["middlebury-motorcycle"]
    assert teacher["bad2_own"] < 20 and teacher["epe_own"] < 3  # SGBM on its own pixels: the reference to beat
    # Over every ground-truth pixel (SGBM's holes count as misses), as the dense student is measured.
    assert teacher["bad2_own"] <= teacher["bad2"] <= 100 and teacher["epe"] >= teacher["epe_own"]
    for fmt in formats:
        for precision in ("fp32", "int8"):
            row = rows[f"{fmt}-{precision}"]
            assert row["status"] == "ok", row
            assert set(row["vs_teacher"]) == {"epe", "bad2"} and row["vs_teacher"]["epe"] >= 0
            motorcycle = row["accuracy"]["middlebury-motorcycle"]
            assert {"epe", "bad2", "d1", "depth_absrel", "depth_delta1", "bad2_rise"} <= set(motorcycle)
            assert motorcycle["bad2_rise"] == pytest.approx(
                motorcycle["bad2"] - student["accuracy"]["middlebury-motorcycle"]["bad2"])
            assert row["latency_ms"]["p50"] > 0 and np.isfinite(row["fidelity"]["psnr_db"])
        assert rows[f"{fmt}-fp32"]["fidelity"]["max_abs_rel"] <= 1e-4
    # The pair once more at the student's input width: teacher and student see the same pixels.
    input_width = report["reference"]["student"]["input_size"][1]
    assert report["datasets"]["middlebury-motorcycle-at-input"]["resolution"][1] == input_width
    assert {"bad2", "bad2_own"} <= set(rows["teacher:sgbm"]["accuracy"]["middlebury-motorcycle-at-input"])
    assert "bad2" in student["accuracy"]["middlebury-motorcycle-at-input"]
    text = (out / "report.md").read_text()
    assert "EPE vs teacher" in text and "middlebury-motorcycle bad-2 %" in text


def test_coreml_pair_is_export_checked(stereo_run):
    pytest.importorskip("coremltools", reason="CoreML export needs coremltools")
    out, _ = stereo_run
    bundle = load_bundle(out / "bundles" / "coreml-fp16")
    assert [(spec["name"], spec["dtype"], spec["normalization"]) for spec in bundle.inputs] == [
        ("left", "uint8", "baked-in"), ("right", "uint8", "baked-in")]
    assert bundle.manifest["checks"]["status"] == "ok" and bundle.manifest["checks"]["io"]["inputs"][1]["name"] == \
        "right"
    rows = {row["artifact"]: row for row in json.loads((out / "report.json").read_text())["rows"]}
    row = rows["coreml-fp16"]
    if row["status"] == "skipped":  # off macOS
        assert row["export_checks"]["status"] == "ok" and "export itself is checked" in row["reason"]
    else:
        assert row["status"] == "ok" and row["fidelity"]["absrel"] <= 0.01


def test_disparity_is_restored_in_sample_pixels():
    from runtime.fit import restore_disparity

    half = np.full((1, 8, 16), 3.0, dtype=np.float32)  # 3 px at 16 wide = 6 px at 32 wide
    restored = restore_disparity(half, 16, 32)
    assert restored.shape == (16, 32) and np.allclose(restored, 6.0)


def test_unknown_task_is_refused_before_training(tmp_path):
    from edgedepth.errors import EdgeDepthError
    from edgedepth.stages.demo import DemoConfig, run_demo

    with pytest.raises(EdgeDepthError, match="unknown task 'depthless'"):
        run_demo(tmp_path / "x", DemoConfig(task="depthless"), progress=False)
    assert not (tmp_path / "x").exists()
