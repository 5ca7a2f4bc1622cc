"""ResNet-18 and ResNet-50 feature extractors written in the project, with torchvision's module names (so
checkpoints saved from `torchvision.models.resnet*` load strictly): conv1/bn1, layer1–layer4 of BasicBlock or
Bottleneck (stride on the 3×3 convolution, "v1.5"), downsample.0/.1, and the classifier `fc` kept only so its
weights load (it is never run)."""

from __future__ import annotations

import torch
from torch import nn

# (block, blocks per stage) of the two depths Monodepth2 ships.
STAGES_BY_DEPTH = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inplanes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inplanes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _downsample(inplanes: int, outplanes: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and inplanes == outplanes:
        return None
    return nn.Sequential(nn.Conv2d(inplanes, outplanes, 1, stride, bias=False), nn.BatchNorm2d(outplanes))


class ResNet(nn.Module):
    """The torchvision ResNet layout; `features(x)` returns the five maps a U-Net decoder reads (after the stem's
    ReLU, then after each stage), at strides 2, 4, 8, 16 and 32."""

    def __init__(self, depth: int = 18) -> None:
        super().__init__()
        if depth not in STAGES_BY_DEPTH:
            raise ValueError(f"ResNet depth must be one of {', '.join(map(str, STAGES_BY_DEPTH))}, got {depth}")
        kind, counts = STAGES_BY_DEPTH[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), counts, strict=True), start=1):
            blocks = []
            for i in range(count):
                blocks.append(block(inplanes, planes, stride=2 if i == 0 and index > 1 else 1))
                inplanes = planes * block.expansion
            setattr(self, f"layer{index}", nn.Sequential(*blocks))
        self.fc = nn.Linear(512 * block.expansion, 1000)  # ImageNet classifier: loaded, never run
        self.channels = (64, 64 * block.expansion, 128 * block.expansion, 256 * block.expansion,
                         512 * block.expansion)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        out = [stem, self.layer1(self.maxpool(stem))]
        for stage in (self.layer2, self.layer3, self.layer4):
            out.append(stage(out[-1]))
        return out
