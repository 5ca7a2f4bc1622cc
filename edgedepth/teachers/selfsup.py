"""`self:stereo` and `self:video`: no teacher at all, the student trains on the Monodepth2 objective
(`edgedepth.distill.selfsup`). What a report compares such a student with needs a reference on the evaluation
pairs, so this stand-in predicts SGBM's disparity there; it labels nothing for training."""

from __future__ import annotations

from typing import Any

from edgedepth.data.sample import StereoSample
from edgedepth.teachers.base import Prediction, Teacher
from edgedepth.teachers.sgbm import SGBMTeacher
from runtime.bundle import DISPARITY

SELF_MODES = ("stereo", "video")


class SelfSupervision(Teacher):
    """The spec `self:MODE` (stereo: rectified pairs; video: frames and a pose network); as a reference in
    reports, SGBM on the evaluation pair."""

    kind = DISPARITY
    backend = "opencv"

    def __init__(self, mode: str) -> None:
        if mode not in SELF_MODES:
            raise ValueError(f"unknown self-supervision {mode!r}; expected one of {', '.join(SELF_MODES)}")
        self.mode = mode
        self.name = f"self:{mode}"
        self.reference = SGBMTeacher()

    def predict(self, sample: StereoSample) -> Prediction:
        """SGBM's disparity on the pair: the reference row of a self-supervised student's report."""
        return self.reference.predict(sample)

    def params(self) -> dict[str, Any]:
        return {}

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "reference": "sgbm"}
