"""Exporting many (format, precision) pairs: ONNX fp16/int8 from one request, planning, and per-row failures."""

import json

import numpy as np
import pytest

from edgedepth.checkpoint import load_student
from edgedepth.errors import EdgeDepthError
from edgedepth.stages.export import (
    export_many,
    export_student,
    exports_of,
    load_failures,
    plan_exports,
    record_failures,
)
from edgedepth.stages.measure import EvalConfig, measure
from export import registry
from export.base import Exporter
from export.parity import parity_inputs, torch_vs_bundle
from export.precision import Precision, quantized
from runtime.metrics import agreement
from runtime.runners.registry import runner_for_format

pytestmark = pytest.mark.slow


class _Unavailable(Exporter):
    format = "nolib"
    table = (Precision("fp32"),)

    @classmethod
    def available(cls):
        return False, "nolib needs libnothing, which is not installed"

    def convert(self, request, precision, bundle_dir, manifest):
        raise AssertionError("an unavailable exporter must not be called")


class _Broken(Exporter):
    format = "broken"
    table = (Precision("fp32"), quantized("ort-qdq"))

    def convert(self, request, precision, bundle_dir, manifest):
        raise RuntimeError("converter crashed on op Resize\nsecond line of a long trace")


@pytest.fixture
def fake_formats(monkeypatch):
    registry.EXPORTERS.names()  # the builtin exporters first, then the two stand-ins beside them
    monkeypatch.setitem(registry.EXPORTERS._things, "nolib", _Unavailable)
    monkeypatch.setitem(registry.EXPORTERS._things, "broken", _Broken)


def _run(bundle, x):
    with runner_for_format(bundle.format)() as runner:
        runner.load(bundle, 1)
        return runner.infer({bundle.inputs[0]["name"]: x})[bundle.outputs[0]["name"]]


def test_onnx_fp16_tracks_fp32_with_float32_io(student_ckpt, tmp_path):
    fp32 = export_student(student_ckpt, tmp_path, "onnx", "fp32")
    fp16 = export_student(student_ckpt, tmp_path, "onnx", "fp16")
    assert fp16.name == "onnx-fp16" and fp16.precision == "fp16"
    assert fp16.model_path.stat().st_size < 0.6 * fp32.model_path.stat().st_size  # half-size weights
    x = parity_inputs([1, 3, 64, 96], count=1, seed=11)[0]
    ref, got = _run(fp32, x), _run(fp16, x)
    assert got.dtype == np.float32 and got.shape == ref.shape
    stats = agreement(ref, got)
    assert stats["absrel"] <= 0.005, stats
    assert fp16.manifest["parity"]["inputs_from"] == "synthetic"


def test_onnx_int8_from_one_request_records_calibration(student_ckpt, tmp_path):
    int8 = export_student(student_ckpt, tmp_path, "onnx", "int8", calibration_samples=4)
    quant = int8.manifest["quantization"]
    assert quant["method"] == "onnxruntime-static-qdq" and quant["calibration_samples"] == 4
    assert len(int8.manifest["source"]["calibration_sha256"]) == 64
    assert int8.manifest["parity"]["inputs_from"] == "calibration"
    model, _ = load_student(student_ckpt)
    stats = torch_vs_bundle(model, int8, parity_inputs([1, 3, 64, 96], count=1, seed=2))
    assert np.isfinite(stats["psnr_db"]) and stats["psnr_db"] > 15, stats


def test_onnx_int8_nncf_runs_in_onnxruntime(student_ckpt, tmp_path):
    pytest.importorskip("nncf", reason="NNCF int8 needs the nncf package (pip install 'edgedepth[nncf]')")
    bundle = export_student(student_ckpt, tmp_path, "onnx", "int8-nncf", calibration_samples=4)
    assert bundle.manifest["quantization"]["method"] == "nncf-ptq"
    assert len(bundle.manifest["source"]["calibration_sha256"]) == 64
    x = parity_inputs([1, 3, 64, 96], count=1, seed=6)[0]
    out = _run(bundle, x)
    assert out.shape == (1, 64, 96) and np.isfinite(out).all()
    assert bundle.manifest["parity"]["psnr_db"] > 15


def test_nhwc_int8_is_calibrated_in_its_own_layout(student_ckpt, tmp_path):
    bundle = export_student(student_ckpt, tmp_path, "onnx", "int8", layout="NHWC", calibration_samples=4)
    assert bundle.inputs[0]["shape"] == [1, 64, 96, 3]
    x = parity_inputs([1, 3, 64, 96], count=1, seed=4)[0]
    out = _run(bundle, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    assert out.shape == (1, 64, 96) and np.isfinite(out).all()


def test_plan_expands_all_and_refuses_unknown_tokens():
    assert plan_exports({"onnx": ["all"]}) == [("onnx", p) for p in registry.get_exporter("onnx").precisions]
    assert ("onnx", "fp16") in plan_exports(exports_of(["all"], ["fp16"]))
    assert plan_exports({"onnx": ["fp16", "int8"], "all": ["fp16"], "tflite": ["int8"]})[:3] == [
        ("onnx", "fp16"), ("onnx", "int8"), ("coreml", "fp16")]  # per-format lists, each pair once
    with pytest.raises(EdgeDepthError, match="unknown precision in8"):
        plan_exports(exports_of(["onnx"], ["fp32", "in8"]))
    with pytest.raises(ValueError, match="unknown export format 'onyx'"):
        plan_exports({"onyx": ["fp32"]})


def test_one_failing_format_costs_only_its_rows(fake_formats, student_ckpt, tmp_path):
    out = tmp_path / "bundles"
    lines = []
    bundles, failures = export_many(student_ckpt, out, exports_of(["nolib", "broken", "onnx"], ["fp32", "fp16"]),
                                    report=lines.append)
    assert [b.name for b in bundles] == ["onnx-fp32", "onnx-fp16"]
    by_name = {f.name: f for f in failures}
    assert set(by_name) == {"nolib-fp32", "nolib-fp16", "broken-fp32", "broken-fp16"}
    assert by_name["nolib-fp32"].status == "skipped" and "libnothing" in by_name["nolib-fp32"].reason
    assert by_name["broken-fp32"].status == "failed"
    # the whole message on one line: the useful part of a backend error is often after the first line break
    assert by_name["broken-fp32"].reason == "RuntimeError: converter crashed on op Resize second line of a long trace"
    assert by_name["broken-fp16"].status == "skipped"
    assert "exports fp32, int8, not fp16" in by_name["broken-fp16"].reason
    assert any(line.startswith("wrote ") and "onnx-fp16" in line for line in lines)

    record_failures(out, bundles, failures)
    assert {f.name for f in load_failures(out)} == set(by_name)
    # a later run that writes one of them (or fails it again) replaces its entry; the others stay
    record_failures(out, [bundles[0]], [failures[0]])
    assert len(json.loads((out / "exports.json").read_text())["failures"]) == 4

    report = measure(student_ckpt, bundles, EvalConfig(procedural_scenes=1, threads=1), timing=False,
                     failures=failures)
    rows = {row["artifact"]: row for row in report["rows"]}
    assert rows["onnx-fp16"]["status"] == "ok" and rows["onnx-fp16"]["fidelity"]["absrel"] <= 0.005
    assert rows["broken-fp32"]["status"] == "failed" and "Resize" in rows["broken-fp32"]["reason"]
    assert rows["nolib-fp32"]["status"] == "skipped"
