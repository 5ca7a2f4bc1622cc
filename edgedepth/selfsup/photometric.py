"""Monodepth2's photometric terms: SSIM on 3×3 windows, the 0.85·SSIM + 0.15·L1 error, and the per-pixel minimum
over source views with auto-masking of pixels that a source explains without any warp (stationary pixels)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

C1 = 0.01**2
C2 = 0.03**2
SSIM_WEIGHT = 0.85
IDENTITY_NOISE = 1e-5  # Monodepth2 adds this much Gaussian noise to the identity errors to break ties


def _pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 mean with reflection padding (same size out)."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, 1)


def ssim_dissimilarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1 − SSIM)/2 per pixel and channel, clamped to [0, 1]; images N×C×H×W in [0, 1]."""
    mu_x, mu_y = _pool(x), _pool(y)
    sigma_x = _pool(x * x) - mu_x * mu_x
    sigma_y = _pool(y * y) - mu_y * mu_y
    sigma_xy = _pool(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + C1) * (2 * sigma_xy + C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + C1) * (sigma_x + sigma_y + C2)
    return torch.clamp((1 - numerator / denominator) / 2, 0, 1)


def photometric_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """N×1×H×W error 0.85·(1 − SSIM)/2 + 0.15·|pred − target|, each averaged over colour channels."""
    l1 = (pred - target).abs().mean(1, keepdim=True)
    ssim = ssim_dissimilarity(pred, target).mean(1, keepdim=True)
    return SSIM_WEIGHT * ssim + (1 - SSIM_WEIGHT) * l1


def identity_errors(target: torch.Tensor, sources: list[torch.Tensor], noise: float = IDENTITY_NOISE) -> torch.Tensor:
    """N×S×H×W photometric errors of the unwarped source views, plus `noise`·N(0, 1) to break ties."""
    identity = torch.cat([photometric_error(s, target) for s in sources], 1)
    return identity + torch.randn_like(identity) * noise if noise > 0 else identity


def min_reprojection(target: torch.Tensor, warped: list[torch.Tensor], sources: list[torch.Tensor] | None,
                     noise: float = IDENTITY_NOISE,
                     identity: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-pixel loss N×1×H×W, auto-mask N×1×H×W bool): the minimum photometric error over the warped source
    views; with `sources` (the same views unwarped), their errors compete in that minimum too (plus `noise`·N(0, 1)),
    and a pixel whose minimum is an unwarped view is masked out (its loss is that identity error, which no
    gradient reaches). Without `sources`, no pixel is masked. `identity`: the sources' `identity_errors` when
    already computed (they do not depend on depth, so one computation serves every scale)."""
    reprojection = torch.cat([photometric_error(w, target) for w in warped], 1)
    if sources is None:
        return reprojection.min(1, keepdim=True)[0], torch.ones_like(reprojection[:, :1], dtype=torch.bool)
    if identity is None:
        identity = identity_errors(target, sources, noise)
    loss, index = torch.cat([identity, reprojection], 1).min(1, keepdim=True)
    return loss, index >= identity.shape[1]
