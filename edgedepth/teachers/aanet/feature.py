"""AANet's feature networks: a ResNet-style extractor with deformable blocks + FPN (AANet) and GANet's
hourglass extractor + a strided pyramid (AANet+); each returns features at 1/3, 1/6 and 1/12 of the input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.teachers.aanet.deform import DeformConv2d


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """Pointwise convolution without bias."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3×3 convolution without bias, padded to keep the size (at stride 1)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=dilation, dilation=dilation,
                     bias=False)


class Bottleneck(nn.Module):
    """ResNet bottleneck (×4 expansion); with `deformable` its 3×3 is AANet's deformable layer."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 deformable: bool = False) -> None:
        super().__init__()
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = DeformConv2d(planes, planes, stride=stride) if deformable else conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual bottleneck."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class AANetFeature(nn.Module):
    """ResNet-40 at strides 3, 6, 12 (blocks 3, 4, 6); the last stage uses deformable bottlenecks."""

    def __init__(self, channels: int = 32, deformable: bool = True) -> None:
        super().__init__()
        self.in_channels = channels
        self.conv1 = nn.Sequential(nn.Conv2d(3, channels, kernel_size=7, stride=3, padding=3, bias=False),
                                   nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.layer1 = self._stage(channels, 3)
        self.layer2 = self._stage(channels * 2, 4, stride=2)
        self.layer3 = self._stage(channels * 4, 6, stride=2, deformable=deformable)

    def _stage(self, planes: int, blocks: int, stride: int = 1, deformable: bool = False) -> nn.Sequential:
        """`blocks` bottlenecks, the first one changing stride/width through a 1×1 shortcut."""
        out_channels = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.in_channels != out_channels:
            downsample = nn.Sequential(conv1x1(self.in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
        layers = [Bottleneck(self.in_channels, planes, stride, downsample, deformable)]
        self.in_channels = out_channels
        layers += [Bottleneck(out_channels, planes, deformable=deformable) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[1/3 (128 ch), 1/6 (256 ch), 1/12 (512 ch)]."""
        layer1 = self.layer1(self.conv1(x))
        layer2 = self.layer2(layer1)
        return [layer1, layer2, self.layer3(layer2)]


