"""OpenVINO IR exporter: the student's ONNX graph converted with `openvino.convert_model`, saved as model.xml +
model.bin; fp32, fp16 (compressed weights) or int8 (NNCF post-training quantization of the ONNX graph)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from export.base import Exporter, ExportRequest, model_for_layout
from export.onnx import export_onnx_file, opset_of
from export.precision import Precision, quantized
from export.registry import register_exporter
from runtime.runners.openvino import OpenVINORunner

MODEL_FILE = "model.xml"
WEIGHTS_FILE = "model.bin"


@register_exporter
class OpenVINOExporter(Exporter):
    """IR for OpenVINO's CPU plugin: static shapes, names from the manifest, parity-checked through the runner."""

    format = "openvino"
    model_file = MODEL_FILE
    # fp16 is the IR's compressed weights (decompressed to the runner's inference precision), not a quantizer.
    table = (
        Precision("fp32"),
        Precision("fp16", weight_storage="fp16"),
        quantized("nncf", name="int8"),
    )
    requires = (("onnx", "onnx"), ("onnxscript", "onnxscript"), ("openvino", "openvino"))
    install_hint = "pip install 'edgedepth[train,nncf]'"
    takes_onnx_graph = True

    def check_request(self, request: ExportRequest) -> Precision:
        """The base checks, plus NNCF for int8."""
        row = super().check_request(request)
        if row.quantizer == "nncf":
            try:
                import nncf  # noqa: F401
            except ImportError:
                raise ValueError("openvino int8 needs nncf (pip install nncf)") from None
        return row

    def convert(self, request: ExportRequest, precision: Precision, bundle_dir: Path,
                manifest: dict[str, Any]) -> None:
        """ONNX from torch, the quantizer on it for int8, then the IR (fp16: compressed weights)."""
        import openvino as ov

        names, out_name = [spec["name"] for spec in manifest["inputs"]], manifest["outputs"][0]["name"]
        module = model_for_layout(request.model.eval(), request.layout)
        # Parity is measured at the runner's inference precision; the manifest says which one that was.
        manifest["openvino"] = {"version": ov.__version__, "converted_from": f"onnx opset {opset_of(module)}",
                                "compress_to_fp16": precision.name == "fp16",
                                "inference_precision_hint": OpenVINORunner.PRECISION_HINTS[precision.name]}
        with tempfile.TemporaryDirectory() as work:
            onnx_path = Path(work) / "model.onnx"
            export_onnx_file(module, request.examples(), onnx_path, names, out_name)
            if precision.quantizer is not None:
                quantized_path = Path(work) / "model-quantized.onnx"
                manifest["quantization"] = self.quantize(request, precision, onnx_path, quantized_path)
                onnx_path = quantized_path
            ov.save_model(ov.convert_model(str(onnx_path)), str(bundle_dir / MODEL_FILE),
                          compress_to_fp16=precision.name == "fp16")
        if not (bundle_dir / WEIGHTS_FILE).is_file():
            raise RuntimeError(f"openvino.save_model wrote no {WEIGHTS_FILE} beside {MODEL_FILE}")

