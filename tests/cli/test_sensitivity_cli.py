"""`edgedepth quantize --sensitivity BUNDLE`: every layer of the student's fp32 ONNX bundle alone in int8, as a
sorted table and JSON; refusals are one line."""

from __future__ import annotations

import json

import pytest

from edgedepth.cli import main


@pytest.mark.slow
def test_sensitivity_of_the_student(onnx_bundles, tmp_path, capsys):
    fp32, int8 = onnx_bundles
    out = tmp_path / "sensitivity"
    assert main(["quantize", "--sensitivity", str(fp32.path), "--out", str(out),
                 "--calibration", "2"]) == 0
    layers = json.loads((out / "sensitivity.json").read_text())["layers"]
    assert len(layers) > 10 and [layer["psnr_db"] for layer in layers] == sorted(layer["psnr_db"] for layer in layers)
    assert all(layer["macs"] > 0 and layer["op"] in ("Conv", "ConvTranspose", "MatMul", "Gemm") for layer in layers)
    assert layers[0]["node"] in (out / "sensitivity.md").read_text()
    assert "| layer | op | share of MACs |" in capsys.readouterr().out
    # written once: a second run needs --force; an int8 bundle is not what it measures
    assert main(["quantize", "--sensitivity", str(fp32.path), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["quantize", "--sensitivity", str(int8.path), "--out", str(tmp_path / "x")]) == 2
    assert "fp32 ONNX bundle" in capsys.readouterr().err and not (tmp_path / "x").exists()
