"""TFLite (LiteRT) exporter: litert-torch lowers the student through torch.export to a float .tflite (no
tensorflow involved); fp16, int8 and int8-dynamic are ai-edge-quantizer recipes applied to that flatbuffer.

Every precision keeps the float32 input and output of the manifest, so one feed runs them all. The .tflite
signature carries the manifest's names (`image` → `depth`), which is how the LiteRT runner maps its tensors.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from export.base import Exporter, ExportRequest, model_for_layout
from export.parity import reference_inputs, torch_vs_bundle
from export.registry import register_exporter
from quantize.calibration import calibration_sha256
from quantize.litert_int8 import SIGNATURE, quantize_tflite
from runtime.atomic import atomic_directory
from runtime.bundle import Bundle, load_bundle, write_manifest

MODEL_FILE = "model.tflite"
# fp32 artifacts must agree with torch to this fraction of the output range, or the export is refused.
MAX_FP32_ABS_REL = 1e-3
# Float flatbuffers kept per process, so the precisions of one student convert from torch once (about 20 s each).
_FLOAT_CACHE: OrderedDict[str, bytes] = OrderedDict()
_FLOAT_CACHE_SIZE = 2


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


def _fingerprint(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], input_name: str | list[str],
                 output_name: str) -> str:
    """sha256 over what the conversion depends on: module structure (repr), weights, input shapes and names."""
    digest = hashlib.sha256()
    shapes = [(name, list(t.shape), str(t.dtype)) for name, t in _named_examples(example, input_name).items()]
    digest.update(f"{repr(module)}|{shapes}|{output_name}".encode())
    for key, tensor in module.state_dict().items():
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}|{data.dtype}|{list(tensor.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def float_tflite(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], input_name: str | list[str],
                 output_name: str) -> bytes:
    """`convert_to_tflite`, remembered for the last few modules (same structure, weights, shape and names)."""
    key = _fingerprint(module, example, input_name, output_name)
    if key in _FLOAT_CACHE:
        _FLOAT_CACHE.move_to_end(key)
        return _FLOAT_CACHE[key]
    model = convert_to_tflite(module, example, input_name, output_name)
    _FLOAT_CACHE[key] = model
    while len(_FLOAT_CACHE) > _FLOAT_CACHE_SIZE:
        _FLOAT_CACHE.popitem(last=False)
    return model


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
    precisions = ("fp32", "fp16", "int8", "int8-dynamic")
    calibrated = ("int8",)

    requires = (("litert_torch", "litert-torch"), ("ai_edge_quantizer", "ai-edge-quantizer"),
                ("ai_edge_litert", "ai-edge-litert"))
    install_hint = "pip install 'edgedepth[tflite]'"

    def export(self, request: ExportRequest, out_dir: Path, force: bool = False) -> Bundle:
        self.check_request(request)
        ok, reason = self.available()
        if not ok:
            raise RuntimeError(f"tflite export {reason}")
        precision = request.precision
        packages = ("litert-torch",) if precision == "fp32" else ("litert-torch", "ai-edge-quantizer")
        manifest = request.manifest("tflite", precision, signature=SIGNATURE, converter=_versions(*packages))
        names, out_spec = [spec["name"] for spec in manifest["inputs"]], manifest["outputs"][0]
        module = model_for_layout(request.model.eval(), request.layout)
        height, width = request.info.input_size
        with atomic_directory(Path(out_dir) / request.name, force) as tmp:
            model = float_tflite(module, request.examples(), names, out_spec["name"])
            if precision != "fp32":
                calibration = request.calibration_feed() if precision in self.calibrated else None
                model, manifest["quantization"] = quantize_tflite(model, precision, names, calibration)
                if calibration:
                    manifest["source"]["calibration_sha256"] = calibration_sha256(request.calibration)
            (tmp / MODEL_FILE).write_bytes(model)
            write_manifest(tmp, manifest)
            inputs, origin = reference_inputs(precision, request.calibration, [1, 3, height, width], len(names))
            parity = torch_vs_bundle(request.model, load_bundle(tmp), inputs)
            if precision == "fp32" and parity["max_abs_rel"] > MAX_FP32_ABS_REL:
                raise RuntimeError(f"TFLite export disagrees with torch: max |Δ|/range "
                                   f"{parity['max_abs_rel']:.2e} > {MAX_FP32_ABS_REL}")
            manifest["parity"] = {**parity, "inputs_from": origin}
            write_manifest(tmp, manifest)
        return load_bundle(Path(out_dir) / request.name)