class FeaturePyramidNetwork(nn.Module):
    """FPN: 1×1 laterals, a nearest-neighbour top-down path, then 3×3 conv + BN + ReLU per level."""

    def __init__(self, in_channels: list[int], out_channels: int = 128) -> None:
        super().__init__()
        self.lateral_convs = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.fpn_convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
                          nn.ReLU(inplace=True))
            for _ in in_channels)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Features high → low resolution, each with `out_channels` channels."""
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs, strict=True)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], scale_factor=2, mode="nearest")
        return [conv(x) for conv, x in zip(self.fpn_convs, laterals, strict=True)]


class BasicConv(nn.Module):
    """GANet's conv (or transposed conv) without bias, then BN and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, deconv: bool = False, **kwargs: int) -> None:
        super().__init__()
        kind = nn.ConvTranspose2d if deconv else nn.Conv2d
        self.conv = kind(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv → BN → ReLU."""
        return F.relu(self.bn(self.conv(x)))


class Conv2x(nn.Module):
    """GANet's resampling step: a stride-2 conv (or 4×4 deconv), concatenated with the skip, then a 3×3 conv
    (AANet's deformable layer with `deformable`)."""

    def __init__(self, in_channels: int, out_channels: int, deconv: bool = False, deformable: bool = False) -> None:
        super().__init__()
        self.conv1 = BasicConv(in_channels, out_channels, deconv, kernel_size=4 if deconv else 3, stride=2,
                               padding=1)
        self.conv2: nn.Module
        if deformable:
            self.conv2 = DeformConv2d(out_channels * 2, out_channels, kernel_size=3, stride=1)
        else:
            self.conv2 = BasicConv(out_channels * 2, out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Resample `x` to the skip's size, concatenate, fuse."""
        x = self.conv1(x)
        if x.shape != skip.shape:
            raise ValueError(f"feature sizes {tuple(x.shape)} and {tuple(skip.shape)} differ: the input size must "
                             "be a multiple of the model's")
        return self.conv2(torch.cat((x, skip), 1))


class GANetHourglass(nn.Module):
    """GANet's two-pass hourglass (down to 1/16 of its input and back, twice), with deformable layers where
    AANet+ puts them; the body of AANet+'s feature extractor and of its refinement."""

    def _build_hourglass(self) -> None:
        """Register the hourglass layers (after the owner's stem, which comes first in the checkpoints)."""
        self.conv1a = BasicConv(32, 48, kernel_size=3, stride=2, padding=1)
        self.conv2a = BasicConv(48, 64, kernel_size=3, stride=2, padding=1)
        self.conv3a = DeformConv2d(64, 96, kernel_size=3, stride=2)
        self.conv4a = DeformConv2d(96, 128, kernel_size=3, stride=2)
        self.deconv4a = Conv2x(128, 96, deconv=True)
        self.deconv3a = Conv2x(96, 64, deconv=True)
        self.deconv2a = Conv2x(64, 48, deconv=True)
        self.deconv1a = Conv2x(48, 32, deconv=True)
        self.conv1b = Conv2x(32, 48)
        self.conv2b = Conv2x(48, 64)
        self.conv3b = Conv2x(64, 96, deformable=True)
        self.conv4b = Conv2x(96, 128, deformable=True)
        self.deconv4b = Conv2x(128, 96, deconv=True)
        self.deconv3b = Conv2x(96, 64, deconv=True)
        self.deconv2b = Conv2x(64, 48, deconv=True)
        self.deconv1b = Conv2x(48, 32, deconv=True)

    def hourglass(self, x: torch.Tensor) -> torch.Tensor:
        """32 channels in, 32 out, same size (a multiple of 16)."""
        rem0 = x
        rem1 = x = self.conv1a(x)
        rem2 = x = self.conv2a(x)
        rem3 = x = self.conv3a(x)
        rem4 = x = self.conv4a(x)
        rem3 = x = self.deconv4a(x, rem3)
        rem2 = x = self.deconv3a(x, rem2)
        rem1 = x = self.deconv2a(x, rem1)
        rem0 = x = self.deconv1a(x, rem0)
        rem1 = x = self.conv1b(x, rem1)
        rem2 = x = self.conv2b(x, rem2)
        rem3 = x = self.conv3b(x, rem3)
        x = self.conv4b(x, rem4)
        x = self.deconv4b(x, rem3)
        x = self.deconv3b(x, rem2)
        x = self.deconv2b(x, rem1)
        return self.deconv1b(x, rem0)


class GANetFeature(GANetHourglass):
    """GANet's feature extractor with deformable layers: a stride-3 stem, then the hourglass; 32 ch at 1/3."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_start = nn.Sequential(BasicConv(3, 32, kernel_size=3, padding=1),
                                        BasicConv(32, 32, kernel_size=5, stride=3, padding=2),
                                        DeformConv2d(32, 32))
        self._build_hourglass()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 32, H/3, W/3]."""
        return self.hourglass(self.conv_start(x))


class FeaturePyramid(nn.Module):
    """AANet+'s pyramid: two strided conv stages over the 1/3 features (32 → 64 → 128 channels)."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.out1 = self._stage(channels, channels * 2)
        self.out2 = self._stage(channels * 2, channels * 4)

    @staticmethod
    def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
        """3×3 stride-2 conv, BN, leaky ReLU, 1×1 conv, BN, leaky ReLU."""
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
                             nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, inplace=True),
                             nn.Conv2d(out_channels, out_channels, 1, bias=False),
                             nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[1/3, 1/6, 1/12]."""
        out1 = self.out1(x)
        return [x, out1, self.out2(out1)]
