"""RAFT-Stereo (Lipson, Teed & Deng, 3DV 2021) as a torch module, and the configurations of its checkpoints.

The network predicts an x-flow from the left to the right view, i.e. flow = −disparity. Inputs are RGB images
as float tensors in [0, 255], (B, 3, H, W), with H and W multiples of 2**n_downsample (the resolution of the
iterated flow field); nothing else constrains the size. Inference runs in float32: the official mixed-precision
option only exists for CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.teachers.raft_stereo.corr import CorrPyramid1D
from edgedepth.teachers.raft_stereo.extractor import NORMS, BasicEncoder, MultiBasicEncoder, ResidualBlock
from edgedepth.teachers.raft_stereo.update import BasicMultiUpdateBlock


@dataclass(frozen=True)
class RAFTStereoConfig:
    """Architecture switches of the official code (its command-line flags) and the default iteration count."""

    shared_backbone: bool = False
    n_downsample: int = 2
    n_gru_layers: int = 3
    slow_fast_gru: bool = False
    hidden_dims: tuple[int, int, int] = (128, 128, 128)
    corr_levels: int = 4
    corr_radius: int = 4
    context_norm: str = "batch"
    valid_iters: int = 32

    def __post_init__(self) -> None:
        """Reject switch values the architecture has no layers for."""
        if self.n_gru_layers not in (1, 2, 3):
            raise ValueError(f"n_gru_layers must be 1, 2 or 3, got {self.n_gru_layers}")
        if not 0 <= self.n_downsample <= 3:
            raise ValueError(f"n_downsample must be 0..3, got {self.n_downsample}")
        if self.context_norm not in NORMS:
            raise ValueError(f"context_norm must be one of {', '.join(NORMS)}, got {self.context_norm!r}")
        if len(self.hidden_dims) != 3 or self.corr_levels < 1 or self.corr_radius < 0 or self.valid_iters < 1:
            raise ValueError(f"invalid RAFT-Stereo configuration {self}")

    @property
    def factor(self) -> int:
        """Resolution ratio between the input and the iterated flow field (and the convex-upsampling factor)."""
        return 2**self.n_downsample


_DEFAULT = RAFTStereoConfig()

# The official README's models: `raftstereo-realtime.pth` runs with --shared_backbone --n_downsample 3
# --n_gru_layers 2 --slow_fast_gru --valid_iters 7; sceneflow/middlebury/eth3d use the defaults (32 iterations);
# `iraftstereo_rvc.pth` adds --context_norm instance. Every one keeps the default batch-norm context encoder
# otherwise (the checkpoints hold `cnet.*.running_mean`).
CONFIGS: dict[str, RAFTStereoConfig] = {
    "realtime": RAFTStereoConfig(shared_backbone=True, n_downsample=3, n_gru_layers=2, slow_fast_gru=True,
                                 valid_iters=7),
    "default": _DEFAULT,
    "sceneflow": _DEFAULT,
    "middlebury": _DEFAULT,
    "eth3d": _DEFAULT,
    "rvc": replace(_DEFAULT, context_norm="instance"),
}


def convex_upsample(flow: torch.Tensor, mask: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, D, h, w) flow → (B, D, factor·h, factor·w): each fine pixel a softmax-weighted mix of its coarse 3×3.

    `mask` (B, 9·factor², h, w) holds the logits; flow values are scaled by `factor` (pixels at the new scale)
    and the 3×3 neighbourhood is zero-padded at the border, as in the official model.
    """
    batch, channels, height, width = flow.shape
    # At most 5-D throughout (LiteRT's converter takes no 6-D max or multiply): the fine pixels' (fy, fx) share
    # one axis until the final reordering.
    pixels, cells = height * width, factor * factor
    weights = torch.softmax(mask.view(batch, 1, 9, cells, pixels), dim=2)
    neighbours = F.unfold(factor * flow, [3, 3], padding=1).view(batch, channels, 9, 1, pixels)
    up = (weights * neighbours).sum(dim=2)  # B, D, fy·fx, h·w
    up = up.reshape(batch * channels, factor, factor, height, width).permute(0, 3, 1, 4, 2)
    return up.reshape(batch, channels, factor * height, factor * width)


