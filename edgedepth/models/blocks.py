"""MiDaS v2.1 small decoder blocks: residual conv unit, feature fusion (RefineNet-style), fixed 2x upsampling.

Parameter names and computation follow the official MidasNet_small blocks (ResidualConvUnit_custom and
FeatureFusionBlock_custom without BatchNorm, groups 1): the official checkpoint loads and computes the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Upsample2x(nn.Module):
    """Bilinear 2x upsampling with a fixed `align_corners` (exported as a single Resize)."""

    def __init__(self, align_corners: bool) -> None:
        super().__init__()
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=self.align_corners)

    def extra_repr(self) -> str:
        return f"align_corners={self.align_corners}"


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))), 3x3 convs with bias; the input itself is not modified."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.act1 = nn.ReLU()
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.act1(x))
        out = self.conv2(self.act2(out))
        return out + x


class FeatureFusionBlock(nn.Module):
    """Add the refined skip (if any), refine, upsample 2x (align_corners=True), 1x1 conv (expand: halve)."""

    def __init__(self, features: int, expand: bool) -> None:
        super().__init__()
        # Registration order is the official checkpoint's key order.
        self.out_conv = nn.Conv2d(features, features // 2 if expand else features, 1, bias=True)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)
        self.upsample = Upsample2x(align_corners=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        return self.out_conv(self.upsample(x))
