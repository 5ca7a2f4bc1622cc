"""Distillation losses: scale-and-shift-invariant (relative targets) and scale-invariant log (metric targets).

The relative loss follows MiDaS (Ranftl et al., TPAMI 2020): prediction and target are each brought to zero
median and unit mean absolute deviation in inverse-depth space on valid pixels, then compared with a trimmed
mean absolute error plus a multi-scale gradient-matching term that keeps edges sharp.
"""

from __future__ import annotations

import torch


def _as_nhw(tensor: torch.Tensor) -> torch.Tensor:
    """Accept N×H×W or N×1×H×W and return N×H×W."""
    if tensor.dim() == 4 and tensor.shape[1] == 1:
        return tensor[:, 0]
    if tensor.dim() != 3:
        raise ValueError(f"expected N×H×W or N×1×H×W, got shape {tuple(tensor.shape)}")
    return tensor


def median_mad(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the median over the mask and the mean absolute deviation from it (N-vectors)."""
    medians, mads = [], []
    for i in range(x.shape[0]):
        values = x[i][mask[i]]
        if values.numel() == 0:
            values = x.new_zeros(1)
        median = values.median()
        medians.append(median)
        mads.append((values - median).abs().mean().clamp_min(1e-6))
    return torch.stack(medians), torch.stack(mads)


def normalize_median_mad(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image: (x − median) / mean|x − median| over the mask (MiDaS's robust scale-and-shift estimate).

    The scale is positive by construction, so an inverted map is penalised; a least-squares alignment would
    accept a negative scale, a trap a randomly initialised student falls into.
    """
    median, mad = median_mad(x, mask)
    return (x - median[:, None, None]) / mad[:, None, None]


def gradient_matching_loss(residual: torch.Tensor, mask: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Multi-scale gradient matching: mean |∇(aligned − target)| over valid neighbours, at `scales` levels."""
    total = residual.new_zeros(())
    for level in range(scales):
        step = 2**level
        r = residual[:, ::step, ::step]
        m = mask[:, ::step, ::step].to(residual.dtype)
        mx = m[:, :, 1:] * m[:, :, :-1]
        my = m[:, 1:, :] * m[:, :-1, :]
        gx = (r[:, :, 1:] - r[:, :, :-1]).abs() * mx
        gy = (r[:, 1:, :] - r[:, :-1, :]).abs() * my
        count = m.sum().clamp_min(1.0)
        total = total + (gx.sum() + gy.sum()) / count
    return total


def ssi_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    alpha: float = 0.5,
    scales: int = 4,
    trim: float = 0.2,
    scale_anchor: float = 0.0,
) -> torch.Tensor:
    """Scale-and-shift-invariant loss in inverse-depth space (MiDaS `ssitrim`) plus alpha · gradient matching.

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
    data = residual.new_zeros(())
    images = 0
    for i in range(residual.shape[0]):
        errors = residual[i][mask[i]].abs()
        if errors.numel() == 0:
            continue
        keep = max(1, int(round(errors.numel() * (1.0 - trim))))
        data = data + errors.sort().values[:keep].mean()
        images += 1
    total = data / images
    if alpha > 0:
        total = total + alpha * gradient_matching_loss(residual, mask, scales)
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
