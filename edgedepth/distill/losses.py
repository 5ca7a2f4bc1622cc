"""Distillation losses: scale-and-shift-invariant (relative targets), scale-invariant log (metric targets), smooth
L1 (disparity), and the loss each task's student learns its teacher by (`depth_distillation_loss`,
`disparity_distillation_loss`).

The relative loss follows MiDaS (Ranftl et al., TPAMI 2020): prediction and target are each brought to zero
median and unit mean absolute deviation in inverse-depth space on valid pixels, then compared with a trimmed
mean absolute error plus a multi-scale gradient-matching term on block means that keeps shapes right.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from runtime.bundle import METRIC


def _as_nhw(tensor: torch.Tensor) -> torch.Tensor:
    """Accept N×H×W or N×1×H×W and return N×H×W."""
    if tensor.dim() == 4 and tensor.shape[1] == 1:
        return tensor[:, 0]
    if tensor.dim() != 3:
        raise ValueError(f"expected N×H×W or N×1×H×W, got shape {tuple(tensor.shape)}")
    return tensor


def _masked_lower_median(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row of N×P `x`: the lower median of the entries where `mask` holds (torch.median's convention), 0 for
    a row without any; one batched selection instead of a Python loop over images."""
    median = torch.nanmedian(torch.where(mask, x, torch.full_like(x, torch.nan)), dim=1).values
    return torch.where(mask.any(dim=1), median, torch.zeros_like(median))


def median_mad(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the median over the mask and the mean absolute deviation from it (N-vectors).

    The median is the lower one for an even count (torch.median's); an image whose mask is empty gets median 0
    and MAD 1e-6 (the MAD's floor), as do the values it normalises.
    """
    flat, valid = x.reshape(x.shape[0], -1), mask.reshape(mask.shape[0], -1).bool()
    median = _masked_lower_median(flat, valid)
    deviation = torch.where(valid, (flat - median[:, None]).abs(), torch.zeros_like(flat))
    count = valid.sum(dim=1).clamp_min(1).to(flat.dtype)
    return median, (deviation.sum(dim=1) / count).clamp_min(1e-6)


def normalize_median_mad(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image: (x − median) / mean|x − median| over the mask (MiDaS's robust scale-and-shift estimate).

    The scale is positive by construction, so an inverted map is penalised; a least-squares alignment would
    accept a negative scale, a trap a randomly initialised student falls into.
    """
    median, mad = median_mad(x, mask)
    return (x - median[:, None, None]) / mad[:, None, None]


def trimmed_mean_abs(residual: torch.Tensor, mask: torch.Tensor, trim: float) -> torch.Tensor:
    """Mean over images (those with a valid pixel) of each image's mean |residual| on the mask after dropping its
    largest `trim` fraction (round(count · (1 − trim)) values kept, at least 1).

    Batched: each image's valid sum minus the sum of its largest values, found by one top-k over the batch
    (about twice as fast as sorting every pixel); the gradient is 1/keep on exactly the kept pixels.
    """
    flat, valid = residual.reshape(residual.shape[0], -1), mask.reshape(mask.shape[0], -1).bool()
    counts = valid.sum(dim=1).tolist()
    # Python's round (half to even) on the count, exactly as the per-image definition has it.
    kept = [max(1, int(round(c * (1.0 - trim)))) if c else 0 for c in counts]
    keep = torch.tensor(kept, dtype=torch.long)
    drop = torch.tensor([c - k for c, k in zip(counts, kept, strict=True)], dtype=torch.long)
    errors = flat.abs()
    total = torch.where(valid, errors, torch.zeros_like(errors)).sum(dim=1)
    most = int(drop.max())
    if most > 0:
        largest = torch.topk(torch.where(valid, errors, torch.full_like(errors, -torch.inf)), most, dim=1).values
        dropped = torch.arange(most)[None, :] < drop[:, None]
        total = total - torch.where(dropped, largest, torch.zeros_like(largest)).sum(dim=1)
    images = keep > 0
    return (total[images] / keep[images].to(total.dtype)).mean()


GRADIENT_LEVELS = (2, 3, 4)  # gradient matching on 4×, 8× and 16× block means (see gradient_matching_loss)


def gradient_matching_loss(residual: torch.Tensor, mask: torch.Tensor,
                           levels: tuple[int, ...] = GRADIENT_LEVELS) -> torch.Tensor:
    """Multi-scale gradient matching: Σ over `levels` l of the mean |∇ block-mean residual| on 2^l × 2^l blocks.

    Each block's residual is its mean over the valid pixels (a block counts when more than half of it is
    valid); the gradients between neighbouring counted blocks are averaged over the counted blocks. Level 0 is
    the plain per-pixel term. Block means rather than MiDaS's subsampling, and no level below 4×: per-pixel
    noise (a stereo teacher's speckle) then costs little, while a wrong shape at 4-16 px still does, so the
    loss ranks a noisy copy of the target above a map that ignores the image
    (`tests/distill/test_loss_ranking.py`).
    """
    total = residual.new_zeros(())
    valid = mask.to(residual.dtype)[:, None]
    masked = (residual * mask)[:, None]
    for level in levels:
        size = 2**level
        if size > min(residual.shape[-2:]):
            continue
        fraction = F.avg_pool2d(valid, size) if size > 1 else valid
        mean = (F.avg_pool2d(masked, size) if size > 1 else masked) / fraction.clamp_min(1e-6)
        counted = (fraction > 0.5).to(residual.dtype)
        mx = counted[..., :, 1:] * counted[..., :, :-1]
        my = counted[..., 1:, :] * counted[..., :-1, :]
        gx = (mean[..., :, 1:] - mean[..., :, :-1]).abs() * mx
        gy = (mean[..., 1:, :] - mean[..., :-1, :]).abs() * my
        total = total + (gx.sum() + gy.sum()) / counted.sum().clamp_min(1.0)
    return total


def ssi_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    alpha: float = 0.2,
    levels: tuple[int, ...] = GRADIENT_LEVELS,
    trim: float = 0.2,
    scale_anchor: float = 0.0,
) -> torch.Tensor:
    """Scale-and-shift-invariant loss in inverse-depth space (MiDaS `ssitrim`) plus alpha · gradient matching
    (`gradient_matching_loss` on block means at `levels`).

    Prediction and target (relative inverse depth or disparity: any positive affine map of 1/depth) are each
    normalised by median and mean absolute deviation on the mask; the data term is the mean absolute residual
    after discarding the largest `trim` fraction per image (robust to the teacher's outliers).
    `scale_anchor` > 0 adds scale_anchor · log²(MAD of the prediction): the loss is blind to the output's scale,
    which otherwise drifts freely; anchoring it near 1 keeps the exported output in a range int8 handles well.
    """
    pred, target = _as_nhw(pred), _as_nhw(target)
    mask = _as_nhw(mask).bool()
    if not bool(mask.any()):
        raise ValueError("ssi_loss: the mask selects no pixel")
    pred_median, pred_mad = median_mad(pred, mask)
    pred_n = (pred - pred_median[:, None, None]) / pred_mad[:, None, None]
    residual = (pred_n - normalize_median_mad(target, mask)) * mask
    total = trimmed_mean_abs(residual, mask, trim)
    if alpha > 0:
        total = total + alpha * gradient_matching_loss(residual, mask, levels)
    if scale_anchor > 0:
        total = total + scale_anchor * torch.log(pred_mad).pow(2).mean()
    return total


def silog_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, variance_focus: float = 0.85
) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al. 2014) for metric depth: sqrt(mean(g²) − λ·mean(g)²), g = log p − log t.

    With λ = 1 it is fully scale-invariant; λ = 0.85 (the common choice) keeps some absolute-scale signal.
    Only pixels where the mask holds and both maps are positive count.
    """
    pred, target = _as_nhw(pred), _as_nhw(target)
    mask = _as_nhw(mask).bool() & (target > 0) & (pred > 0)
    if not bool(mask.any()):
        raise ValueError("silog_loss: the mask selects no pixel with positive depth")
    g = torch.log(pred[mask]) - torch.log(target[mask])
    value = (g * g).mean() - variance_focus * g.mean() ** 2
    return torch.sqrt(value.clamp_min(1e-12))


def metric_depth_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, variance_focus: float = 0.85,
                      min_depth: float = 1e-3) -> torch.Tensor:
    """Scale-invariant log loss on the pixels where the prediction is positive, plus the mean shortfall below
    `min_depth` on the mask: log gives a non-positive prediction no gradient, so this term lifts it back."""
    pred, target = _as_nhw(pred), _as_nhw(target)
    mask = _as_nhw(mask).bool() & (target > 0)
    if not bool(mask.any()):
        raise ValueError("metric_depth_loss: the mask selects no pixel with positive depth")
    shortfall = torch.relu(min_depth - pred)[mask].mean()
    positive = mask & (pred > min_depth)
    if not bool(positive.any()):
        return shortfall
    return silog_loss(pred, target, positive, variance_focus) + shortfall


def masked_smooth_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Smooth L1 (Huber with transition `beta`) averaged over the pixels where `mask` holds, for metric targets
    such as disparity in pixels; 0 (with a zero gradient) when the mask selects nothing.

    Masked pixels contribute neither value nor gradient, even when their target is not finite.
    """
    pred, target = _as_nhw(pred), _as_nhw(target)
    mask = _as_nhw(mask).bool()
    if pred.shape != target.shape or pred.shape != mask.shape:
        raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and mask {tuple(mask.shape)} differ")
    safe_target = torch.where(mask, target, torch.zeros_like(target))
    error = torch.nn.functional.smooth_l1_loss(pred, safe_target, reduction="none", beta=beta)
    error = torch.where(mask, error, torch.zeros_like(error))
    return error.sum() / mask.sum().clamp_min(1).to(error.dtype)


