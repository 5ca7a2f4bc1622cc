"""What every exporter gets and gives: an export request in, a verified bundle out."""

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
from edgedepth.specs import input_specs, output_spec
from edgedepth.version import __version__
from quantize.calibration import CalibrationItem, item_arrays
from runtime.bundle import Bundle


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
        """The manifest's input entries for this request's layout."""
        return input_specs(self.info, self.layout)

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
            "outputs": [output_spec(self.info)],
            "source": {
                "model": self.info.config,
                "teacher": self.info.teacher,
                "checkpoint_sha256": self.checkpoint_sha256,
                "calibration_sha256": None,
                "toolkit_version": __version__,
            },
            **extra,
        }


class Exporter(ABC):
    """One per format: `export(request, out_dir, force) -> Bundle` writes `out_dir/<request.name>/`."""

    format: str = ""
    # Precision names this exporter writes (the manifest's `precision`); the first is the float reference.
    precisions: tuple[str, ...] = ("fp32",)
    # Precisions that need `request.calibration`.
    calibrated: tuple[str, ...] = ()

    def check_request(self, request: ExportRequest) -> None:
        """One-line ValueError for a precision this format cannot write or a missing calibration set."""
        if request.precision not in self.precisions:
            raise ValueError(f"{self.format} exports {', '.join(self.precisions)}, not '{request.precision}'")
        if request.precision in self.calibrated and not request.calibration:
            raise ValueError(f"{self.format} {request.precision} needs calibration inputs")

    # (top-level module, pip distribution) pairs the exporter needs, and the extra that installs them.
    requires: tuple[tuple[str, str], ...] = ()
    install_hint: str = ""

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this machine has the libraries the exporter needs (and why not), without importing them."""
        for module, package in cls.requires:
            if importlib.util.find_spec(module) is None:
                return False, f"needs {package} ({module} is not installed; {cls.install_hint})"
        return True, ""

    @abstractmethod
    def export(self, request: ExportRequest, out_dir: Path, force: bool = False) -> Bundle: ...


class _NHWCInput(nn.Module):
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
        return _NHWCInput(model)
    raise ValueError(f"unknown input layout '{layout}' (known: NCHW, NHWC)")
