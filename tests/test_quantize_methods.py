"""The `quantize` verb's methods: each turns an fp32 bundle into a quantized one named like `export` names it,
with the method, its source bundle and the calibration recorded; wrong inputs are one-line refusals."""

import numpy as np
import pytest

from edgedepth.cli import main
from edgedepth.stages.export import export_student
from runtime.bundle import load_bundle
from runtime.metrics import agreement
from runtime.runners.registry import runner_for_format

pytestmark = pytest.mark.slow


def _outputs(bundle, inputs):
    with runner_for_format(bundle.format)() as runner:
        runner.load(bundle, 1)
        return np.stack([runner.infer({bundle.inputs[0]["name"]: x})[bundle.outputs[0]["name"]] for x in inputs])


def _check_derived(derived, fp32, precision, method_prefix):
    m = derived.manifest
    assert (m["name"], m["format"], m["precision"]) == (f"{fp32.format}-{precision}", fp32.format, precision)
    assert m["quantization"]["method"].startswith(method_prefix)
    assert m["quantization"]["from"] == {"name": fp32.name, "sha256": fp32.manifest["files"][fp32.model_path.name]}
    assert m["quantization"]["calibration_samples"] == 4 and len(m["source"]["calibration_sha256"]) == 64
    assert m["inputs"] == fp32.manifest["inputs"] and m["outputs"] == fp32.manifest["outputs"]
    assert "parity" not in m and "checks" not in m  # the fp32 bundle's parity does not describe this model
    rng = np.random.default_rng(5)
    inputs = [np.clip(rng.normal(size=fp32.inputs[0]["shape"]), -2, 2).astype(np.float32) for _ in range(2)]
    stats = agreement(_outputs(fp32, inputs), _outputs(derived, inputs))
    assert np.isfinite(stats["psnr_db"]) and stats["psnr_db"] > 15, stats  # runs, and tracks the fp32 model


@pytest.mark.parametrize("method, precision, prefix", [("ort-qdq", "int8", "onnxruntime"),
                                                       ("nncf", "int8-nncf", "nncf")])
def test_onnx_methods(student_ckpt, onnx_bundles, tmp_path, method, precision, prefix):
    fp32, _ = onnx_bundles
    assert main(["quantize", "--bundle", str(fp32.path), "--out", str(tmp_path), "--method", method,
                 "--calibration", "4"]) == 0
    _check_derived(load_bundle(tmp_path / f"onnx-{precision}"), fp32, precision, prefix)


def test_litert_is_the_tflite_default(student_ckpt, tmp_path):
    pytest.importorskip("ai_edge_quantizer", reason="LiteRT int8 needs ai-edge-quantizer")
    pytest.importorskip("ai_edge_litert", reason="the LiteRT runner needs ai-edge-litert")
    fp32 = export_student(student_ckpt, tmp_path / "fp32", "tflite")
    assert main(["quantize", "--bundle", str(fp32.path), "--out", str(tmp_path), "--calibration", "4"]) == 0
    derived = load_bundle(tmp_path / "tflite-int8")
    _check_derived(derived, fp32, "int8", "ai-edge-quantizer static_wi8_ai8")
    assert derived.manifest["quantization"]["ranges"] == "min/max over all calibration samples"


@pytest.mark.parametrize("method, message", [("litert", "applies to tflite bundles, not onnx"),
                                             ("gptq", "unknown quantization method 'gptq'")])
def test_wrong_method_is_one_line(onnx_bundles, tmp_path, capsys, method, message):
    fp32, _ = onnx_bundles
    assert main(["quantize", "--bundle", str(fp32.path), "--out", str(tmp_path), "--method", method]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not any(tmp_path.iterdir())


def test_quantized_bundle_is_not_a_starting_point(onnx_bundles, tmp_path, capsys):
    _, int8 = onnx_bundles
    assert main(["quantize", "--bundle", str(int8.path), "--out", str(tmp_path), "--method", "nncf"]) == 2
    assert "needs an fp32 onnx bundle, got onnx/int8" in capsys.readouterr().err
