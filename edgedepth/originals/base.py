"""An original: a teacher network as an exportable model at one fixed input size, with the reference pipeline
(normalisation, resize filters, output kind) its bundle must reproduce on a device.

Every family's exported module takes the normalised tensor(s) a bundle's manifest describes (N×3×H×W, RGB,
x / 255 then (x − mean) / std) and returns one 1×h×w map of its output kind, as students do (at the input size,
unless `output_size` says otherwise: an ONNX file may predict at a fraction of it); whatever the
family's reference code does between that tensor and its output (Monodepth2's sigmoid-to-disparity, RAFT-Stereo's
sign) is inside the module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from edgedepth.checkpoint import StudentInfo
from edgedepth.errors import ConfigError
from runtime.resize import DEFAULT_FILTER


class OriginalError(ConfigError):
    """A spec that is not an exportable network, or an input size its family cannot take (one line, exit 2)."""


@dataclass(frozen=True)
class SizeRule:
    """What fixed input sizes a family takes: multiples of `multiple` in both sides, `default` when none is given."""

    family: str
    multiple: int
    default: tuple[int, int]
    why: str  # the reason for the multiple, shown when a size breaks it

    def resolve(self, size: tuple[int, int] | None) -> tuple[int, int]:
        """`size` (or the default) checked against the rule; one line when a side is not a positive multiple."""
        height, width = size or self.default
        if height < self.multiple or width < self.multiple or height % self.multiple or width % self.multiple:
            raise OriginalError(f"{self.family} takes input sizes in multiples of {self.multiple} ({self.why}); "
                                f"got {height}x{width}")
        return int(height), int(width)


@dataclass
class Original:
    """A teacher network ready for the exporters: the module, what it takes, what it returns, what it came from."""

    family: str
    spec: str
    module: nn.Module
    task: str
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output_kind: str
    sha256: str
    teacher: dict[str, Any]
    input_filter: str = DEFAULT_FILTER
    output_filter: str = DEFAULT_FILTER
    rewrites: list[str] = field(default_factory=list)  # graph rewrites applied for the converters
    output_size: tuple[int, int] | None = None  # the output map's h×w where it is not the input's

    def info(self) -> StudentInfo:
        """The model description the exporters share with students (config names the original's family)."""
        return StudentInfo(config={"original": self.family, "spec": self.spec}, input_size=self.input_size,
                           mean=list(self.mean), std=list(self.std), output_kind=self.output_kind, task=self.task,
                           teacher=self.teacher)

    def origin(self) -> dict[str, Any]:
        """The manifest's `source.original`: family, spec, weights' sha256, fixed size, preprocessing, rewrites."""
        return {"family": self.family, "spec": self.spec, "weights_sha256": self.sha256,
                "input_size": list(self.input_size),
                **({"output_size": list(self.output_size)} if self.output_size else {}),
                "preprocessing": {"resize": "stretch to the input size", "input_filter": self.input_filter,
                                  "output_filter": self.output_filter, "mean": list(self.mean),
                                  "std": list(self.std), "scale": 1 / 255},
                "rewrites": list(self.rewrites)}