def depth_distillation_loss(pred: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor, kind: str, config: Any,
                            gt: torch.Tensor | None = None, gt_masks: torch.Tensor | None = None) -> torch.Tensor:
    """A mono student's loss against its teacher: scale-invariant log for metric depth, SSI + gradients for
    relative (`config`: grad_alpha, scale_anchor, gt_weight); plus gt_weight × the same relative loss against the
    exact disparity when it is given."""
    if kind == METRIC:
        return metric_depth_loss(pred, targets, masks)
    loss = ssi_loss(pred, targets, masks, alpha=config.grad_alpha, scale_anchor=config.scale_anchor)
    if gt is not None and config.gt_weight > 0:
        loss = loss + config.gt_weight * ssi_loss(pred, gt, gt_masks, alpha=config.grad_alpha)
    return loss


def disparity_distillation_loss(pred: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor, kind: str,
                                config: Any, gt: torch.Tensor | None = None,
                                gt_masks: torch.Tensor | None = None) -> torch.Tensor:
    """A stereo student's loss against its teacher's disparity in input pixels: masked smooth L1 (`config`: beta,
    gt_weight), plus gt_weight × the same against the exact disparity when it is given."""
    loss = masked_smooth_l1(pred, targets, masks, beta=config.beta)
    if gt is not None and config.gt_weight > 0:
        loss = loss + config.gt_weight * masked_smooth_l1(pred, gt, gt_masks, beta=config.beta)
    return loss
