"""Distillation set: training images (procedural scenes or a user's photos), the teacher's prediction for each,
and the student's inputs.

The teacher sees each image at its own resolution (procedural scenes are made at `teacher_scale`× the
student's input size: stereo matching is better at higher resolution); its prediction and validity are then
brought down to the student's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgedepth.data.sample import StereoSample
from edgedepth.progress import progress_bar
from edgedepth.teachers.base import Teacher
from runtime.preprocess import prepare_input, resize_bilinear


@dataclass
class DistillSet:
    """Student inputs (N×3×H×W, normalised), teacher targets (N×H×W) and their validity (N×H×W bool); the
    scenes' exact disparity and its validity (N×H×W) when ground truth is mixed in, else None."""

    images: np.ndarray
    targets: np.ndarray
    masks: np.ndarray
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    gt: np.ndarray | None = None
    gt_masks: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


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


def ground_truth(sample: StereoSample, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample's exact disparity (pixels of `width`) and validity at (height, width); all invalid without."""
    if sample.disparity is None:
        return np.zeros((height, width), np.float32), np.zeros((height, width), bool)
    small = sample.resized(height, width)
    valid = small.valid if small.valid is not None else np.isfinite(small.disparity)
    valid = valid & np.isfinite(small.disparity)
    return np.where(valid, small.disparity, 0.0).astype(np.float32), valid


Target = Callable[[Teacher, StereoSample, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class Labelled:
    """Stacked training arrays: the student's inputs per view (N×3×H×W, normalised), the teacher's targets and
    their validity (N×H×W), and the samples' exact disparity and its validity when asked for (else None)."""

    inputs: dict[str, np.ndarray]
    targets: np.ndarray
    masks: np.ndarray
    gt: np.ndarray | None
    gt_masks: np.ndarray | None


def label_samples(teacher: Teacher, spec: dict, samples: Sequence[StereoSample], views: Sequence[str] = ("left",),
                  target: Target = teacher_target, with_gt: bool = False, progress: bool = True) -> Labelled:
    """Run the teacher once on each sample (its own resolution) and stack the student's inputs (each of `views`
    of the sample) and the targets `target(teacher, sample, height, width)` at the student's input size; with
    `with_gt`, the samples' exact disparity too. One builder for every task's distillation set."""
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
    return Labelled({view: np.stack(arrays) for view, arrays in inputs.items()}, np.stack(targets), np.stack(masks),
                    np.stack(gts) if with_gt else None, np.stack(gt_masks) if with_gt else None)


def normalization(spec: dict) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of an input spec, as the distillation sets record them."""
    norm = spec["normalization"]
    return tuple(norm["mean"]), tuple(norm["std"])


def build_distill_set(
    teacher: Teacher,
    spec: dict,
    samples: Sequence[StereoSample],
    progress: bool = True,
    with_gt: bool = False,
) -> DistillSet:
    """The mono distillation set: each sample's left view and the teacher's targets at the student's input size."""
    data = label_samples(teacher, spec, samples, ("left",), teacher_target, with_gt, progress)
    return DistillSet(data.inputs["left"], data.targets, data.masks, *normalization(spec), data.gt, data.gt_masks)
