"""Modulated deformable convolution (DCNv2) in plain torch, with AANet's module names and offset/mask slicing.

Semantics follow the CUDA kernel AANet was trained with: every kernel tap of every output position samples its
deformable group's channels at (y, x) = (out·stride − padding + tap·dilation) + (dy, dx), bilinearly, with zeros
outside the image; the sample is multiplied by its mask before the ordinary weighted sum. Offsets come as
(dy, dx) pairs per tap, per deformable group: channel 2·(g·K + k) is dy of tap k in group g, the next one dx;
the mask of that tap is channel g·K + k.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _bilinear_zeros(image: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sample `image` (N, G, C, H, W) at float positions (N, G, P) per group: (N, G, C, P), zero outside.

    The image is padded by one zero pixel on every side and corner indices are clamped into that border, so a
    corner outside the image reads zero exactly as the kernel's bounds checks do.
    """
    n, groups, channels, height, width = image.shape
    padded = F.pad(image, (1, 1, 1, 1)).reshape(n, groups, channels, (height + 2) * (width + 2))
    # Far-away positions only ever read the zero border; clamping first keeps the integer conversion finite.
    y = y.clamp(-2.0, height + 1.0)
    x = x.clamp(-2.0, width + 1.0)
    y0, x0 = torch.floor(y), torch.floor(x)
    wy1, wx1 = y - y0, x - x0
    wy0, wx0 = 1 - wy1, 1 - wx1
    row0 = (y0.long() + 1).clamp(0, height + 1)
    row1 = (y0.long() + 2).clamp(0, height + 1)
    col0 = (x0.long() + 1).clamp(0, width + 1)
    col1 = (x0.long() + 2).clamp(0, width + 1)
    stride = width + 2
    out = None
    for rows, cols, weight in ((row0, col0, wy0 * wx0), (row0, col1, wy0 * wx1),
                               (row1, col0, wy1 * wx0), (row1, col1, wy1 * wx1)):
        index = (rows * stride + cols).unsqueeze(2).expand(n, groups, channels, rows.shape[-1])
        term = torch.gather(padded, 3, index) * weight.unsqueeze(2)
        out = term if out is None else out + term
    assert out is not None
    return out


def modulated_deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    deformable_groups: int = 1,
) -> torch.Tensor:
    """DCNv2: `offset` (N, 2·G·K, Ho, Wo) as (dy, dx) per tap, `mask` (N, G·K, Ho, Wo) already activated."""
    n, channels, height, width = x.shape
    out_channels, group_channels, kernel_h, kernel_w = weight.shape
    taps = kernel_h * kernel_w
    if channels != group_channels * groups or channels % deformable_groups:
        raise ValueError(f"{channels} input channels do not fit weight {tuple(weight.shape)} with groups={groups} "
                         f"and deformable_groups={deformable_groups}")
    out_h = (height + 2 * padding - (dilation * (kernel_h - 1) + 1)) // stride + 1
    out_w = (width + 2 * padding - (dilation * (kernel_w - 1) + 1)) // stride + 1
    expected_offset = (n, 2 * deformable_groups * taps, out_h, out_w)
    if tuple(offset.shape) != expected_offset or tuple(mask.shape) != (n, deformable_groups * taps, out_h, out_w):
        raise ValueError(f"offset {tuple(offset.shape)} / mask {tuple(mask.shape)} do not fit output "
                         f"{out_h}x{out_w} with {deformable_groups} deformable groups of {taps} taps")
    dtype, device = x.dtype, x.device
    tap_y = (torch.arange(kernel_h, dtype=dtype, device=device) * dilation).repeat_interleave(kernel_w)
    tap_x = (torch.arange(kernel_w, dtype=dtype, device=device) * dilation).repeat(kernel_h)
    base_y = torch.arange(out_h, dtype=dtype, device=device) * stride - padding
    base_x = torch.arange(out_w, dtype=dtype, device=device) * stride - padding
    grid_y = (tap_y[:, None, None] + base_y[None, :, None]).expand(taps, out_h, out_w).reshape(taps, -1)
    grid_x = (tap_x[:, None, None] + base_x[None, None, :]).expand(taps, out_h, out_w).reshape(taps, -1)
    # At most 5-D (Core ML takes no rank-6 tensor): the output positions share one axis.
    pairs = offset.reshape(n, deformable_groups, taps, 2, out_h * out_w)
    y = (grid_y + pairs[:, :, :, 0]).reshape(n, deformable_groups, taps * out_h * out_w)
    x_pos = (grid_x + pairs[:, :, :, 1]).reshape(n, deformable_groups, taps * out_h * out_w)
    image = x.reshape(n, deformable_groups, channels // deformable_groups, height, width)
    sampled = _bilinear_zeros(image, y, x_pos).reshape(n, deformable_groups, -1, taps, out_h * out_w)
    sampled = sampled * mask.reshape(n, deformable_groups, 1, taps, out_h * out_w)
    columns = sampled.reshape(n, groups, group_channels * taps, out_h * out_w)
    kernel = weight.reshape(groups, out_channels // groups, group_channels * taps)
    out = torch.matmul(kernel, columns).reshape(n, out_channels, out_h, out_w)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class ModulatedDeformConv(nn.Module):
    """The deformable convolution's own weight (and optional bias); offsets and masks are given to forward."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, groups: int = 1, deformable_groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.groups, self.deformable_groups = groups, deformable_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        bound = 1.0 / (in_channels * kernel_size * kernel_size) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Deformable convolution of `x` with the given offsets and (activated) masks."""
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride, self.padding,
                                       self.dilation, self.groups, self.deformable_groups)


class DeformConv2d(nn.Module):
    """AANet's deformable layer: a grouped conv predicts offsets and masks, then the modulated deformable conv.

    The offset/mask conv is grouped by deformable group, yet its output is sliced as AANet's forward slices it:
    the first 2·G·K channels are the offsets, the rest the masks (sigmoid, doubled so that zero logits give 1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 dilation: int = 2, groups: int = 1, deformable_groups: int = 2, bias: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.deformable_groups = deformable_groups
        self.deform_conv = ModulatedDeformConv(in_channels, out_channels, kernel_size, stride=stride,
                                               padding=dilation, dilation=dilation, groups=groups,
                                               deformable_groups=deformable_groups, bias=bias)
        self.offset_conv = nn.Conv2d(in_channels, deformable_groups * 3 * kernel_size * kernel_size,
                                     kernel_size=kernel_size, stride=stride, padding=dilation, dilation=dilation,
                                     groups=deformable_groups, bias=True)
        nn.init.zeros_(self.offset_conv.weight)  # starts as a regular (dilated) convolution
        nn.init.zeros_(self.offset_conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Offsets and masks from `x`, then the deformable convolution of `x`."""
        offset_mask = self.offset_conv(x)
        split = 2 * self.deformable_groups * self.kernel_size * self.kernel_size
        offset = offset_mask[:, :split]
        mask = offset_mask[:, split:].sigmoid() * 2
        return self.deform_conv(x, offset, mask)
