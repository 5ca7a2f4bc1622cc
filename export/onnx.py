"""ONNX exporter: torch.export-based (dynamo) graph, weights inside the file, static shapes, parity-checked."""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from export.base import Exporter, ExportRequest, model_for_layout
from export.parity import parity_inputs, torch_vs_bundle
from export.registry import register_exporter
from runtime.atomic import atomic_directory
from runtime.bundle import Bundle, load_bundle, write_manifest

if TYPE_CHECKING:
    import onnx

OPSET = 20
MODEL_FILE = "model.onnx"
# fp32 artifacts must agree with torch to this fraction of the output range, or the export is refused.
MAX_FP32_ABS_REL = 1e-3


def export_onnx_file(module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str,
                     output_name: str) -> None:
    """Write `module` traced on `example` to `path` as a single self-contained ONNX file."""
    import onnx

    # The exporter logs one warning per torchvision operator it cannot register; edgedepth needs none of them.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), (example,), str(path), dynamo=True, external_data=False, opset_version=OPSET,
            input_names=[input_name], output_names=[output_name], verbose=False,
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


@register_exporter
class OnnxExporter(Exporter):
    """fp32 ONNX for onnxruntime, OpenVINO and TensorRT; the float source of the int8 QDQ model."""

    format = "onnx"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError as exc:
            return False, f"needs onnx and onnxscript ({exc.name} is not installed)"
        return True, ""

    def export(self, request: ExportRequest, out_dir: Path, force: bool = False) -> Bundle:
        manifest = request.manifest("onnx", "fp32", opset=OPSET)
        spec, out_spec = manifest["inputs"][0], manifest["outputs"][0]
        height, width = request.info.input_size
        module = model_for_layout(request.model.eval(), request.layout)
        example = torch.zeros(spec["shape"], dtype=torch.float32)
        final = Path(out_dir) / request.name
        with atomic_directory(final, force) as tmp:
            export_onnx_file(module, example, tmp / MODEL_FILE, spec["name"], out_spec["name"])
            write_manifest(tmp, manifest)
            parity = torch_vs_bundle(request.model, load_bundle(tmp), parity_inputs([1, 3, height, width]))
            if parity["max_abs_rel"] > MAX_FP32_ABS_REL:
                raise RuntimeError(
                    f"ONNX export disagrees with torch: max |Δ|/range {parity['max_abs_rel']:.2e} > {MAX_FP32_ABS_REL}"
                )
            manifest["parity"] = parity
            write_manifest(tmp, manifest)
        return load_bundle(final)
