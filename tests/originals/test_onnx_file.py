"""Any ONNX depth file (`onnx:`) re-targeted to the bundle contract: ONNX fp32/fp16/int8, OpenVINO and
TensorRT-rule ONNX bundles held to the file run in onnxruntime; TFLite and CoreML `failed` in one line (no
converter from ONNX in this stack); `python -m runtime predict` gives what the onnx teacher gives."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from PIL import Image

from edgedepth.cli import main
from edgedepth.data.sample import StereoSample
from edgedepth.originals import original_from_spec
from edgedepth.teachers import create_teacher
from runtime.__main__ import main as runtime_main
from runtime.bundle import sha256_file
from tests.originals.families import FORMATS, documented, export_rows
from tests.originals.onnx_files import write_depth_onnx
from tests.originals.test_predict_original import photo
from tests.originals.test_refusals import refused

KIND = {"kind": "relative_inverse_depth"}
PARITY = 1e-4  # of the output's range, as for every mono original


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A static NCHW file (and one at opset 11); a dynamic NHWC one; a float16 one predicting at half resolution
    with an extra output."""
    root = tmp_path_factory.mktemp("onnx-files")
    return {"static": write_depth_onnx(root / "static.onnx"),
            "opset-11": write_depth_onnx(root / "opset11.onnx", opset=11),
            "dynamic-nhwc": write_depth_onnx(root / "dynamic.onnx", layout="NHWC", dynamic=True),
            "half-float16": write_depth_onnx(root / "half.onnx", float16=True, half_output=True, extra_output=True,
                                             input_name="image", output_name="depth")}


ARGS = {"static": {}, "opset-11": {}, "dynamic-nhwc": {"layout": "NHWC", "size": "40x56"}, "half-float16": {}}


def build(files, case):
    return original_from_spec(f"onnx:{files[case]}", {**KIND, **ARGS[case]})


def test_every_format_from_an_onnx_file(files, tmp_path):
    """fp32 to every format: ONNX and OpenVINO within PARITY, TFLite and CoreML failed rows naming the missing
    converter; the outcome is docs/originals.md's row; the manifest records the file and the rewrites."""
    original = build(files, "static")
    rows = export_rows(original, tmp_path / "bundles")
    assert {fmt: row["status"] for fmt, row in rows.items()} == documented("onnx")
    for fmt in ("onnx", "openvino"):
        assert rows[fmt]["parity"]["max_abs_rel"] <= PARITY, rows[fmt]["parity"]
    for fmt in ("tflite", "coreml"):
        reason = rows[fmt]["reason"]
        assert f"ONNX-to-{fmt} converter" in reason and "\n" not in reason, reason
    manifest = rows["onnx"]["bundle"].manifest
    origin = manifest["source"]["original"]
    assert origin["family"] == "onnx" and origin["weights_sha256"] == sha256_file(files["static"])
    assert origin["input_size"] == [48, 64] and origin["preprocessing"]["input_filter"] == "bilinear"
    assert origin["rewrites"] == ["4 unnamed node(s) named (quantizers keep nodes float by name)",
                                  "output reshaped from [1, 1, 48, 64] to [1, 48, 64]"]
    assert manifest["outputs"][0] == {"name": "depth", "shape": [1, 48, 64], "dtype": "float32", "kind": KIND["kind"]}
    assert manifest["opset"] == 17
    graph = onnx.load(str(rows["onnx"]["bundle"].model_path)).graph
    assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == ["depth"]
    assert set(FORMATS) == set(rows)


