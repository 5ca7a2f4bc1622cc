"""The 1-D correlation pyramid of RAFT-Stereo and its lookup, in plain torch (no compiled extension).

For every left-feature pixel (y, x1) the volume holds <f1(y, x1), f2(y, x2)> / sqrt(D) for all x2 on the same
row. Level i averages level 0 over 2**i neighbouring x2 (width only, odd remainders dropped). A lookup at
x-position c reads, per level, the 2r + 1 values at c / 2**i + k (k = −r..r), linearly interpolated along x2,
zero outside the row: the same numbers as the official `reg`/`reg_cuda` samplers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def correlation_volume(fmap1: torch.Tensor, fmap2: torch.Tensor) -> torch.Tensor:
    """(B, D, H, W1), (B, D, H, W2) → (B, H, W1, W2) row-wise dot products scaled by 1/sqrt(D)."""
    depth = fmap1.shape[1]
    left = fmap1.permute(0, 2, 3, 1)  # B, H, W1, D
    right = fmap2.permute(0, 2, 1, 3)  # B, H, D, W2
    return torch.matmul(left, right) / (depth**0.5)


def lookup_row(volume: torch.Tensor, x: torch.Tensor, radius: int) -> torch.Tensor:
    """Values of each row of `volume` (N, W) at x + k, k = −radius..radius: (N, 2·radius + 1).

    Linear interpolation between the two integer neighbours, zero for taps outside [0, W − 1]; all taps of a row
    share the fractional part, so 2·radius + 2 integer reads per row suffice.
    """
    rows, width = volume.shape
    taps = 2 * radius + 1
    if width == 0:
        return volume.new_zeros(rows, taps)
    base = torch.floor(x)
    frac = (x - base).unsqueeze(1)
    index = base.long().unsqueeze(1) + torch.arange(-radius, radius + 2, device=x.device)
    inside = (index >= 0) & (index < width)
    values = torch.gather(volume, 1, index.clamp(0, width - 1)) * inside
    return values[:, :taps] * (1.0 - frac) + values[:, 1:] * frac


class CorrPyramid1D:
    """Correlation pyramid of a feature pair, looked up at the current match positions each iteration."""

    def __init__(self, fmap1: torch.Tensor, fmap2: torch.Tensor, num_levels: int = 4, radius: int = 4) -> None:
        self.num_levels = num_levels
        self.radius = radius
        batch, _, height, width1 = fmap1.shape
        self.shape = (batch, height, width1)
        volume = correlation_volume(fmap1.float(), fmap2.float()).reshape(batch * height * width1, 1, -1)
        self.levels = [volume.squeeze(1)]
        for _ in range(num_levels - 1):
            volume = F.avg_pool1d(volume, kernel_size=2, stride=2)
            self.levels.append(volume.squeeze(1))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Match x-positions (B, 1, H, W1) in level-0 pixels → (B, num_levels·(2r + 1), H, W1) features."""
        batch, height, width1 = self.shape
        flat = x.reshape(-1)
        out = [lookup_row(level, flat / 2**i, self.radius) for i, level in enumerate(self.levels)]
        corr = torch.cat(out, dim=1).view(batch, height, width1, -1)
        return corr.permute(0, 3, 1, 2).contiguous()
