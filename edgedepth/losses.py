"""Distillation losses: scale-and-shift-invariant (relative targets) and scale-invariant log (metric targets).

The relative loss follows MiDaS (Ranftl et al., TPAMI 2020): every prediction is aligned to its target by a
per-image least-squares scale and shift in inverse-depth space on valid pixels, then penalised with a masked
mean squared error plus a multi-scale gradient-matching term that keeps edges sharp.
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


def align_scale_shift(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Least-squares scale s and shift t per image so that s·pred + t ≈ target on the mask; returns s·pred + t.

    Solves the 2×2 normal equations in closed form; images with a degenerate system (too few or constant
    pixels) get s = 1, t = 0 so that they contribute a finite loss rather than NaN.
    """
    pred, target = _as_nhw(pred), _as_nhw(target)
    m = _as_nhw(mask).to(pred.dtype)
    a00 = (m * pred * pred).sum((1, 2))
    a01 = (m * pred).sum((1, 2))
    a11 = m.sum((1, 2))
    b0 = (m * pred * target).sum((1, 2))
    b1 = (m * target).sum((1, 2))
    det = a00 * a11 - a01 * a01
    ok = det.abs() > 1e-12 * (a00 * a11).clamp_min(1e-12)
    safe_det = torch.where(ok, det, torch.ones_like(det))
    scale = torch.where(ok, (a11 * b0 - a01 * b1) / safe_det, torch.ones_like(det))
    shift = torch.where(ok, (-a01 * b0 + a00 * b1) / safe_det, torch.zeros_like(det))
    return scale[:, None, None] * pred + shift[:, None, None]


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
) -> torch.Tensor:
    """Scale-and-shift-invariant loss in inverse-depth space: aligned masked MSE/2 + alpha · gradient term.

    `target` is relative inverse depth or disparity (any positive affine transform of 1/depth). The target is
    normalised by its masked mean per image first so that the loss magnitude does not depend on the teacher's
    units (pixels of disparity, or arbitrary relative units).
    """
    pred, target = _as_nhw(pred), _as_nhw(target)
    mask = _as_nhw(mask).bool()
    if not bool(mask.any()):
        raise ValueError("ssi_loss: the mask selects no pixel")
    m = mask.to(pred.dtype)
    norm = ((target.abs() * m).sum((1, 2)) / m.sum((1, 2)).clamp_min(1.0)).clamp_min(1e-6)
    target = target / norm[:, None, None]
    aligned = align_scale_shift(pred, target, mask)
    residual = (aligned - target) * m
    data = (residual * residual).sum() / (2.0 * m.sum())
    if alpha <= 0:
        return data
    return data + alpha * gradient_matching_loss(residual, mask, scales)


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
