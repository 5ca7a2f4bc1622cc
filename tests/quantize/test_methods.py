"""The `quantize` verb's methods: each turns an fp32 bundle into a quantized one named like `export` names it,
with the method, its source bundle and the calibration recorded; wrong inputs are one-line refusals."""

import pytest

from edgedepth.cli import main
from runtime.bundle import load_bundle
from tests.helpers import check_derived

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method, precision, prefix", [("ort-qdq", "int8", "onnxruntime"),
                                                       ("nncf", "int8-nncf", "nncf")])
def test_onnx_methods(student_ckpt, onnx_bundles, tmp_path, method, precision, prefix):
    fp32, _ = onnx_bundles
    assert main(["quantize", "--bundle", str(fp32.path), "--out", str(tmp_path), "--method", method,
                 "--calibration", "4"]) == 0
    check_derived(load_bundle(tmp_path / f"onnx-{precision}"), fp32, precision, prefix)


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
