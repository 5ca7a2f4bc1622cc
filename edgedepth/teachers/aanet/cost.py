"""AANet's matching costs: a correlation volume per pyramid level, the channel mean of left·right at each
disparity candidate, zero where the match falls left of the right image."""

from __future__ import annotations

import torch


def correlation_volume(left: torch.Tensor, right: torch.Tensor, max_disp: int) -> torch.Tensor:
    """[B, D, H, W]: cost[d, y, x] = mean_c left[c, y, x] · right[c, y, x − d] for x ≥ d, else 0."""
    batch, _, height, width = left.shape
    volume = left.new_zeros(batch, max_disp, height, width)
    for d in range(min(max_disp, width)):
        volume[:, d, :, d:] = (left[..., d:] * right[..., : width - d]).mean(dim=1)
    return volume


def correlation_pyramid(left: list[torch.Tensor], right: list[torch.Tensor], max_disp: int) -> list[torch.Tensor]:
    """One volume per level, level s searching max_disp // 2**s candidates (its resolution halves each level)."""
    return [correlation_volume(lf, rf, max_disp // 2 ** s) for s, (lf, rf) in enumerate(zip(left, right, strict=True))]
