"""What every exporter gets and gives: an export request in, a verified bundle out, by one template."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedepth.checkpoint import StudentInfo
from edgedepth.originals.onnx_graph import OnnxGraphModule
from edgedepth.specs import input_specs, output_spec, with_resize
from edgedepth.version import __version__
from export.parity import MAX_FP32_ABS_REL, reference_inputs, torch_vs_bundle
from export.precision import FLOAT_REFERENCE, Precision
from quantize.calibration import CalibrationItem, calibration_sha256, item_arrays
from quantize.registry import get_method
from quantize.verify import check_runs_here
from runtime.atomic import atomic_directory
from runtime.bundle import Bundle, load_bundle, write_manifest
from runtime.errors import RequestError
from runtime.resize import DEFAULT_FILTER


@dataclass
class ExportRequest:
    """A float student plus what it was made from; `name` becomes the bundle directory's name.

    `precision` is one of the exporter's `precisions`; `calibration` holds representative inputs (each
    1×3×H×W float32, normalised as the manifest's input spec says, NCHW whatever `layout` is; a tuple of
    (left, right) for stereo students) for the precisions that need activation ranges (int8, w8a8).
    """

    model: nn.Module
    info: StudentInfo
    checkpoint_sha256: str
    name: str
    layout: str = "NCHW"
    precision: str = "fp32"
    calibration: list[CalibrationItem] | None = None
    # An original (a teacher network) records where it came from and the resize filters of its reference
    # pipeline (input, output), which the runtime then reproduces; students leave both at their defaults.
    origin: dict[str, Any] | None = None
    filters: tuple[str, str] = (DEFAULT_FILTER, DEFAULT_FILTER)
    output_size: tuple[int, int] | None = None  # the output map's h×w where it is not the input's (an ONNX file)

    def calibration_feed(self) -> list[CalibrationItem]:
        """The calibration inputs in the exported model's own input layout (what its quantizer must feed)."""
        if self.layout != "NHWC":
            return list(self.calibration or [])
        feed = []
        for item in self.calibration or []:
            arrays = tuple(np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in item_arrays(item))
            feed.append(arrays if len(arrays) > 1 else arrays[0])
        return feed

    def input_specs(self) -> list[dict[str, Any]]:
        """The manifest's input entries for this request's layout (with the input resize filter, if not default)."""
        return [with_resize(spec, self.filters[0]) for spec in input_specs(self.info, self.layout)]

    def output_specs(self) -> list[dict[str, Any]]:
        """The manifest's output entry (with the output resize filter, if not default)."""
        spec = output_spec(self.info)
        if self.output_size is not None:
            spec["shape"] = [1, *self.output_size]
        return [with_resize(spec, self.filters[1])]

    def examples(self) -> tuple[torch.Tensor, ...]:
        """Zero tensors shaped like every input (in `layout`), to trace the model with."""
        return tuple(torch.zeros(spec["shape"], dtype=torch.float32) for spec in self.input_specs())

    def manifest(self, fmt: str, precision: str, **extra: Any) -> dict[str, Any]:
        """Contract 1 manifest for this request; `files` is filled when the bundle is sealed."""
        return {
            "name": self.name,
            "task": self.info.task,
            "format": fmt,
            "precision": precision,
            "inputs": self.input_specs(),
            "outputs": self.output_specs(),
            "source": {
                "model": self.info.config,
                "teacher": self.info.teacher,
                "checkpoint_sha256": self.checkpoint_sha256,
                "calibration_sha256": None,
                "toolkit_version": __version__,
                **({"original": self.origin} if self.origin else {}),
            },
            **extra,
        }


