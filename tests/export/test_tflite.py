"""TFLite export (litert-torch + ai-edge-quantizer) and the LiteRT runner: parity with torch per precision,
NHWC input, manifests, sha256 refusal, integer-I/O models, and the bilinear upsampling path on its own."""

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("litert_torch", reason="TFLite export needs litert-torch (pip install 'edgedepth[tflite]')")
pytest.importorskip("ai_edge_quantizer", reason="TFLite quantization needs ai-edge-quantizer")
pytest.importorskip("ai_edge_litert", reason="the LiteRT runner needs ai-edge-litert")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from edgedepth.checkpoint import checkpoint_sha256, load_student  # noqa: E402
from edgedepth.data.calibration import calibration_inputs  # noqa: E402
from edgedepth.models.blocks import Upsample2x  # noqa: E402
from edgedepth.specs import input_spec  # noqa: E402
from export.base import ExportRequest  # noqa: E402
from export.parity import parity_inputs, torch_vs_bundle  # noqa: E402
from export.registry import get_exporter  # noqa: E402
from export.tflite import TFLiteExporter, convert_to_tflite  # noqa: E402
from quantize.calibration import calibration_sha256  # noqa: E402
from quantize.litert_int8 import STATIC_INT8, quantize_tflite  # noqa: E402
from runtime.bundle import BundleError, load_bundle, write_manifest  # noqa: E402
from runtime.metrics import agreement  # noqa: E402
from runtime.runners.litert import LiteRTRunner  # noqa: E402
from runtime.runners.registry import runner_for_format  # noqa: E402
from tests.helpers import check_derived, make_student  # noqa: E402

pytestmark = pytest.mark.slow

SHAPE = [1, 3, 64, 96]
PRECISIONS = ("fp32", "fp16", "int8", "int8-dynamic")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = make_student(tmp_path_factory.mktemp("tflite-student") / "s.safetensors", size=(64, 96), features=16)
    model, info = load_student(path)
    return path, model, info


@pytest.fixture(scope="module")
def calibration(student):
    _, _, info = student
    return calibration_inputs(input_spec(info), 8, 0)


def _request(student, name, precision="fp32", layout="NCHW", calibration=None):
    path, model, info = student
    return ExportRequest(model, info, checkpoint_sha256(path), name, layout=layout, precision=precision,
                         calibration=calibration)


@pytest.fixture(scope="module")
def bundles(student, calibration, tmp_path_factory):
    """One bundle per precision (the float flatbuffer is converted once and quantized three ways)."""
    out = tmp_path_factory.mktemp("tflite-bundles")
    exporter = get_exporter("tflite")
    return {p: exporter.export(_request(student, f"tflite-{p}", p, calibration=calibration), out) for p in PRECISIONS}


def _run(bundle, x, threads=2):
    with runner_for_format("tflite")() as runner:
        runner.load(bundle, threads)
        assert runner.init_ms > 0
        return runner.infer({bundle.inputs[0]["name"]: x})[bundle.outputs[0]["name"]]


def _tensor_types(bundle):
    """{numpy dtype name: count} over every tensor of the model, and the I/O dtypes."""
    interpreter = Interpreter(model_path=str(bundle.model_path))
    counts = {}
    for detail in interpreter.get_tensor_details():
        name = np.dtype(detail["dtype"]).name
        counts[name] = counts.get(name, 0) + 1
    io = [np.dtype(d["dtype"]).name for d in interpreter.get_input_details() + interpreter.get_output_details()]
    return counts, io


def test_fp32_matches_torch(student, bundles):
    _, model, _ = student
    stats = torch_vs_bundle(model, bundles["fp32"], parity_inputs(SHAPE, count=3, seed=7))
    assert stats["max_abs_rel"] <= 1e-4, stats
    assert bundles["fp32"].manifest["parity"]["max_abs_rel"] <= 1e-4


def test_fp16_tracks_fp32(bundles):
    x = parity_inputs(SHAPE, count=1, seed=11)[0]
    ref, got = _run(bundles["fp32"], x), _run(bundles["fp16"], x)
    assert got.dtype == np.float32 and got.shape == ref.shape == (1, 64, 96)
    stats = agreement(ref, got)
    assert stats["absrel"] <= 0.005, stats
    counts, io = _tensor_types(bundles["fp16"])
    assert counts.get("float16", 0) > 50 and io == ["float32", "float32"]
    assert bundles["fp16"].model_path.stat().st_size < 0.6 * bundles["fp32"].model_path.stat().st_size


def test_int8_static_is_integer_inside_with_float_io(bundles):
    counts, io = _tensor_types(bundles["int8"])
    assert io == ["float32", "float32"]
    assert counts.get("int8", 0) > 5 * counts.get("float32", 0), counts
    assert bundles["int8"].model_path.stat().st_size < 0.35 * bundles["fp32"].model_path.stat().st_size


