"""How a report row scores one artifact's outputs: per task a `Scoring` (how an output is restored to the sample's
size and compared with the teacher and with ground truth), and `row_metrics`, the one entry for every task.
Ground truth is scored by the item's benchmark protocol (`runtime.protocols`): the embedded motorcycle by
Middlebury's, as a user's Middlebury folder is, the procedural scenes by their own, a benchmark by its own.

numpy only (no torch, no task registry): `edgedepth.tasks` names a scoring per task and imports it from here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.bundle import METRIC
from runtime.fit import restore_disparity
from runtime.metrics import agreement, depth_metrics, relative_depth_metrics, stereo_metrics
from runtime.preprocess import restore_output
from runtime.protocols import Protocol, get_protocol, score_depth, score_disparity


@dataclass(frozen=True)
class Scoring:
    """One task's way of scoring an output: `restore(output, height, width)` at the sample's size, its errors
    against the item's teacher prediction and against the item's ground truth under the item's protocol (None:
    nothing to score), and the teacher errors a row reports (None: all)."""

    restore: Callable[[np.ndarray, int, int], np.ndarray]
    vs_teacher: Callable[[np.ndarray, Any, str], dict | None]
    accuracy: Callable[[np.ndarray, Any, str], dict | None]
    teacher_keys: tuple[str, ...] | None = None


def row_metrics(raw: list[np.ndarray], reference_raw: list[np.ndarray] | None, items: list, kind: str,
                scoring: Scoring) -> dict:
    """fidelity (raw outputs vs the fp32 student's), vs_teacher and accuracy per dataset of one artifact whose
    outputs `raw` (one per evaluation item) are of `kind`, scored as `scoring` says."""
    metrics: dict = {}
    if reference_raw is not None:
        metrics["fidelity"] = fidelity(raw, reference_raw)
    vs_teacher, accuracy = [], defaultdict(list)
    for item, output in zip(items, raw, strict=True):
        height, width = item.sample.left.shape[:2]
        pred = scoring.restore(output, height, width)
        versus = None if item.teacher is None else scoring.vs_teacher(pred, item.teacher, kind)
        if versus is not None:
            vs_teacher.append(versus)
        entry = scoring.accuracy(pred, item, kind)
        if entry is not None:
            accuracy[item.dataset].append(entry)
    if vs_teacher:
        mean = mean_dicts(vs_teacher)
        metrics["vs_teacher"] = mean if scoring.teacher_keys is None else {k: mean[k] for k in scoring.teacher_keys}
    metrics["accuracy"] = {name: mean_dicts(values) for name, values in accuracy.items()}
    return metrics


def mean_dicts(dicts: list[dict]) -> dict:
    """Per-key mean of metric dicts (keys present in every dict)."""
    keys = [k for k in dicts[0] if all(k in d for d in dicts)]
    return {k: float(np.mean([d[k] for d in dicts])) for k in keys}


def fidelity(raw: list[np.ndarray], reference_raw: list[np.ndarray]) -> dict:
    """Raw-output agreement with the fp32 student over every item (PSNR over the student's output range)."""
    ref = np.stack([np.asarray(r, np.float32).reshape(-1) for r in reference_raw])
    got = np.stack([np.asarray(r, np.float32).reshape(-1) for r in raw])
    stats = agreement(ref, got)
    return {"vs": "student-fp32", **{k: stats[k] for k in ("psnr_db", "max_abs_rel", "absrel", "delta1")}}


def teacher_as_depth(prediction: Any) -> tuple[np.ndarray, np.ndarray]:
    """A teacher prediction as a positive depth-like map (1/inverse) and its usable mask."""
    if prediction.kind == METRIC:
        mask = prediction.valid & (prediction.value > 0)
        return np.where(mask, prediction.value, 1.0).astype(np.float32), mask
    mask = prediction.valid & (prediction.value > 0)
    return np.where(mask, 1.0 / np.maximum(prediction.value, 1e-6), 1.0).astype(np.float32), mask


def depth_errors(pred: np.ndarray, depth: np.ndarray, mask: np.ndarray, kind: str) -> dict:
    """Errors of a prediction of `kind` against depth: raw for metric depth (its scale is the claim), after
    scale-and-shift alignment in inverse-depth space for relative inverse depth (the MiDaS protocol)."""
    if kind == METRIC:
        # depth_metrics floors non-positive predictions, so a pixel without depth counts as a full miss.
        valid = mask & np.isfinite(depth) & (depth > 0)
        coverage = float((valid & (pred > 0)).sum() / max(1, valid.sum()))
        return {**depth_metrics(pred, depth, mask), "coverage": coverage}
    return relative_depth_metrics(pred, depth, mask)


def _depth_vs_teacher(pred: np.ndarray, teacher: Any, kind: str) -> dict:
    """A depth output's errors against the teacher's prediction read as depth."""
    teacher_depth, teacher_mask = teacher_as_depth(teacher)
    return depth_errors(pred, teacher_depth, teacher_mask, kind)


def item_protocol(item: Any) -> Protocol:
    """The protocol an evaluation item is scored by (its own, else the procedural scenes' plain one)."""
    return getattr(item, "protocol", None) or get_protocol("procedural")


def _depth_accuracy(pred: np.ndarray, item: Any, kind: str) -> dict | None:
    """A depth output's errors against the item's depth, under its protocol and alignment, when it has depth."""
    sample, protocol = item.sample, item_protocol(item)
    if sample.depth is None or sample.valid is None or not protocol.depth_mask(sample.depth, sample.valid).any():
        return None
    return score_depth(pred, kind, sample.depth, sample.valid, protocol, getattr(item, "alignment", None))


def _disparity_vs_teacher(pred: np.ndarray, teacher: Any, kind: str) -> dict | None:
    """A disparity output's EPE and bad-2.0 on the teacher's valid pixels (None where it vouches for none)."""
    if not teacher.valid.any():
        return None
    stats = stereo_metrics(pred, teacher.value, teacher.valid)
    return {"epe": stats["epe"], "bad2": stats["bad2"]}


def disparity_accuracy(pred: np.ndarray, item: Any, pred_valid: np.ndarray | None = None) -> dict | None:
    """A disparity map's stereo errors against ground truth under the item's protocol (holes, where `pred_valid`
    says, as misses and on its own pixels), plus metric depth through the pair's calibration (depth =
    f·B/(d + doffs), no alignment, in the protocol's depth range) as depth_absrel / depth_delta1."""
    sample, protocol = item.sample, item_protocol(item)
    if sample.disparity is None or sample.valid is None:
        return None
    nonoccluded = sample.nonoccluded if protocol.occlusion else None
    entry = score_disparity(pred, sample.disparity, sample.valid, protocol, nonoccluded, pred_valid)
    if sample.depth is not None and sample.calib is not None:
        filled = np.ones(pred.shape, bool) if pred_valid is None else np.asarray(pred_valid, bool)
        depth = sample.calib.depth_from_disparity(pred, filled)
        mask = protocol.depth_mask(sample.depth, sample.valid) & (depth > 0)
        if mask.any():
            depth_stats = depth_metrics(np.where(mask, depth, 1.0), sample.depth, mask)
            entry.update(depth_absrel=depth_stats["absrel"], depth_delta1=depth_stats["delta1"])
    return entry


def _disparity_accuracy(pred: np.ndarray, item: Any, kind: str) -> dict | None:
    """A dense disparity output's accuracy (`disparity_accuracy`)."""
    return disparity_accuracy(pred, item)


# A mono output (relative or metric depth): compared with the teacher and ground truth as depth.
DEPTH_SCORING = Scoring(restore_output, _depth_vs_teacher, _depth_accuracy, teacher_keys=("absrel", "delta1"))
# A stereo output (disparity in pixels): compared unaligned, and as depth through the calibration.
DISPARITY_SCORING = Scoring(restore_disparity, _disparity_vs_teacher, _disparity_accuracy)


def gradient_rows(height: int, width: int, top: float, bottom: float) -> np.ndarray:
    """A 1×H×W map that runs linearly from `top` on the first row to `bottom` on the last (the image-blind
    baseline a mono student is compared with, in reports and in learning curves)."""
    column = np.linspace(top, bottom, height, dtype=np.float64)[:, None]
    return np.ascontiguousarray(np.broadcast_to(column, (height, width))[None].astype(np.float32))