class Exporter(ABC):
    """One per format. `export(request, out_dir, force) -> Bundle` is the template every format shares: an atomic
    bundle directory, the manifest, the format's own checks, parity with torch, the fp32 gate and the seal; a
    format implements `convert` (write its model file(s) at one precision) and, where it has them, `check_bundle`
    and `measure_parity`."""

    format: str = ""
    model_file: str = ""  # the model file's name inside the bundle (recorded in the manifest)
    # One row per precision this exporter writes; the first is the float reference.
    table: tuple[Precision, ...] = (Precision(FLOAT_REFERENCE),)
    # (top-level module, pip distribution) pairs the exporter needs, and the extra that installs them.
    requires: tuple[tuple[str, str], ...] = ()
    install_hint: str = ""
    # Whether `convert` can start from an ONNX graph, which an `onnx:` original holds instead of torch layers;
    # where it cannot, `converter` says what this format converts from (the one-line refusal names it).
    takes_onnx_graph: bool = False
    converter: str = "its converter takes torch modules only"

    @property
    def precisions(self) -> tuple[str, ...]:
        """Precision names this exporter writes (the manifest's `precision`), the float reference first."""
        return tuple(row.name for row in self.table)

    def precision(self, name: str) -> Precision:
        """The table row for `name`; one-line ValueError for a precision this format cannot write."""
        for row in self.table:
            if row.name == name:
                return row
        raise RequestError(f"{self.format} exports {', '.join(self.precisions)}, not '{name}'")

    def check_request(self, request: ExportRequest) -> Precision:
        """The request's table row; one-line ValueError for an unknown precision or a missing calibration set."""
        row = self.precision(request.precision)
        self.check_model(request.model)
        if row.calibrated and not request.calibration:
            raise ValueError(f"{self.format} {request.precision} needs calibration inputs")
        return row

    def check_model(self, model: nn.Module) -> None:
        """One-line RequestError when the model is an ONNX graph (an `onnx:` original) this format cannot start
        from: no converter in this stack takes an ONNX file to it."""
        if isinstance(model, OnnxGraphModule) and not self.takes_onnx_graph:
            raise RequestError(f"{self.format} from an ONNX file needs an ONNX-to-{self.format} converter, which "
                               f"this stack lacks ({self.converter})")

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this machine has the libraries the exporter needs (and why not), without importing them."""
        for module, package in cls.requires:
            if importlib.util.find_spec(module) is None:
                return False, f"needs {package} ({module} is not installed; {cls.install_hint})"
        return True, ""

    def export(self, request: ExportRequest, out_dir: Path, force: bool = False) -> Bundle:
        """Write `out_dir/<request.name>/` atomically and return it loaded (sha256-checked)."""
        row = self.check_request(request)
        manifest = request.manifest(self.format, row.name, model_file=self.model_file)
        final = Path(out_dir) / request.name
        # Entered before converting, so an existing bundle is refused before minutes of work.
        with atomic_directory(final, force) as tmp:
            self.convert(request, row, tmp, manifest)
            if row.calibrated:
                manifest["source"]["calibration_sha256"] = calibration_sha256(request.calibration or [])
            write_manifest(tmp, manifest)
            checks = self.check_bundle(load_bundle(tmp), row)
            if checks is not None:
                manifest["checks"] = checks
            if row.quantizer is not None:  # a quantized graph can abort its backend: try it in a child first
                check_runs_here(load_bundle(tmp))
            parity = self.measure_parity(request, row, load_bundle(tmp))
            enforce_fp32_gate(self.format, row, parity)
            manifest["parity"] = parity
            write_manifest(tmp, manifest)
        return load_bundle(final)

    @abstractmethod
    def convert(self, request: ExportRequest, precision: Precision, bundle_dir: Path,
                manifest: dict[str, Any]) -> None:
        """Write the model file(s) for `precision` into `bundle_dir`; add format entries to `manifest` (and the
        "quantization" entry a quantizer returns)."""

    def check_bundle(self, bundle: Bundle, precision: Precision) -> dict[str, Any] | None:
        """Format checks of the written bundle (recorded as the manifest's "checks"); None when there are none."""
        return None

    def measure_parity(self, request: ExportRequest, precision: Precision, bundle: Bundle) -> dict[str, Any]:
        """Agreement with the torch model on the inputs the precision's row names, through the format's runner."""
        height, width = request.info.input_size
        inputs, origin = reference_inputs(precision, request.calibration, [1, 3, height, width], len(bundle.inputs))
        return {**torch_vs_bundle(request.model, bundle, inputs), "inputs_from": origin}

    def quantize(self, request: ExportRequest, precision: Precision, src: Path, dst: Path) -> dict[str, Any]:
        """Run the precision's quantizer from the registry on the float model file `src` into `dst`; returns
        the manifest's "quantization" entry."""
        if precision.quantizer is None:
            raise ValueError(f"{self.format} {precision.name} has no quantizer")
        names = [spec["name"] for spec in request.input_specs()]
        feed = request.calibration_feed() if precision.calibrated else None
        return get_method(precision.quantizer).quantize_file(src, dst, feed, names)


def enforce_fp32_gate(fmt: str, precision: Precision, parity: dict[str, Any]) -> None:
    """Refuse an fp32 artifact that disagrees with torch by more than MAX_FP32_ABS_REL of the output range
    (a parity that was not measured, such as CoreML off macOS, passes)."""
    if not precision.is_float_reference or "max_abs_rel" not in parity:
        return
    if parity["max_abs_rel"] > MAX_FP32_ABS_REL:
        raise RuntimeError(f"{fmt} fp32 export disagrees with torch: max |Δ|/range {parity['max_abs_rel']:.2e} "
                           f"> {MAX_FP32_ABS_REL}")


class NHWCInput(nn.Module):
    """Feed an NCHW model from N×H×W×C tensors (what camera pipelines on phones hand over)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *images: torch.Tensor) -> torch.Tensor:
        return self.model(*(image.permute(0, 3, 1, 2) for image in images))


def model_for_layout(model: nn.Module, layout: str) -> nn.Module:
    """The module an exporter traces: the model itself for NCHW, a permuting wrapper for NHWC."""
    if layout == "NCHW":
        return model
    if layout == "NHWC":
        return NHWCInput(model)
    raise ValueError(f"unknown input layout '{layout}' (known: NCHW, NHWC)")