def test_int8_static_psnr_vs_torch(student, bundles):
    """A random student's output is nearly flat (the hard case for per-tensor int8): 36 dB measured on held-out
    scenes, 30 dB on the manifest's calibration inputs."""
    _, model, info = student
    held_out = calibration_inputs(input_spec(info), 2, 1)
    stats = torch_vs_bundle(model, bundles["int8"], held_out)
    assert np.isfinite(stats["psnr_db"]) and stats["psnr_db"] >= 25, stats
    parity = bundles["int8"].manifest["parity"]
    assert parity["inputs_from"] == "calibration" and parity["psnr_db"] >= 25


def test_int8_ranges_cover_every_calibration_input_in_any_order(bundles, calibration):
    """The library's own calibrate() averages ranges (EMA), so they depend on sample order and clip early inputs."""
    from ai_edge_quantizer import quantizer, recipe

    from quantize.litert_int8 import SIGNATURE, global_ranges

    q = quantizer.Quantizer(bytearray(bundles["fp32"].model_path.read_bytes()))
    q.load_quantization_recipe(recipe.static_wi8_ai8())
    bright, dark = calibration[0] + 2.0, calibration[1] - 2.0
    forward, backward = (global_ranges(q, "image", pair, 1) for pair in ([bright, dark], [dark, bright]))
    alone = {name: global_ranges(q, "image", [x], 1) for name, x in (("bright", bright), ("dark", dark))}
    assert forward.keys() == backward.keys() and len(forward) > 50
    for tensor, qsv in forward.items():
        np.testing.assert_array_equal(qsv["min"], backward[tensor]["min"])
        expected_max = np.maximum(alone["bright"][tensor]["max"], alone["dark"][tensor]["max"])
        np.testing.assert_array_equal(qsv["max"], expected_max)
    averaged = q.calibrate({SIGNATURE: [{"image": dark}, {"image": bright}]}, num_threads=1)
    input_ranges = [t for t in forward if np.asarray(forward[t]["max"]).max() == pytest.approx(bright.max())]
    assert input_ranges, "the input tensor's range is the brightest input's maximum"
    assert np.asarray(averaged[input_ranges[0]]["max"]).max() < bright.max() - 0.5  # what global ranges avoid


def test_int8_dynamic_keeps_float_activations(student, bundles):
    _, model, _ = student
    stats = torch_vs_bundle(model, bundles["int8-dynamic"], parity_inputs(SHAPE, count=1, seed=3))
    assert stats["psnr_db"] >= 30, stats
    counts, io = _tensor_types(bundles["int8-dynamic"])
    assert io == ["float32", "float32"] and counts.get("int8", 0) >= 70 and counts["float32"] > counts["int8"]


def test_manifests_follow_the_contract(student, bundles, calibration):
    path, _, _ = student
    for precision, bundle in bundles.items():
        m = json.loads((bundle.path / "manifest.json").read_text())
        assert (m["name"], m["format"], m["precision"], m["task"]) == (f"tflite-{precision}", "tflite", precision,
                                                                       "mono")
        assert m["inputs"][0]["shape"] == SHAPE and m["inputs"][0]["layout"] == "NCHW"
        assert m["outputs"][0]["shape"] == [1, 64, 96] and m["outputs"][0]["dtype"] == "float32"
        assert set(m["files"]) == {"model.tflite"} and m["signature"] == "serving_default"
        assert m["source"]["checkpoint_sha256"] == checkpoint_sha256(path)
        assert m["converter"]["litert-torch"] == "0.10.0"
        if precision == "fp32":
            assert "quantization" not in m
        else:
            assert m["quantization"]["method"].startswith("ai-edge-quantizer") and m["quantization"]["io"] == "float32"
    assert bundles["int8"].manifest["quantization"]["calibration_samples"] == len(calibration)
    assert bundles["int8"].manifest["quantization"]["ranges"] == "min/max over all calibration samples"
    assert bundles["int8"].manifest["source"]["calibration_sha256"] == calibration_sha256(calibration)
    assert bundles["int8-dynamic"].manifest["source"]["calibration_sha256"] is None
    assert bundles["fp16"].manifest["quantization"]["weights"] == "float16"


def test_nhwc_fp32_matches_torch(student, tmp_path):
    _, model, _ = student
    bundle = get_exporter("tflite").export(_request(student, "tflite-nhwc", layout="NHWC"), tmp_path)
    assert bundle.inputs[0]["shape"] == [1, 64, 96, 3] and bundle.inputs[0]["layout"] == "NHWC"
    assert bundle.manifest["parity"]["max_abs_rel"] <= 1e-4
    x = torch.from_numpy(parity_inputs(SHAPE, 1, 5)[0])
    with torch.no_grad():
        ref = model(x).numpy()
    got = _run(bundle, x.permute(0, 2, 3, 1).contiguous().numpy(), threads=1)
    assert np.abs(got - ref).max() <= 1e-4 * (ref.max() - ref.min())


