"""OpenVINO IR exporter: the student's ONNX graph converted with `openvino.convert_model`, saved as model.xml +
model.bin; fp32, fp16 (compressed weights) or int8 (NNCF post-training quantization of the ONNX graph)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from export.base import Exporter, ExportRequest, model_for_layout
from export.onnx import MAX_FP32_ABS_REL, OPSET, export_onnx_file
from export.parity import reference_inputs, torch_vs_bundle
from export.registry import register_exporter
from quantize.calibration import calibration_sha256
from runtime.atomic import atomic_directory
from runtime.bundle import Bundle, load_bundle, write_manifest
from runtime.runners.openvino import OpenVINORunner

MODEL_FILE = "model.xml"
WEIGHTS_FILE = "model.bin"


@register_exporter
class OpenVINOExporter(Exporter):
    """IR for OpenVINO's CPU plugin: static shapes, names from the manifest, parity-checked through the runner."""

    format = "openvino"
    precisions = ("fp32", "fp16", "int8")
    calibrated = ("int8",)

    requires = (("onnx", "onnx"), ("onnxscript", "onnxscript"), ("openvino", "openvino"))
    install_hint = "pip install 'edgedepth[train,nncf]'"

    def check_request(self, request: ExportRequest) -> None:
        """The base checks, plus NNCF for int8."""
        super().check_request(request)
        if request.precision == "int8":
            try:
                import nncf  # noqa: F401
            except ImportError:
                raise ValueError("openvino int8 needs nncf (pip install nncf)") from None

    def export(self, request: ExportRequest, out_dir: Path, force: bool = False) -> Bundle:
        import openvino as ov

        self.check_request(request)
        precision = request.precision
        # Parity below is measured at the runner's inference precision; the manifest says which one that was.
        settings: dict[str, Any] = {"version": ov.__version__, "converted_from": f"onnx opset {OPSET}",
                                    "compress_to_fp16": precision == "fp16",
                                    "inference_precision_hint": OpenVINORunner.PRECISION_HINTS[precision]}
        manifest = request.manifest("openvino", precision, openvino=settings)
        names, out_spec = [spec["name"] for spec in manifest["inputs"]], manifest["outputs"][0]
        height, width = request.info.input_size
        module = model_for_layout(request.model.eval(), request.layout)
        final = Path(out_dir) / request.name
        with atomic_directory(final, force) as tmp, tempfile.TemporaryDirectory() as work:
            onnx_path = Path(work) / "model.onnx"
            export_onnx_file(module, request.examples(), onnx_path, names, out_spec["name"])
            if precision == "int8":
                from quantize.nncf_int8 import quantize_onnx_nncf

                quantized = Path(work) / "model-int8.onnx"
                manifest["quantization"] = quantize_onnx_nncf(
                    onnx_path, request.calibration_feed(), names, quantized)
                manifest["source"]["calibration_sha256"] = calibration_sha256(request.calibration)
                onnx_path = quantized
            ov.save_model(ov.convert_model(str(onnx_path)), str(tmp / MODEL_FILE),
                          compress_to_fp16=precision == "fp16")
            if not (tmp / WEIGHTS_FILE).is_file():
                raise RuntimeError(f"openvino.save_model wrote no {WEIGHTS_FILE} beside {MODEL_FILE}")
            write_manifest(tmp, manifest)
            inputs, _ = reference_inputs("fp32", None, [1, 3, height, width], len(names))
            parity = torch_vs_bundle(request.model, load_bundle(tmp), inputs)
            if precision == "fp32" and parity["max_abs_rel"] > MAX_FP32_ABS_REL:
                raise RuntimeError(f"OpenVINO fp32 export disagrees with torch: max |Δ|/range "
                                   f"{parity['max_abs_rel']:.2e} > {MAX_FP32_ABS_REL}")
            manifest["parity"] = parity
            write_manifest(tmp, manifest)
        return load_bundle(final)
