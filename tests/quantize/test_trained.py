"""int8 of a trained student: training leaves ReLU paths that are all zeros over the calibration set, which
random-weight students never have. Their calibrated range is zero; every int8 quantizer must still give them a
sane scale (`quantize.ranges`), the TFLite model must prepare under XNNPACK, and `edgedepth quantize` must never
keep an artifact its backend cannot load."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

pytest.importorskip("litert_torch", reason="TFLite export needs litert-torch (pip install 'edgedepth[tflite]')")
pytest.importorskip("ai_edge_quantizer", reason="TFLite quantization needs ai-edge-quantizer")
pytest.importorskip("ai_edge_litert", reason="the LiteRT runner needs ai-edge-litert")

import quantize.ranges  # noqa: E402
from edgedepth.checkpoint import load_student  # noqa: E402
from edgedepth.cli import main  # noqa: E402
from edgedepth.data.calibration import calibration_inputs  # noqa: E402
from edgedepth.distill.config import DistillConfig  # noqa: E402
from edgedepth.distill.train import train  # noqa: E402
from edgedepth.specs import input_spec  # noqa: E402
from edgedepth.stages.export import export_many  # noqa: E402
from quantize.registry import get_method  # noqa: E402
from runtime.bundle import load_bundle  # noqa: E402
from runtime.runners.litert import LiteRTRunner  # noqa: E402

pytestmark = pytest.mark.slow

# A short distillation (about a minute on one core) at a learning rate high enough that it leaves a decoder ReLU
# dead on every calibration input, as the demo's 1,200 steps do. float32 training: the same weights on any CPU.
TRAINING = DistillConfig(input_size=(64, 96), scenes=24, steps=120, batch_size=8, lr=1.5e-2, warmup_steps=5,
                         threads=1, mixed_precision="off")
CALIBRATION = 16
# A scale this small is what a zero range became (1e-9 / 255 ≈ 4e-12); a sane one is many orders above it.
SANE_SCALE = 1e-7


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("trained") / "student.safetensors"
    train(TRAINING, path, progress=False)
    model, info = load_student(path)
    return path, model, info


@pytest.fixture(scope="module")
def calibration(trained):
    return calibration_inputs(input_spec(trained[2]), CALIBRATION, 0)


@pytest.fixture(scope="module")
def bundles(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles")
    written, failures = export_many(trained[0], out, {"tflite": ["fp32", "int8"], "onnx": ["fp32"],
                                                          "tensorrt": ["fp32"]},
                                    calibration_samples=CALIBRATION, seed=0, report=lambda _: None)
    assert not failures, [(f.name, f.reason) for f in failures]
    return {b.name: b for b in written}


def dead_relus(model: nn.Module, calibration: list) -> list[str]:
    """ReLU modules whose output is zero everywhere on every calibration input."""
    peaks: dict[str, float] = {}
    hooks = [module.register_forward_hook(lambda _m, _i, out, name=name: peaks.__setitem__(
        name, max(peaks.get(name, 0.0), float(out.abs().max())))) for name, module in model.named_modules()
        if isinstance(module, nn.ReLU)]
    with torch.no_grad():
        for x in calibration:
            model(torch.from_numpy(x))
    for hook in hooks:
        hook.remove()
    return sorted(name for name, peak in peaks.items() if peak == 0.0)


def test_the_trained_student_has_a_dead_path_and_still_reads_its_input(trained, calibration):
    """The case this module is about: without it the other tests would prove nothing."""
    _, model, _ = trained
    assert dead_relus(model, calibration), "training left no dead ReLU: this module tests nothing"
    with torch.no_grad():
        outputs = np.stack([model(torch.from_numpy(x)).numpy() for x in calibration[:4]])
    assert outputs.std(axis=0).mean() > 0.05 * np.abs(outputs).mean()  # not collapsed to one map


def test_tflite_int8_prepares_under_xnnpack_and_tracks_torch(bundles):
    int8 = bundles["tflite-int8"]
    assert int8.manifest["quantization"]["floored_ranges"], "no range was raised: the dead path went unnoticed"
    with LiteRTRunner() as runner:
        runner.load(int8, 2)
        # one partition: XNNPACK runs the whole graph (a quantized unfused ReLU used to split it into several)
        assert runner.device_info() == {"delegate": "XNNPACK", "delegate_partitions": 1}
        runner.infer({int8.inputs[0]["name"]: np.zeros(int8.inputs[0]["shape"], np.float32)})
    assert float(int8.manifest["parity"]["psnr_db"]) >= 25.0, int8.manifest["parity"]


def test_quantize_refuses_an_artifact_its_backend_cannot_load(bundles, tmp_path, monkeypatch, capsys):
    """With the floor off (the quantizer's own epsilon alone), the model fails to prepare: exit 1 in one line,
    and nothing is left in the output folder."""
    monkeypatch.setattr(quantize.ranges, "RELATIVE_FLOOR", 0.0)
    monkeypatch.setattr(quantize.ranges, "ABSOLUTE_FLOOR", 0.0)
    out = tmp_path / "q"
    code = main(["quantize", "--bundle", str(bundles["tflite-fp32"].path), "--out", str(out),
                 "--calibration", str(CALIBRATION)])
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert len(err.splitlines()) == 1 and "does not run in litert" in err, err
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def test_quantize_keeps_a_bundle_that_runs_and_says_how_close_it_is(bundles, tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["quantize", "--bundle", str(bundles["tflite-fp32"].path), "--out", str(out),
                 "--calibration", str(CALIBRATION)]) == 0, capsys.readouterr().err
    parity = load_bundle(out / "tflite-int8").manifest["parity"]
    assert parity["vs"] == "fp32-bundle" and parity["backend"] == "litert"
    assert float(parity["psnr_db"]) >= 25.0, parity


def _activation_scales(path) -> dict[str, float]:
    """{activation: scale} of every QuantizeLinear in an ONNX QDQ graph (weights are stored already quantized)."""
    graph = onnx.load(str(path)).graph
    inits = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    return {node.input[0]: float(np.min(inits[node.input[1]])) for node in graph.node
            if node.op_type == "QuantizeLinear" and node.input[0] not in inits and node.input[1] in inits}


@pytest.mark.parametrize("method", ["ort-qdq", "nncf", "trt-qdq"])
def test_every_onnx_int8_gives_dead_paths_a_sane_scale(bundles, calibration, tmp_path, method):
    """onnxruntime's quantizer (CPU and TensorRT rules) gets the same floor as TFLite; NNCF applies its own minimum
    range (8e-4 each side of a zero range). Each artifact then loads and runs on its backend (`quantize.verify`)."""
    chosen = get_method(method)
    src = bundles[f"{chosen.format}-fp32"]
    derived = chosen.quantize_bundle(src, calibration, tmp_path / "out", f"{src.format}-{chosen.precision}")
    scales = _activation_scales(derived.model_path)
    assert scales and min(scales.values()) >= SANE_SCALE, sorted(scales.items(), key=lambda kv: kv[1])[:3]
    if method != "nncf":
        assert derived.manifest["quantization"]["floored_ranges"]
    assert derived.manifest["parity"]["vs"] == "fp32-bundle"
