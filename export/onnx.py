"""ONNX exporter: torch.export-based (dynamo) graph, weights inside the file, static shapes, parity-checked.

Precisions (the table below): fp32 (the float reference), fp16 (float16 weights and activations, float32 I/O),
int8 (static QDQ by onnxruntime's quantizer) and int8-nncf (static QDQ by NNCF post-training quantization), both
calibrated on the request's inputs.
"""

from __future__ import annotations

import io
import logging
import tempfile
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from edgedepth.originals.onnx_graph import OnnxGraphModule
from export.base import Exporter, ExportRequest, NHWCInput, model_for_layout
from export.cache import ConversionCache, module_fingerprint
from export.precision import Precision, quantized
from export.registry import register_exporter

if TYPE_CHECKING:
    import onnx

OPSET = 20
MODEL_FILE = "model.onnx"


# The float graphs of the last few students exported in this process: ONNX, OpenVINO and TensorRT bundles of one
# student (every precision of each) all start from the same torch.export graph, about 10 s each on 2 cores.
_FLOAT_GRAPHS = ConversionCache(size=4)


def export_onnx_file(module: torch.nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], path: Path,
                     input_name: str | list[str], output_name: str) -> None:
    """Write `module` traced on `example` (one tensor, or one per input) to `path` as a single ONNX file; the
    same module, shapes and names exported before in this process are written from memory. A module that holds
    an ONNX graph (an `onnx:` original) is not traced: its graph is written in the bundle contract."""
    examples = example if isinstance(example, tuple) else (example,)
    input_names = [input_name] if isinstance(input_name, str) else list(input_name)
    held = held_graph(module)
    if held is not None:
        graph, layout = held
        Path(path).write_bytes(graph.contract_model(layout, *input_names, output_name).SerializeToString())
        return
    key = module_fingerprint(module, examples, f"{input_names}|{output_name}|opset{OPSET}")
    Path(path).write_bytes(_FLOAT_GRAPHS.get_or_make(key, lambda: _traced_onnx(module, examples, input_names,
                                                                                output_name)))


def held_graph(module: torch.nn.Module) -> tuple[OnnxGraphModule, str] | None:
    """The ONNX graph module inside `module` and the input layout the exporter asked for (model_for_layout wraps
    it for NHWC), or None for a module to trace."""
    if isinstance(module, NHWCInput) and isinstance(module.model, OnnxGraphModule):
        return module.model, "NHWC"
    return (module, "NCHW") if isinstance(module, OnnxGraphModule) else None


def opset_of(module: torch.nn.Module) -> int:
    """The opset an exported graph of `module` has: a held graph's own, else the one torch.export writes."""
    held = held_graph(module)
    return held[0].opset() if held is not None else OPSET


def _traced_onnx(module: torch.nn.Module, examples: tuple[torch.Tensor, ...], input_names: list[str],
                 output_name: str) -> bytes:
    """The serialized ONNX model of `module` from torch.export, checked and stripped of tracing metadata."""
    import onnx

    # The exporter logs one warning per torchvision operator it cannot register; edgedepth needs none of them.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as work, warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        path = Path(work) / MODEL_FILE
        torch.onnx.export(
            module.eval(), examples, str(path), dynamo=True, external_data=False, opset_version=OPSET,
            input_names=input_names, output_names=[output_name], verbose=False,
        )
        model = onnx.load(str(path))
    strip_trace_metadata(model)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def strip_trace_metadata(model: onnx.ModelProto) -> None:
    """Drop per-node tracing metadata (source paths, stack traces): it leaks the build machine's file layout
    into the artifact and makes the same model hash differently on two machines."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""


@register_exporter
class OnnxExporter(Exporter):
    """fp32 ONNX for onnxruntime, OpenVINO and TensorRT; fp16 and static int8 (QDQ) derived from it."""

    format = "onnx"
    model_file = MODEL_FILE
    table = (
        Precision("fp32"),
        quantized("ort-fp16"),
        quantized("ort-qdq"),
        quantized("nncf"),
    )
    requires = (("onnx", "onnx"), ("onnxscript", "onnxscript"))
    install_hint = "pip install 'edgedepth[train]'"
    takes_onnx_graph = True

    def convert(self, request: ExportRequest, precision: Precision, bundle_dir: Path,
                manifest: dict[str, Any]) -> None:
        """The fp32 graph from torch.export, then the precision's quantizer on it."""
        names, out_name = [spec["name"] for spec in manifest["inputs"]], manifest["outputs"][0]["name"]
        module = model_for_layout(request.model.eval(), request.layout)
        manifest["opset"] = opset_of(module)
        if precision.quantizer is None:
            export_onnx_file(module, request.examples(), bundle_dir / MODEL_FILE, names, out_name)
            return
        with tempfile.TemporaryDirectory() as work:
            fp32_path = Path(work) / MODEL_FILE
            export_onnx_file(module, request.examples(), fp32_path, names, out_name)
            manifest["quantization"] = self.quantize(request, precision, fp32_path, bundle_dir / MODEL_FILE)
