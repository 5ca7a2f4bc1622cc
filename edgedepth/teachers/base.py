"""The teacher interface: each family (stereo, mono) predicts one map per sample, and its kind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgedepth.data.sample import StereoSample
from edgedepth.errors import ConfigError, EdgeDepthError
from runtime.bundle import METRIC, OUTPUT_KINDS, RELATIVE

MONO_KINDS = (RELATIVE, METRIC)
KINDS = OUTPUT_KINDS


class TeacherConfigError(ConfigError):
    """An unknown teacher spec or a keyword it does not take (one line, listing what would work)."""


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


def dense_prediction(value: np.ndarray, kind: str, height: int, width: int) -> Prediction:
    """A mono teacher's map (any resolution) as a Prediction at height × width: bilinear resize, valid where the
    value is finite (and > 0 for metric depth, where 0 means no depth), invalid pixels 0."""
    from runtime.preprocess import resize_bilinear

    value = np.asarray(value, np.float32)
    if value.ndim != 2:
        raise ValueError(f"a teacher map must be H×W, got shape {list(value.shape)}")
    if value.shape != (height, width):
        value = resize_bilinear(np.where(np.isfinite(value), value, 0.0), height, width)
    valid = np.isfinite(value)
    if kind == METRIC:
        valid &= value > 0
    return Prediction(np.where(valid, value, 0.0).astype(np.float32), kind, valid)


def check_network_args(name: str, checkpoint: object, random_init: bool, threads: int | None) -> None:
    """A network teacher's weights come from exactly one of a checkpoint and `random_init` (untrained, for tests
    and offline smoke runs only), and its thread count is positive; else a one-line TeacherConfigError."""
    if checkpoint is None and not random_init:
        raise TeacherConfigError(f"{name} needs checkpoint=PATH (random_init=True gives untrained weights, "
                                 "for tests and offline smoke runs only)")
    if checkpoint is not None and random_init:
        raise TeacherConfigError(f"{name}: pass either checkpoint or random_init=True, not both")
    if threads is not None and threads < 1:
        raise TeacherConfigError(f"{name}: threads must be at least 1, got {threads}")


def matched_disparity(disparity: np.ndarray, kind: str, mask_border: bool = True) -> Prediction:
    """A stereo network's left-view disparity (pixels) as a Prediction: vouched for where finite and positive and,
    with `mask_border`, where the match x − d falls inside the right view (x − d ≥ −0.5); invalid pixels 0."""
    valid = np.isfinite(disparity) & (disparity > 0)
    if mask_border:
        columns = np.arange(disparity.shape[1], dtype=np.float32)[None, :]
        valid &= columns - disparity >= -0.5
    return Prediction(value=np.where(valid, disparity, 0.0).astype(np.float32), kind=kind, valid=valid)


def network_identity(identity: dict[str, Any], family: str, checkpoint_sha256: str | None,
                     drop: tuple[str, ...] = ("threads",)) -> dict[str, Any]:
    """A torch network teacher's identity: its parameters less those that do not change the output (`drop`: the
    thread count), its family, the checkpoint's sha256 and the torch version."""
    import torch

    params = {k: v for k, v in identity["params"].items() if k not in drop}
    return {**identity, "params": params, "family": family, "checkpoint_sha256": checkpoint_sha256,
            "torch": torch.__version__}


class Teacher(ABC):
    """A model a student learns from; `identity()` keys caches and is written into manifests."""

    name: str
    kind: str
    backend: str = "torch"  # what runs it, shown in the report's teacher row

    @abstractmethod
    def predict(self, sample: StereoSample) -> Prediction:
        """The teacher's prediction for the sample's left view."""

    def require_pair(self, sample: StereoSample) -> None:
        """One-line refusal when a stereo teacher is handed a single image (a folder of photos has no right view)."""
        if sample.right is None:
            raise EdgeDepthError(f"{self.name} is a stereo teacher and needs rectified pairs; {sample.name} is a "
                                 "single image (use a mono teacher: hf:, onnx: or midas_v21_small:)")

    def params(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this teacher with `create_teacher(name, **params)`."""
        return {}

    def identity(self) -> dict[str, Any]:
        """JSON-serialisable description of this teacher: name, family, kind, parameters (a cache key)."""
        return {"name": self.name, "family": type(self).__name__, "kind": self.kind, "params": self.params()}