@pytest.mark.parametrize("case", ["dynamic-nhwc", "half-float16"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_layouts_sizes_and_dtypes_go_through_the_graph(files, tmp_path, case, layout):
    """A dynamic or NHWC or float16 file, exported with either bundle layout: the bundle's ONNX takes the
    manifest's float32 input in its layout and gives the 1×h×w float32 map (h×w the file's own), as the file."""
    original = build(files, case)
    bundles, failures = export_many_quiet(original, tmp_path, {"onnx": ["fp32"], "openvino": ["fp32"]}, layout)
    assert not failures, failures
    height, width = (40, 56) if case == "dynamic-nhwc" else (48, 64)
    out_size = [height, width] if case == "dynamic-nhwc" else [24, 32]
    for bundle in bundles:
        assert bundle.manifest["parity"]["max_abs_rel"] <= (PARITY if case == "dynamic-nhwc" else 1e-3)
        spec = bundle.inputs[0]
        assert spec["layout"] == layout and spec["dtype"] == "float32"
        assert spec["shape"] == ([1, 3, height, width] if layout == "NCHW" else [1, height, width, 3])
        assert bundle.outputs[0]["shape"] == [1, *out_size]
    rewrites = original.rewrites
    if case == "dynamic-nhwc":
        assert rewrites[:2] == [f"input size fixed to {height}x{width}",
                                "NHWC input transposed (an NCHW bundle's input feeds it through a Transpose)"]
    else:
        assert {"input cast from float32 to float16", "outputs other than 'depth' pruned", "output cast to float32",
                "output reshaped from [1, 1, 24, 32] to [1, 24, 32]"} <= set(rewrites), rewrites
        assert original.origin()["output_size"] == out_size
    ops = [node.op_type for node in onnx.load(str(bundles[0].model_path)).graph.node]
    file_layout = "NHWC" if case == "dynamic-nhwc" else "NCHW"  # an NHWC file transposes to NCHW itself
    assert ops.count("Transpose") == (file_layout == "NHWC") + (file_layout != layout), ops


def export_many_quiet(original, root, exports, layout="NCHW"):
    from edgedepth.stages.export import ExportSource, export_many

    return export_many(ExportSource.of_original(original, 2), root / layout, exports, layout=layout,
                       report=lambda line: None)


def check_quantized(original, root, exports):
    """Export `exports` of the original, all of which must be written, and return their manifests by name."""
    bundles, failures = export_many_quiet(original, root, exports)
    assert not failures, failures
    got = {bundle.name: bundle.manifest for bundle in bundles}
    assert set(got) == {f"{fmt}-{p}" for fmt, precisions in exports.items() for p in precisions}
    for name, manifest in got.items():
        psnr = float(manifest["parity"]["psnr_db"])
        if manifest["precision"] == "fp32":
            assert manifest["parity"]["max_abs_rel"] <= PARITY, (name, manifest["parity"])
        elif manifest["precision"] == "fp16":
            assert psnr > 60, (name, manifest["parity"])
        else:  # int8: calibrated on two procedural scenes
            assert 25 < psnr < 100, (name, manifest["parity"])
    return got


def test_onnxruntime_quantized_onnx_and_tensorrt_bundles(files, tmp_path):
    """fp16 and int8 (onnxruntime's quantizers) of ONNX and TensorRT-rule ONNX, parity-checked, from a file at
    opset 11 (converted to the opset 13 that per-channel Q/DQ and TensorRT's rules need)."""
    original = build(files, "opset-11")
    assert "opset converted from 11 to 13 (per-channel int8 and TensorRT need it)" in original.rewrites
    got = check_quantized(original, tmp_path, {"onnx": ["fp16", "int8"], "tensorrt": ["fp32", "int8"]})
    assert got["onnx-int8"]["quantization"]["macs"]["int8_share"] > 0.5 and got["onnx-int8"]["opset"] == 13
    assert "TensorRT rules hold" in json.dumps(got["tensorrt-int8"]["checks"])


@pytest.mark.slow
def test_nncf_quantized_and_fp16_openvino_bundles(files, tmp_path):
    """NNCF's int8 of ONNX and OpenVINO, OpenVINO's compressed fp16 and TensorRT's fp16 graph."""
    check_quantized(build(files, "static"), tmp_path, {"onnx": ["int8-nncf"], "openvino": ["fp16", "int8"],
                                                       "tensorrt": ["fp16"]})


@pytest.mark.parametrize("case", ["static", "half-float16"])
def test_runtime_predict_matches_the_onnx_teacher(files, tmp_path, case):
    original = build(files, case)
    (bundle,), _ = export_many_quiet(original, tmp_path, {"onnx": ["fp32"]})
    image = photo(90, 120)
    Image.fromarray(image).save(tmp_path / "photo.png")
    assert runtime_main(["predict", str(bundle.path), str(tmp_path / "photo.png"), "--out", str(tmp_path / "out"),
                         "--save", "npy", "--threads", "1"]) == 0
    got = np.load(tmp_path / "out" / "photo.npy")
    teacher = create_teacher(f"onnx:{files[case]}", **KIND, **ARGS[case])
    reference = teacher.predict(StereoSample(name="photo", left=image, right=None)).value
    assert got.shape == reference.shape == image.shape[:2]
    span = float(reference.max() - reference.min())
    assert span > 0 and float(np.abs(got - reference).max()) <= 1e-3 * span


def test_verify_holds_the_bundles_to_the_onnx_file(files, tmp_path, capsys):
    spec = f"onnx:{files['dynamic-nhwc']}"
    args = ["--teacher-arg", "kind=relative_inverse_depth", "--teacher-arg", "layout=NHWC"]
    assert main(["export", "--model", spec, *args, "--size", "40x56", "--format", "onnx,openvino",
                 "--out", str(tmp_path / "bundles")]) == 0
    out = tmp_path / "verify"
    assert main(["verify", "--model", spec, *args, "--bundles", str(tmp_path / "bundles"), "--out", str(out),
                 "--eval-scenes", "2", "--no-cache"]) == 0
    rows = {row["artifact"]: row for row in json.loads((out / "report.json").read_text())["rows"]}
    assert rows["original:torch-fp32"]["status"] == "ok" and rows["teacher:onnx"]["status"] == "ok"
    for name in ("onnx-fp32", "openvino-fp32"):
        assert float(rows[name]["fidelity"]["psnr_db"]) > 80, rows[name]
    assert "original:torch-fp32" in capsys.readouterr().out


def test_refusals_are_one_line_and_write_nothing(files, tmp_path, capsys):
    static, dynamic = f"onnx:{files['static']}", f"onnx:{files['dynamic-nhwc']}"
    kind = ["--teacher-arg", "kind=relative_inverse_depth"]
    assert "keep_aspect" in refused(capsys, tmp_path, "--model", static, *kind, "--teacher-arg", "keep_aspect=true")
    assert "takes 48x64 images" in refused(capsys, tmp_path, "--model", static, *kind, "--size", "32x32")
    nhwc = [*kind, "--teacher-arg", "layout=NHWC"]
    assert "give size" in refused(capsys, tmp_path, "--model", dynamic, *nhwc)
    assert "disagrees with --teacher-arg size" in refused(capsys, tmp_path, "--model", dynamic, *nhwc,
                                                          "--teacher-arg", "size=32x32", "--size", "40x40")
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_bytes(b"not a protobuf")
    assert "not a loadable ONNX model" in refused(capsys, tmp_path, "--model", f"onnx:{not_onnx}", *kind)
    assert "kind=" in refused(capsys, tmp_path, "--model", static)
