"""Monodepth2's multi-scale objective: at every scale the disparity is upsampled to the input's size, the target
synthesised from each source view, and the per-pixel minimum reprojection error (auto-masked) averaged; plus
edge-aware smoothness at the scale's own size weighted 1e-3 / 2^scale; with hints, the hint term where a hint
reprojects better; the scales' losses are averaged."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from edgedepth.selfsup.hints import Hint, hinted_term
from edgedepth.selfsup.photometric import identity_errors, min_reprojection
from edgedepth.selfsup.smoothness import SMOOTHNESS_WEIGHT, edge_aware_smoothness

# Warp(disparity at input size N×1×H×W) → the target synthesised from each source view.
Synthesis = Callable[[torch.Tensor], list[torch.Tensor]]


def multiscale_loss(scales: list[torch.Tensor], target: torch.Tensor, sources: list[torch.Tensor],
                    synthesise: Synthesis, automask: bool = True,
                    hint: Hint | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """(loss, {photometric, smoothness, masked fraction, hinted fraction}) over `scales` (N×1×h×w disparities,
    finest first) for `target` (N×3×H×W in 0..1) and its unwarped `sources` (the auto-mask's identity views);
    `hint`: the batch's classical hints (see `edgedepth.selfsup.hints`)."""
    size = target.shape[-2:]
    total = target.new_zeros(())
    photometric = smoothness = masked = hinted = 0.0
    identity = identity_errors(target, sources) if automask else None
    for scale, disp in enumerate(scales):
        full = disp if disp.shape[-2:] == size else F.interpolate(disp, size=size, mode="bilinear",
                                                                  align_corners=False)
        per_pixel, mask = min_reprojection(target, synthesise(full), sources if automask else None,
                                           identity=identity)
        colour = target if disp.shape[-2:] == size else F.interpolate(target, size=disp.shape[-2:], mode="area")
        smooth = edge_aware_smoothness(disp.clamp_min(1e-3), colour)
        total = total + per_pixel.mean() + SMOOTHNESS_WEIGHT * smooth / 2**scale
        if hint is not None:
            term, used = hinted_term(full, per_pixel, hint)
            total = total + term
            hinted += float(used.float().mean())
        photometric += float(per_pixel.detach().mean())
        smoothness += float(smooth.detach())
        masked += 1.0 - float(mask.float().mean())
    n = len(scales)
    return total / n, {"photometric": photometric / n, "smoothness": smoothness / n, "masked": masked / n,
                       "hinted": hinted / n}
