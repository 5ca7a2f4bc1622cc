"""TFLite (LiteRT) exporter: litert-torch lowers the student through torch.export to a float .tflite (no
tensorflow involved); fp16, int8 and int8-dynamic are ai-edge-quantizer recipes applied to that flatbuffer.

Every precision keeps the float32 input and output of the manifest, so one feed runs them all. The .tflite
signature carries the manifest's names (`image` → `depth`), which is how the LiteRT runner maps its tensors.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from export.base import Exporter, ExportRequest, model_for_layout
from export.cache import ConversionCache, module_fingerprint
from export.precision import Precision, quantized
from export.registry import register_exporter
from quantize.litert_int8 import SIGNATURE

MODEL_FILE = "model.tflite"
# Float flatbuffers kept per process, so the precisions of one student convert from torch once (about 20 s each).
_FLOAT_CACHE = ConversionCache(size=2)


class _NamedIO(nn.Module):
    """Take the input by keyword and return {output name: tensor}: the .tflite signature keeps both names."""

    def __init__(self, module: nn.Module, output_name: str) -> None:
        super().__init__()
        self.module = module
        self.output_name = output_name

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.output_name: self.module(*inputs.values())}


@contextmanager
def _quiet_converter() -> Iterator[None]:
    """Silence litert-torch's progress log (it reads an environment variable) and torch.export's warnings."""
    key = "LITERT_TORCH_SHOW_PROGRESS"
    previous = os.environ.get(key)
    os.environ[key] = "n"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


def _named_examples(example: torch.Tensor | tuple[torch.Tensor, ...], input_name: str | list[str]
                    ) -> dict[str, torch.Tensor]:
    """{input name: example tensor}, in the model's call order."""
    examples = example if isinstance(example, tuple) else (example,)
    names = [input_name] if isinstance(input_name, str) else list(input_name)
    if len(names) != len(examples):
        raise ValueError(f"{len(examples)} example input(s) for {len(names)} input name(s)")
    return dict(zip(names, examples, strict=True))


def convert_to_tflite(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...],
                      input_name: str | list[str], output_name: str) -> bytes:
    """The float32 .tflite flatbuffer of `module` traced on `example` (one tensor, or one per input), with one
    signature whose inputs and output keep their names."""
    import litert_torch

    with _quiet_converter():
        edge = litert_torch.convert(_NamedIO(module.eval(), output_name).eval(),
                                    sample_kwargs=_named_examples(example, input_name))
        return bytes(edge.model_content())


def float_tflite(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], input_name: str | list[str],
                 output_name: str) -> bytes:
    """`convert_to_tflite`, remembered for the last few modules (same structure, weights, shape and names)."""
    examples = example if isinstance(example, tuple) else (example,)
    key = module_fingerprint(module, examples, f"{list(_named_examples(example, input_name))}|{output_name}")
    return _FLOAT_CACHE.get_or_make(key, lambda: convert_to_tflite(module, example, input_name, output_name))


def _versions(*packages: str) -> dict[str, str]:
    """{package: installed version} of the converter libraries, recorded in the manifest."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


@register_exporter
class TFLiteExporter(Exporter):
    """fp32, fp16, int8 (static, calibrated) and int8-dynamic .tflite for LiteRT / XNNPACK, NCHW or NHWC input."""

    format = "tflite"
    model_file = MODEL_FILE
    table = (
        Precision("fp32"),
        quantized("litert-fp16"),
        quantized("litert"),
        quantized("litert-dynamic"),
    )
    requires = (("litert_torch", "litert-torch"), ("ai_edge_quantizer", "ai-edge-quantizer"),
                ("ai_edge_litert", "ai-edge-litert"))
    install_hint = "pip install 'edgedepth[tflite]'"
    converter = "litert-torch converts torch programs only; onnx2tf needs tensorflow, which this stack has not"

    def convert(self, request: ExportRequest, precision: Precision, bundle_dir: Path,
                manifest: dict[str, Any]) -> None:
        """The float flatbuffer from litert-torch (remembered across precisions), then the precision's recipe."""
        ok, reason = self.available()
        if not ok:
            raise RuntimeError(f"tflite export {reason}")
        packages = ("litert-torch",) if precision.quantizer is None else ("litert-torch", "ai-edge-quantizer")
        manifest["signature"], manifest["converter"] = SIGNATURE, _versions(*packages)
        names, out_name = [spec["name"] for spec in manifest["inputs"]], manifest["outputs"][0]["name"]
        module = model_for_layout(request.model.eval(), request.layout)
        model = float_tflite(module, request.examples(), names, out_name)
        if precision.quantizer is None:
            (bundle_dir / MODEL_FILE).write_bytes(model)
            return
        with tempfile.TemporaryDirectory() as work:
            float_path = Path(work) / MODEL_FILE
            float_path.write_bytes(model)
            manifest["quantization"] = self.quantize(request, precision, float_path, bundle_dir / MODEL_FILE)
