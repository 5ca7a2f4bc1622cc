"""AANet's disparity refinement: the coarse disparity is upsampled to an image scale, the right image warped
by it, and a residual predicted from the photometric error, the left image and the disparity.

StereoDRNet-style dilated residual blocks for AANet, a deformable hourglass for AANet+.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.teachers.aanet.deform import DeformConv2d
from edgedepth.teachers.aanet.feature import GANetHourglass


def conv_bn_leaky(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Sequential:
    """3×3 conv without bias, BN, leaky ReLU (0.2)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, inplace=True))


def warp_right(right: torch.Tensor, disparity: torch.Tensor) -> torch.Tensor:
    """The right image seen from the left view: right(y, x − d), bilinear, border values outside.

    The released models were trained with PyTorch 1.2, whose grid_sample worked as align_corners=True; the
    coordinates are normalised by (size − 1) for that convention, so both together sample at pixel x − d.
    """
    batch, _, height, width = right.shape
    xs = torch.arange(width, dtype=right.dtype, device=right.device).view(1, 1, width) - disparity[:, 0]
    ys = torch.arange(height, dtype=right.dtype, device=right.device).view(1, height, 1).expand_as(xs)
    grid = torch.stack((2 * xs / max(width - 1, 1) - 1, 2 * ys / max(height - 1, 1) - 1), dim=-1)
    return F.grid_sample(right, grid, mode="bilinear", padding_mode="border", align_corners=True)


class BasicBlock(nn.Module):
    """Residual block of two dilated 3×3 convs with BN and leaky ReLU (0.2)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class _Refinement(nn.Module):
    """Shared input stage: upsample the disparity, warp, and embed (error, left) and the disparity (16 ch each)."""

    def _build_inputs(self) -> None:
        """Register the two input convolutions (first in the checkpoints)."""
        self.conv1 = conv_bn_leaky(6, 16)
        self.conv2 = conv_bn_leaky(1, 16)

    def inputs(self, low_disp: torch.Tensor, left: torch.Tensor,
               right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The disparity at the image's size in its pixels [B, 1, H, W], and the 32-channel embedding."""
        disp = low_disp.unsqueeze(1)
        scale = left.shape[-1] / disp.shape[-1]
        if scale != 1.0:
            disp = F.interpolate(disp, size=left.shape[-2:], mode="bilinear", align_corners=False) * scale
        error = warp_right(right, disp) - left
        return disp, torch.cat((self.conv1(torch.cat((error, left), 1)), self.conv2(disp)), 1)


class StereoDRNetRefinement(_Refinement):
    """AANet's refinement: six dilated residual blocks (dilations 1, 2, 4, 8, 1, 1) predict a residual."""

    def __init__(self) -> None:
        super().__init__()
        self._build_inputs()
        self.dilated_blocks = nn.Sequential(*(BasicBlock(32, d) for d in (1, 2, 4, 8, 1, 1)))
        self.final_conv = nn.Conv2d(32, 1, 3, 1, 1)

    def forward(self, low_disp: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Refined disparity [B, H, W] at the image's size, non-negative."""
        disp, x = self.inputs(low_disp, left, right)
        return F.relu(disp + self.final_conv(self.dilated_blocks(x))).squeeze(1)


class HourglassRefinement(_Refinement, GANetHourglass):
    """AANet+'s refinement: a deformable layer, then GANet's hourglass predicts a residual (size: multiple of 16)."""

    def __init__(self) -> None:
        super().__init__()
        self._build_inputs()
        self.conv_start = DeformConv2d(32, 32)
        self._build_hourglass()
        self.final_conv = nn.Conv2d(32, 1, 3, 1, 1)

    def forward(self, low_disp: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Refined disparity [B, H, W] at the image's size, non-negative."""
        disp, x = self.inputs(low_disp, left, right)
        return F.relu(disp + self.final_conv(self.hourglass(self.conv_start(x)))).squeeze(1)