def test_tampered_tflite_is_refused(bundles, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundles["fp32"].path, copy)
    data = bytearray((copy / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(copy)


def test_existing_bundle_needs_force(student, bundles):
    with pytest.raises(FileExistsError, match="--force"):
        get_exporter("tflite").export(_request(student, "tflite-fp32"), bundles["fp32"].path.parent)


def test_requests_the_format_cannot_serve_are_refused(student):
    exporter = get_exporter("tflite")
    with pytest.raises(ValueError, match="needs calibration"):
        exporter.export(_request(student, "x", "int8"), "unused")
    with pytest.raises(ValueError, match="not 'int16'"):
        exporter.export(_request(student, "x", "int16"), "unused")


def _integer_io_bundle(fp32, calibration, root):
    """The fp32 bundle re-quantized fully integer (int8 input and output tensors), manifest still float32 I/O."""
    model, _ = quantize_tflite(fp32.model_path.read_bytes(), STATIC_INT8, "image", calibration, float_io=False)
    root.mkdir()
    (root / "model.tflite").write_bytes(model)
    manifest = {k: v for k, v in fp32.manifest.items() if k not in ("files", "parity")}
    write_manifest(root, {**manifest, "name": "tflite-int8-io", "precision": "int8"})
    return load_bundle(root)


def test_runner_quantizes_and_dequantizes_integer_io(bundles, calibration, tmp_path):
    bundle = _integer_io_bundle(bundles["fp32"], calibration, tmp_path / "int8-io")
    assert _tensor_types(bundle)[1] == ["int8", "int8"]
    x = calibration[0]
    got, ref = _run(bundle, x), _run(bundles["int8"], x)
    assert got.dtype == np.float32 and got.shape == (1, 64, 96)
    stats = agreement(ref, got)
    assert stats["max_abs_rel"] <= 1e-3, stats  # the same int8 graph: identical up to input rounding


def test_runner_refuses_a_manifest_that_does_not_fit_the_model(bundles, tmp_path):
    root = tmp_path / "stale"
    shutil.copytree(bundles["fp32"].path, root)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["inputs"][0]["shape"] = [1, 3, 32, 32]
    write_manifest(root, manifest)
    with pytest.raises(ValueError, match="model input 'image' is \\[1, 3, 64, 96\\]"):
        LiteRTRunner().load(load_bundle(root), 1)
    manifest["inputs"][0]["shape"] = SHAPE
    manifest["inputs"].append({**manifest["inputs"][0], "name": "right"})
    write_manifest(root, manifest)
    with pytest.raises(ValueError, match="differ from the manifest's"):
        LiteRTRunner().load(load_bundle(root), 1)


def test_availability_says_what_is_missing(monkeypatch):
    import importlib.util

    assert runner_for_format("tflite") is LiteRTRunner and LiteRTRunner.available() == (True, "")
    assert TFLiteExporter.available() == (True, "")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("litert_torch", "ai_edge_litert", "tflite_runtime")
                        else real(name, *a))
    ok, reason = TFLiteExporter.available()
    assert not ok and "litert-torch" in reason
    ok, reason = LiteRTRunner.available()
    assert not ok and "ai_edge_litert is not installed" in reason and "tflite_runtime is not installed" in reason


@pytest.mark.parametrize("align_corners", [True, False])
def test_upsampling_path_matches_torch(align_corners):
    """The decoder's bilinear 2x upsampling between convs (align_corners=True is the classic TFLite pitfall)."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), Upsample2x(align_corners), nn.ReLU(),
                           nn.Conv2d(8, 2, 3, padding=1)).eval()
    other = nn.Sequential(module[0], Upsample2x(not align_corners), module[2], module[3]).eval()
    x = torch.randn(1, 4, 8, 12)
    interpreter = Interpreter(model_content=convert_to_tflite(module, x, "image", "out"))
    got = interpreter.get_signature_runner()(image=x.numpy())["out"]
    with torch.no_grad():
        ref, wrong = module(x).numpy(), other(x).numpy()
    span = ref.max() - ref.min()
    assert got.shape == ref.shape == (1, 2, 16, 24)
    assert np.abs(got - ref).max() <= 1e-4 * span
    assert np.abs(wrong - ref).max() > 1e-2 * span  # the two modes differ: the test can tell them apart


def test_litert_is_the_tflite_default_of_quantize(bundles, tmp_path):
    """`edgedepth quantize` on an fp32 .tflite bundle takes LiteRT static int8 unless told otherwise."""
    from edgedepth.cli import main

    fp32 = bundles["fp32"]
    assert main(["quantize", "--bundle", str(fp32.path), "--out", str(tmp_path), "--calibration", "4"]) == 0
    derived = load_bundle(tmp_path / "tflite-int8")
    check_derived(derived, fp32, "int8", "ai-edge-quantizer static_wi8_ai8")
    assert derived.manifest["quantization"]["ranges"] == "min/max over all calibration samples"
