"""RAFT-Stereo's encoders: residual blocks, the feature encoder and the multi-resolution context encoder.

Module names and registration order follow the official checkpoints (their state_dict keys), so weights
load by name: e.g. a strided block registers its shortcut norm twice, as `norm3` and as `downsample.1`.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("batch", "instance", "group", "none")


def make_norm(kind: str, channels: int, groups: int) -> nn.Module:
    """The normalisation layer called `kind`; instance norm has no affine parameters (and no state_dict keys)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(num_groups=groups, num_channels=channels)
    if kind == "none":
        return nn.Sequential()
    raise ValueError(f"unknown norm {kind!r}; expected one of {', '.join(NORMS)}")


class ResidualBlock(nn.Module):
    """Two 3×3 conv-norm-ReLU layers plus a (1×1 conv + norm) shortcut when the shape changes."""

    def __init__(self, in_planes: int, planes: int, norm: str, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.norm1 = make_norm(norm, planes, planes // 8)
        self.norm2 = make_norm(norm, planes, planes // 8)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            # The same norm module under two names: checkpoints carry its tensors under both.
            self.norm3 = make_norm(norm, planes, planes // 8)
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride), self.norm3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(shortcut(x) + body(x))."""
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(x + y)


def _stage(in_planes: int, planes: int, norm: str, stride: int) -> nn.Sequential:
    """Two residual blocks, the first one carrying the stride."""
    return nn.Sequential(ResidualBlock(in_planes, planes, norm, stride), ResidualBlock(planes, planes, norm, 1))


def _head(norm: str, out_dim: int) -> nn.Sequential:
    """An output head of the context encoder: a residual block, then a 3×3 convolution to `out_dim` channels."""
    return nn.Sequential(ResidualBlock(128, 128, norm, 1), nn.Conv2d(128, out_dim, 3, padding=1))


def _init_weights(module: nn.Module) -> None:
    """Kaiming (fan-out) convolutions and unit/zero norm affines, the official encoders' initialisation."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)):
            if m.weight is not None:
                nn.init.constant_(m.weight, 1)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)


def _stem_strides(n_downsample: int) -> tuple[int, int, int]:
    """Strides of conv1, layer2 and layer3: the first `n_downsample` of them (counted from layer3) are 2."""
    return 1 + (n_downsample > 2), 1 + (n_downsample > 1), 1 + (n_downsample > 0)


class _TrunkEncoder(nn.Module):
    """The stem both encoders share: conv 7×7, norm, ReLU, then stages of 64, 96 and 128 channels."""

    def _build_trunk(self, norm: str, n_downsample: int) -> None:
        s1, s2, s3 = _stem_strides(n_downsample)
        self.norm1 = make_norm(norm, 64, 8)
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=s1, padding=3)
        self.relu1 = nn.ReLU(inplace=True)
        self.layer1 = _stage(64, 64, norm, 1)
        self.layer2 = _stage(64, 96, norm, s2)
        self.layer3 = _stage(96, 128, norm, s3)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The shared stem: (B, 3, H, W) → (B, 128, H/2**n, W/2**n)."""
        x = self.relu1(self.norm1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))


class BasicEncoder(_TrunkEncoder):
    """Matching features at 1/2**n_downsample resolution (the separate feature network, `fnet`)."""

    def __init__(self, output_dim: int = 256, norm: str = "instance", n_downsample: int = 2) -> None:
        super().__init__()
        self._build_trunk(norm, n_downsample)
        self.conv2 = nn.Conv2d(128, output_dim, kernel_size=1)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images → (B, output_dim, H/2**n, W/2**n) features."""
        return self.conv2(self.trunk(x))


class MultiBasicEncoder(_TrunkEncoder):
    """Context encoder: per GRU level (1/2**n, 1/2**(n+1), 1/2**(n+2)) a hidden-state and a context map.

    `output_dims` lists, per output head, the channels at the three levels coarsest first (the official
    `hidden_dims` order). `layer5`, `outputs32` exist whatever the number of GRU levels used.
    """

    def __init__(self, output_dims: list[tuple[int, int, int]], norm: str = "batch", n_downsample: int = 2) -> None:
        super().__init__()
        self._build_trunk(norm, n_downsample)
        self.layer4 = _stage(128, 128, norm, 2)
        self.layer5 = _stage(128, 128, norm, 2)
        self.outputs08 = nn.ModuleList(_head(norm, dims[2]) for dims in output_dims)
        self.outputs16 = nn.ModuleList(_head(norm, dims[1]) for dims in output_dims)
        self.outputs32 = nn.ModuleList(nn.Conv2d(128, dims[0], 3, padding=1) for dims in output_dims)
        _init_weights(self)

    def heads(self, x: torch.Tensor, num_levels: int) -> list[list[torch.Tensor]]:
        """Per level (finest first, `num_levels` of them) the list of head outputs, from trunk features."""
        levels = [[head(x) for head in self.outputs08]]
        if num_levels > 1:
            x = self.layer4(x)
            levels.append([head(x) for head in self.outputs16])
        if num_levels > 2:
            x = self.layer5(x)
            levels.append([head(x) for head in self.outputs32])
        return levels

    def forward(self, x: torch.Tensor, num_levels: int = 3) -> list[list[torch.Tensor]]:
        """Per level (finest first) the list of head outputs for the images `x`."""
        return self.heads(self.trunk(x), num_levels)
