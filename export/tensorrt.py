"""TensorRT exporter: an ONNX graph made for TensorRT's rules plus build_engine.sh; the engine itself is built on
the Jetson or GPU that runs it (engines are tied to their GPU and TensorRT version).

Precisions (the table below): fp32; fp16, a strongly typed float16 graph with float32 inputs and outputs; int8,
explicit quantization with symmetric int8 Q/DQ (zero point 0), per-channel weight scales on the output-channel
axis, float biases, Q/DQ on both inputs of residual Adds so TensorRT fuses them, calibrated on the same inputs as
every other int8 format. The quantizer is onnxruntime's `quantize_static` in TensorRT style rather than NVIDIA
Model Optimizer, whose ONNX extra pins onnx, onnxruntime-gpu and cupy versions this project's single resolve
cannot take. Every graph passes `runtime.host.tensorrt_rules` or the export fails.

Where TensorRT or a GPU is missing, parity (and the measuring stage) runs the same graph in onnxruntime on the
CPU with Q/DQ kept as explicit operators: an emulation of TensorRT's numerics, never of its speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from export.base import ExportRequest
from export.onnx import OnnxExporter
from export.parity import reference_inputs, torch_vs_bundle
from export.precision import Precision, quantized
from export.registry import register_exporter
from runtime.bundle import Bundle
from runtime.host.tensorrt_build import MODEL_FILE, finish_bundle
from runtime.runners.registry import runner_here


@register_exporter
class TensorRTExporter(OnnxExporter):
    """ONNX for TensorRT (static shapes, opset 20, symmetric Q/DQ for int8) and the trtexec script to build it:
    the ONNX exporter's graph and quantizer step, then the rule check and build_engine.sh."""

    format = "tensorrt"
    model_file = MODEL_FILE
    table = (
        Precision("fp32"),
        quantized("trt-fp16"),
        quantized("trt-qdq"),
    )
    requires = (("onnx", "onnx"), ("onnxscript", "onnxscript"), ("onnxruntime", "onnxruntime"))

    def convert(self, request: ExportRequest, precision: Precision, bundle_dir: Path,
                manifest: dict[str, Any]) -> None:
        """The ONNX exporter's graph at this precision, then the rule check and build_engine.sh."""
        super().convert(request, precision, bundle_dir, manifest)
        finish_bundle(bundle_dir, manifest)

    def check_bundle(self, bundle: Bundle, precision: Precision) -> dict[str, Any] | None:
        """The rule check `finish_bundle` recorded (it already refused a graph that breaks a rule)."""
        return bundle.manifest.get("checks")

    def measure_parity(self, request: ExportRequest, precision: Precision, bundle: Bundle) -> dict[str, Any]:
        """Against torch through TensorRT where it runs here, else through its onnxruntime emulation (said so)."""
        runner_cls, _ = runner_here(self.format)
        height, width = request.info.input_size
        inputs, origin = reference_inputs(precision, request.calibration, [1, 3, height, width], len(bundle.inputs))
        stats = torch_vs_bundle(request.model, bundle, inputs, runner_cls=runner_cls)
        return {**stats, "inputs_from": origin, "runner": getattr(runner_cls, "name", "")}
