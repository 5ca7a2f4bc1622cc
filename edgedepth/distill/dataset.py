"""Distillation set: training images (procedural scenes or a user's photos), the teacher's prediction for each,
and the student's inputs, for every task (a task names the views its student reads and how a teacher's map
becomes a target).

The teacher sees each image at its own resolution (procedural scenes are made at `teacher_scale`× the
student's input size: stereo matching is better at higher resolution); its prediction and validity are then
brought down to the student's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgedepth.data.sample import StereoSample
from edgedepth.errors import ConfigError
from edgedepth.progress import progress_bar
from runtime.bundle import DISPARITY
from runtime.preprocess import prepare_input, resize_bilinear

if TYPE_CHECKING:  # the teachers import torch; this module is named by the task registry, which must not
    from edgedepth.teachers.base import Teacher


@dataclass
class DistillSet:
    """The student's inputs per view (name → N×3×H×W, normalised, in the order the model takes them), the
    teacher's targets (N×H×W) and their validity (N×H×W bool), the inputs' normalisation, and the scenes' exact
    disparity and its validity (N×H×W) when ground truth is mixed in, else None."""

    views: dict[str, np.ndarray]
    targets: np.ndarray
    masks: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    gt: np.ndarray | None = None
    gt_masks: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def inputs(self, index: np.ndarray) -> list[np.ndarray]:
        """The model's inputs for the samples at `index`, in call order."""
        return [view[index] for view in self.views.values()]


def teacher_target(teacher: Teacher, sample: StereoSample, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Teacher prediction and validity resized to (height, width); a pixel stays valid only if all its sources were."""
    prediction = teacher.predict(sample)
    valid = prediction.valid.astype(np.float32)
    value = np.where(prediction.valid, prediction.value, 0.0).astype(np.float32)
    value_small = resize_bilinear(value, height, width)
    valid_small = resize_bilinear(valid, height, width)
    mask = valid_small > 0.999
    # Renormalise so that valid pixels next to invalid ones are not dragged towards zero.
    target = np.where(mask, value_small / np.maximum(valid_small, 1e-6), 0.0).astype(np.float32)
    return target, mask


def teacher_disparity(teacher: Teacher, sample: StereoSample, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's disparity resized to (height, width) and rescaled to that width's pixels, and its validity."""
    if teacher.kind != DISPARITY:
        raise ConfigError(f"stereo distillation needs a disparity teacher; {teacher.name!r} predicts {teacher.kind}")
    target, mask = teacher_target(teacher, sample, height, width)
    # Disparity is a horizontal distance: resizing the width by r multiplies it by r.
    target = (target * np.float32(width / sample.shape[1])).astype(np.float32)
    return target, mask


def ground_truth(sample: StereoSample, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample's exact disparity (pixels of `width`) and validity at (height, width); all invalid without."""
    if sample.disparity is None:
        return np.zeros((height, width), np.float32), np.zeros((height, width), bool)
    small = sample.resized(height, width)
    valid = small.valid if small.valid is not None else np.isfinite(small.disparity)
    valid = valid & np.isfinite(small.disparity)
    return np.where(valid, small.disparity, 0.0).astype(np.float32), valid


Target = Callable[["Teacher", StereoSample, int, int], tuple[np.ndarray, np.ndarray]]


def build_distill_set(teacher: Teacher, spec: dict, samples: Sequence[StereoSample], progress: bool = True,
                      with_gt: bool = False, views: Sequence[str] = ("left",),
                      target: Target = teacher_target) -> DistillSet:
    """Run the teacher once on each sample (its own resolution) and stack the student's inputs (each of `views`
    of the sample, prepared as `spec` says) and the targets `target(teacher, sample, height, width)` at the
    student's input size; with `with_gt`, the samples' exact disparity too. One builder for every task."""
    _, _, height, width = spec["shape"]
    inputs: dict[str, list[np.ndarray]] = {view: [] for view in views}
    targets, masks, gts, gt_masks = [], [], [], []
    for sample in progress_bar(samples, desc=f"teacher {teacher.name}", disable=not progress, unit="sample"):
        for view in views:
            inputs[view].append(prepare_input(getattr(sample, view), spec)[0])
        value, mask = target(teacher, sample, height, width)
        targets.append(value)
        masks.append(mask)
        if with_gt:
            gt, gt_mask = ground_truth(sample, height, width)
            gts.append(gt)
            gt_masks.append(gt_mask)
    norm = spec["normalization"]
    return DistillSet({view: np.stack(arrays) for view, arrays in inputs.items()}, np.stack(targets),
                      np.stack(masks), tuple(norm["mean"]), tuple(norm["std"]),
                      np.stack(gts) if with_gt else None, np.stack(gt_masks) if with_gt else None)
