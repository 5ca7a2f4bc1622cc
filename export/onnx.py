"""ONNX exporter: torch.export-based (dynamo) graph, weights inside the file, static shapes, parity-checked.

Precisions: fp32 (the float reference), fp16 (float16 weights and activations, float32 I/O), int8 (static QDQ
by onnxruntime's quantizer) and int8-nncf (static QDQ by NNCF post-training quantization), both calibrated on
the request's inputs.
"""

from __future__ import annotations

import importlib
import io
import logging
import tempfile
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from export.base import Exporter, ExportRequest, model_for_layout
from export.parity import reference_inputs, torch_vs_bundle
from export.registry import register_exporter
from quantize.calibration import calibration_sha256
from runtime.atomic import atomic_directory
from runtime.bundle import Bundle, load_bundle, write_manifest

if TYPE_CHECKING:
    import onnx

OPSET = 20
MODEL_FILE = "model.onnx"
# Quantized precisions: (module, function(fp32_path, calibration, input_name, out_path) -> quantization entry).
QUANTIZERS = {
    "int8": ("quantize.onnxruntime_qdq", "quantize_onnx_qdq"),
    "int8-nncf": ("quantize.nncf_int8", "quantize_onnx_nncf"),
}
# fp32 artifacts must agree with torch to this fraction of the output range, or the export is refused.
MAX_FP32_ABS_REL = 1e-3


def export_onnx_file(module: torch.nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], path: Path,
                     input_name: str | list[str], output_name: str) -> None:
    """Write `module` traced on `example` (one tensor, or one per input) to `path` as a single ONNX file."""
    import onnx

    examples = example if isinstance(example, tuple) else (example,)
    input_names = [input_name] if isinstance(input_name, str) else list(input_name)

    # The exporter logs one warning per torchvision operator it cannot register; edgedepth needs none of them.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), examples, str(path), dynamo=True, external_data=False, opset_version=OPSET,
            input_names=input_names, output_names=[output_name], verbose=False,
        )
    model = onnx.load(str(path))
    strip_trace_metadata(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def strip_trace_metadata(model: onnx.ModelProto) -> None:
    """Drop per-node tracing metadata (source paths, stack traces): it leaks the build machine's file layout
    into the artifact and makes the same model hash differently on two machines."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""


def convert_to_fp16(fp32_path: Path, out_path: Path) -> None:
    """float16 weights and compute, float32 graph inputs/outputs (so the same feed runs every precision)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(model, str(out_path))


@register_exporter
class OnnxExporter(Exporter):
    """fp32 ONNX for onnxruntime, OpenVINO and TensorRT; fp16 and static int8 (QDQ) derived from it."""

    format = "onnx"
    precisions = ("fp32", "fp16", "int8", "int8-nncf")
    calibrated = ("int8", "int8-nncf")

    requires = (("onnx", "onnx"), ("onnxscript", "onnxscript"))
    install_hint = "pip install 'edgedepth[train]'"

    def export(self, request: ExportRequest, out_dir: Path, force: bool = False) -> Bundle:
        self.check_request(request)
        precision = request.precision
        manifest = request.manifest("onnx", precision, opset=OPSET)
        names, out_spec = [spec["name"] for spec in manifest["inputs"]], manifest["outputs"][0]
        height, width = request.info.input_size
        module = model_for_layout(request.model.eval(), request.layout)
        final = Path(out_dir) / request.name
        with atomic_directory(final, force) as tmp, tempfile.TemporaryDirectory() as work:
            fp32_path = (tmp if precision == "fp32" else Path(work)) / MODEL_FILE
            export_onnx_file(module, request.examples(), fp32_path, names, out_spec["name"])
            if precision == "fp16":
                convert_to_fp16(fp32_path, tmp / MODEL_FILE)
            elif precision in self.calibrated:
                module_name, function = QUANTIZERS[precision]
                quantize = getattr(importlib.import_module(module_name), function)
                manifest["quantization"] = quantize(fp32_path, request.calibration_feed(), names, tmp / MODEL_FILE)
                manifest["source"]["calibration_sha256"] = calibration_sha256(request.calibration)
            write_manifest(tmp, manifest)
            inputs, origin = reference_inputs(precision, request.calibration, [1, 3, height, width], len(names))
            parity = torch_vs_bundle(request.model, load_bundle(tmp), inputs)
            if precision == "fp32" and parity["max_abs_rel"] > MAX_FP32_ABS_REL:
                raise RuntimeError(
                    f"ONNX export disagrees with torch: max |Δ|/range {parity['max_abs_rel']:.2e} > {MAX_FP32_ABS_REL}"
                )
            manifest["parity"] = {**parity, "inputs_from": origin}
            write_manifest(tmp, manifest)
        return load_bundle(final)
