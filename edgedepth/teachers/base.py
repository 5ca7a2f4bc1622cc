"""The teacher interface: each family (stereo, mono) predicts one map per sample, and its kind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgedepth.data.sample import StereoSample

KINDS = ("relative_inverse_depth", "metric_depth", "disparity")


@dataclass
class Prediction:
    """A teacher's map at the sample's resolution (float32, H×W), what it means, where it is vouched for."""

    value: np.ndarray
    kind: str
    valid: np.ndarray

    def __post_init__(self) -> None:
        """Reject unknown kinds and mismatched shapes at the source, not downstream."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown prediction kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.value.shape != self.valid.shape or self.value.ndim != 2:
            raise ValueError(f"value {self.value.shape} and valid {self.valid.shape} must be the same H×W")


class Teacher(ABC):
    """A model a student learns from; `identity()` keys caches and is written into manifests."""

    name: str
    kind: str

    @abstractmethod
    def predict(self, sample: StereoSample) -> Prediction:
        """The teacher's prediction for the sample's left view."""

    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this teacher with `create_teacher(name, **params)`."""
        return {}

    def identity(self) -> dict[str, Any]:
        """JSON-serialisable description of this teacher: name, family, kind, parameters (a cache key)."""
        return {"name": self.name, "family": type(self).__name__, "kind": self.kind, "params": self.params()}