def _coords_grid(batch: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """(B, 2, H, W) pixel coordinates, x then y."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    return torch.stack([xs, ys]).float()[None].repeat(batch, 1, 1, 1)


class RAFTStereo(nn.Module):
    """RAFT-Stereo: context/feature encoders, a 1-D correlation pyramid and iterated multi-level GRU updates."""

    def __init__(self, config: RAFTStereoConfig = _DEFAULT) -> None:
        super().__init__()
        self.config = config
        dims = config.hidden_dims
        self.cnet = MultiBasicEncoder([dims, dims], norm=config.context_norm, n_downsample=config.n_downsample)
        self.update_block = BasicMultiUpdateBlock(dims, config.n_gru_layers, config.n_downsample,
                                                  config.corr_levels, config.corr_radius)
        self.context_zqr_convs = nn.ModuleList(
            nn.Conv2d(dims[i], dims[i] * 3, 3, padding=1) for i in range(config.n_gru_layers)
        )
        if config.shared_backbone:
            self.conv2 = nn.Sequential(ResidualBlock(128, 128, "instance", stride=1), nn.Conv2d(128, 256, 3, padding=1))
        else:
            self.fnet = BasicEncoder(output_dim=256, norm="instance", n_downsample=config.n_downsample)

    def encode(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple[list[list[torch.Tensor]], torch.Tensor,
                                                                          torch.Tensor]:
        """Context-encoder outputs per level (of the left image) and the matching features of both images."""
        batch = image1.shape[0]
        levels = self.config.n_gru_layers
        if self.config.shared_backbone:
            trunk = self.cnet.trunk(torch.cat([image1, image2], dim=0))
            context = self.cnet.heads(trunk[:batch], levels)
            fmap1, fmap2 = self.conv2(trunk).split(batch, dim=0)
        else:
            context = self.cnet(image1, levels)
            fmap1, fmap2 = self.fnet(torch.cat([image1, image2], dim=0)).split(batch, dim=0)
        return context, fmap1, fmap2

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, iters: int | None = None,
                flow_init: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Left→right x-flow (= −disparity) after `iters` updates: coarse (B, 2, h, w) and full-size (B, 1, H, W).

        Only the last iteration is upsampled (the official test mode); `flow_init` (B, 2, h, w) warm-starts it.
        """
        cfg = self.config
        height, width = image1.shape[-2:]
        if height % cfg.factor or width % cfg.factor:
            raise ValueError(f"input {height}×{width} is not a multiple of {cfg.factor} (2**n_downsample); pad it")
        iters = cfg.valid_iters if iters is None else iters
        image1 = 2 * (image1 / 255.0) - 1.0
        image2 = 2 * (image2 / 255.0) - 1.0

        context, fmap1, fmap2 = self.encode(image1, image2)
        net = [torch.tanh(level[0]) for level in context]
        inp = [torch.relu(level[1]) for level in context]
        # The context's share of every GRU gate is constant across iterations: computed once.
        gates = [list(conv(x).split(conv.out_channels // 3, dim=1))
                 for x, conv in zip(inp, self.context_zqr_convs, strict=True)]
        corr_fn = CorrPyramid1D(fmap1, fmap2, num_levels=cfg.corr_levels, radius=cfg.corr_radius)

        batch, _, h, w = net[0].shape
        coords0 = _coords_grid(batch, h, w, net[0].device)
        coords1 = coords0.clone() if flow_init is None else coords0 + flow_init
        three, two = cfg.n_gru_layers == 3, cfg.n_gru_layers >= 2
        update = self.update_block
        for _ in range(iters):
            corr = corr_fn(coords1[:, :1])
            flow = coords1 - coords0
            if three and cfg.slow_fast_gru:
                net = update.step(net, gates, level08=False, level16=False, level32=True)
            if two and cfg.slow_fast_gru:
                net = update.step(net, gates, level08=False, level16=True, level32=three)
            net = update.step(net, gates, corr, flow, level08=True, level16=two, level32=three)
            delta = update.delta_flow(net[0])
            delta[:, 1] = 0.0  # stereo: matches lie on the same row
            coords1 = coords1 + delta

        coarse = coords1 - coords0
        full = convex_upsample(coarse[:, :1], update.upsample_mask(net[0]), cfg.factor)
        return coarse, full
