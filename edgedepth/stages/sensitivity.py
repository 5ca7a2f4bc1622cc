"""The sensitivity stage: which layers of an fp32 ONNX bundle int8 hurts, written as sensitivity.json and
sensitivity.md and printed as a table."""

from __future__ import annotations

from pathlib import Path

from edgedepth.data.calibration import calibration_inputs
from edgedepth.errors import EdgeDepthError
from edgedepth.outputs import check_writable
from quantize.sensitivity import LayerSensitivity, layer_sensitivity, sensitivity_json, sensitivity_table
from runtime.atomic import atomic_write_json, atomic_write_text
from runtime.bundle import Bundle

SHOWN = 15  # rows printed; the files hold every layer


def run_sensitivity(bundle: Bundle, out: Path, samples: int = 8, seed: int = 0, images: str | None = None,
                    force: bool = False, threads: int = 2, report=print) -> list[LayerSensitivity]:
    """Each layer of `bundle` (an fp32 ONNX model) alone in int8, on `samples` calibration inputs (procedural
    scenes or the photos in `images`); results into `out`, most harmful first."""
    if bundle.model_path.suffix != ".onnx" or bundle.precision != "fp32":
        raise EdgeDepthError(f"--sensitivity takes an fp32 ONNX bundle (onnx-fp32, tensorrt-fp32), not "
                             f"{bundle.format} {bundle.precision}")
    targets = [Path(out) / "sensitivity.json", Path(out) / "sensitivity.md"]
    for target in targets:
        check_writable(target, force=force)
    calibration = calibration_inputs(bundle.inputs, samples, seed, images)
    layers = layer_sensitivity(bundle.model_path, calibration, [spec["name"] for spec in bundle.inputs], threads)
    if not layers:
        raise EdgeDepthError(f"{bundle.name} has no Conv, ConvTranspose, MatMul or Gemm layer to quantize")
    table = sensitivity_table(layers)
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_json(targets[0], sensitivity_json(layers, bundle.name, len(calibration)))
    atomic_write_text(targets[1], f"# int8 sensitivity of {bundle.name}\n\nEach layer alone in int8, output vs "
                      f"fp32 on {len(calibration)} calibration inputs; most harmful first.\n\n{table}\n")
    report(sensitivity_table(layers, SHOWN))
    report(f"{len(layers)} layers; wrote {targets[0]} and {targets[1]}")
    return layers
