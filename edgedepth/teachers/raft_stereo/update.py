"""RAFT-Stereo's update operator: motion encoder, multi-level convolutional GRUs, flow and mask heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pool2x(x: torch.Tensor) -> torch.Tensor:
    """Half resolution (3×3 average, stride 2, padding 1): a finer GRU state as input to the next coarser one."""
    return F.avg_pool2d(x, 3, stride=2, padding=1)


def resize_like(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`x` bilinearly resized (corners aligned) to `target`'s H×W: a coarser state as input to a finer GRU."""
    return F.interpolate(x, target.shape[2:], mode="bilinear", align_corners=True)


class FlowHead(nn.Module):
    """Two 3×3 convolutions from a hidden state to a 2-channel flow update."""

    def __init__(self, input_dim: int = 128, hidden_dim: int = 256, output_dim: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_dim, hidden_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_dim, output_dim, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Flow update (B, 2, H, W)."""
        return self.conv2(self.relu(self.conv1(x)))


class ConvGRU(nn.Module):
    """A 3×3 convolutional GRU whose gates also receive precomputed context terms (cz, cr, cq)."""

    def __init__(self, hidden_dim: int, input_dim: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.convz = nn.Conv2d(hidden_dim + input_dim, hidden_dim, kernel_size, padding=pad)
        self.convr = nn.Conv2d(hidden_dim + input_dim, hidden_dim, kernel_size, padding=pad)
        self.convq = nn.Conv2d(hidden_dim + input_dim, hidden_dim, kernel_size, padding=pad)

    def forward(self, h: torch.Tensor, context: list[torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
        """Next hidden state from the state `h`, the context gate terms [cz, cr, cq] and the inputs."""
        cz, cr, cq = context
        x = torch.cat(inputs, dim=1)
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(self.convz(hx) + cz)
        r = torch.sigmoid(self.convr(hx) + cr)
        q = torch.tanh(self.convq(torch.cat([r * h, x], dim=1)) + cq)
        return (1 - z) * h + z * q


class BasicMotionEncoder(nn.Module):
    """Correlation features and the current flow, encoded to 126 channels plus the flow itself (128)."""

    def __init__(self, corr_levels: int, corr_radius: int) -> None:
        super().__init__()
        corr_planes = corr_levels * (2 * corr_radius + 1)
        self.convc1 = nn.Conv2d(corr_planes, 64, 1, padding=0)
        self.convc2 = nn.Conv2d(64, 64, 3, padding=1)
        self.convf1 = nn.Conv2d(2, 64, 7, padding=3)
        self.convf2 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv = nn.Conv2d(64 + 64, 128 - 2, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        """(B, 128, H, W) motion features."""
        cor = F.relu(self.convc2(F.relu(self.convc1(corr))))
        flo = F.relu(self.convf2(F.relu(self.convf1(flow))))
        out = F.relu(self.conv(torch.cat([cor, flo], dim=1)))
        return torch.cat([out, flow], dim=1)


class BasicMultiUpdateBlock(nn.Module):
    """GRUs at 1/2**n (`gru08`), twice (`gru16`) and four times (`gru32`) coarser, and the output heads.

    `hidden_dims` is coarsest first, as in the official configuration; `gru32` exists even with fewer levels.
    """

    def __init__(self, hidden_dims: tuple[int, int, int], n_gru_layers: int, n_downsample: int,
                 corr_levels: int, corr_radius: int) -> None:
        super().__init__()
        self.n_gru_layers = n_gru_layers
        self.encoder = BasicMotionEncoder(corr_levels, corr_radius)
        motion_dim = 128
        self.gru08 = ConvGRU(hidden_dims[2], motion_dim + hidden_dims[1] * (n_gru_layers > 1))
        self.gru16 = ConvGRU(hidden_dims[1], hidden_dims[0] * (n_gru_layers == 3) + hidden_dims[2])
        self.gru32 = ConvGRU(hidden_dims[0], hidden_dims[1])
        self.flow_head = FlowHead(hidden_dims[2], hidden_dim=256, output_dim=2)
        factor = 2**n_downsample
        self.mask = nn.Sequential(
            nn.Conv2d(hidden_dims[2], 256, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(256, factor**2 * 9, 1)
        )

    def step(self, net: list[torch.Tensor], context: list[list[torch.Tensor]], corr: torch.Tensor | None = None,
             flow: torch.Tensor | None = None, level08: bool = True, level16: bool = True,
             level32: bool = True) -> list[torch.Tensor]:
        """Update the hidden states in place, coarsest first; each level sees its neighbours' latest states."""
        if level32:
            net[2] = self.gru32(net[2], context[2], pool2x(net[1]))
        if level16:
            if self.n_gru_layers > 2:
                net[1] = self.gru16(net[1], context[1], pool2x(net[0]), resize_like(net[2], net[1]))
            else:
                net[1] = self.gru16(net[1], context[1], pool2x(net[0]))
        if level08:
            motion = self.encoder(flow, corr)
            if self.n_gru_layers > 1:
                net[0] = self.gru08(net[0], context[0], motion, resize_like(net[1], net[0]))
            else:
                net[0] = self.gru08(net[0], context[0], motion)
        return net

    def delta_flow(self, h08: torch.Tensor) -> torch.Tensor:
        """Flow update (B, 2, H, W) from the finest hidden state."""
        return self.flow_head(h08)

    def upsample_mask(self, h08: torch.Tensor) -> torch.Tensor:
        """Convex-upsampling logits (B, 9·factor², H, W), scaled by 0.25 as in training."""
        return 0.25 * self.mask(h08)
