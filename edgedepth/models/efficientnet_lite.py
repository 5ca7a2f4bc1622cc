"""EfficientNet-Lite0..4 encoders returning four feature maps (strides 4, 8, 16, 32), TF-weight compatible.

The architecture and parameter names follow gen-efficientnet's `tf_efficientnet_liteN` (the encoder of MiDaS
v2.1 small), so its checkpoints load strictly: TF "SAME" padding, BatchNorm eps 1e-3, ReLU6, no
squeeze-excitation, stem (32) and first/last stage repeats left unscaled. The padding is static (padding.py).
Module layout is MiDaS's grouping of the trunk: layer1 = (conv_stem, bn1, act1, stage 0, stage 1),
layer2 = stage 2, layer3 = stages 3-4, layer4 = stages 5-6; the classifier head (conv_head) is not built.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.models.padding import conv_padding

# One string per stage, timm-style: block type, repeats, kernel, stride, expansion, output channels.
LITE_STAGES = (
    "ds_r1_k3_s1_e1_c16",
    "ir_r2_k3_s2_e6_c24",
    "ir_r2_k5_s2_e6_c40",
    "ir_r3_k3_s2_e6_c80",
    "ir_r3_k5_s1_e6_c112",
    "ir_r4_k5_s2_e6_c192",
    "ir_r1_k3_s1_e6_c320",
)
# name: (width multiplier, depth multiplier), as published for EfficientNet-Lite.
LITE_VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0),
    "efficientnet_lite1": (1.0, 1.1),
    "efficientnet_lite2": (1.1, 1.2),
    "efficientnet_lite3": (1.2, 1.4),
    "efficientnet_lite4": (1.4, 1.8),
}
# Which stages feed each returned feature map (MiDaS's layer1..layer4).
FEATURE_STAGES = ((0, 1), (2,), (3, 4), (5, 6))
STEM_CHANNELS = 32
BN_EPS = 1e-3  # the TF default the ported weights were trained with (PyTorch's is 1e-5)


@dataclass(frozen=True)
class StageSpec:
    """One stage of the trunk: `repeats` blocks of one type; only the first has `stride`."""

    block: str
    repeats: int
    kernel: int
    stride: int
    expand: float
    channels: int


def parse_stage(text: str) -> StageSpec:
    """Decode a stage string such as 'ir_r2_k3_s2_e6_c24'."""
    block, *ops = text.split("_")
    if block not in ("ds", "ir"):
        raise ValueError(f"unknown block type {block!r} in {text!r}")
    fields = {}
    for op in ops:
        match = re.fullmatch(r"([a-z]+)([\d.]+)", op)
        if match is None:
            raise ValueError(f"cannot read {op!r} in {text!r}")
        fields[match.group(1)] = match.group(2)
    return StageSpec(block, int(fields["r"]), int(fields["k"]), int(fields["s"]), float(fields["e"]),
                     int(fields["c"]))


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of `divisor`, never more than 10% below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def round_channels(channels: int, multiplier: float) -> int:
    """Width scaling of a stage's output channels."""
    return make_divisible(channels * multiplier)


def round_repeats(repeats: int, multiplier: float) -> int:
    """Depth scaling of a stage's block count (ceil, as EfficientNet does)."""
    return int(math.ceil(repeats * multiplier))


def lite_stages(name: str) -> list[StageSpec]:
    """The scaled stages of an EfficientNet-Lite variant (first and last stage repeats are not scaled)."""
    if name not in LITE_VARIANTS:
        raise ValueError(f"unknown encoder {name!r}; available: {', '.join(LITE_VARIANTS)}")
    width, depth = LITE_VARIANTS[name]
    stages = [parse_stage(text) for text in LITE_STAGES]
    last = len(stages) - 1
    scaled = []
    for i, s in enumerate(stages):
        repeats = s.repeats if i in (0, last) else round_repeats(s.repeats, depth)
        channels = round_channels(s.channels, width)
        scaled.append(StageSpec(s.block, repeats, s.kernel, s.stride, s.expand, channels))
    return scaled


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


def _depthwise(channels: int, kernel: int, stride: int) -> tuple[nn.Conv2d, tuple[int, int, int, int] | None]:
    """A depthwise conv and the explicit TF-SAME pad its input needs (None when nn.Conv2d pads itself)."""
    padding, pad = conv_padding(kernel, stride)
    conv = nn.Conv2d(channels, channels, kernel, stride, padding=padding, groups=channels, bias=False)
    return conv, pad


class DepthwiseSeparable(nn.Module):
    """Depthwise conv, BN, ReLU6, pointwise conv, BN (no activation after it); residual when shapes allow."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv_dw, self.pad = _depthwise(in_chs, kernel, stride)
        self.bn1 = _bn(in_chs)
        self.act1 = nn.ReLU6()
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn2 = _bn(out_chs)
        self.has_residual = stride == 1 and in_chs == out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pad(x, self.pad) if self.pad is not None else x
        out = self.act1(self.bn1(self.conv_dw(out)))
        out = self.bn2(self.conv_pw(out))
        return out + x if self.has_residual else out


class InvertedResidual(nn.Module):
    """Pointwise expansion, depthwise conv, linear pointwise projection (BN after each, ReLU6 after two)."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int, expand: float) -> None:
        super().__init__()
        mid = make_divisible(in_chs * expand)
        self.conv_pw = nn.Conv2d(in_chs, mid, 1, bias=False)
        self.bn1 = _bn(mid)
        self.act1 = nn.ReLU6()
        self.conv_dw, self.pad = _depthwise(mid, kernel, stride)
        self.bn2 = _bn(mid)
        self.act2 = nn.ReLU6()
        self.conv_pwl = nn.Conv2d(mid, out_chs, 1, bias=False)
        self.bn3 = _bn(out_chs)
        self.has_residual = stride == 1 and in_chs == out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv_pw(x)))
        if self.pad is not None:
            out = F.pad(out, self.pad)
        out = self.act2(self.bn2(self.conv_dw(out)))
        out = self.bn3(self.conv_pwl(out))
        return out + x if self.has_residual else out


def _make_stage(spec: StageSpec, in_chs: int) -> nn.Sequential:
    blocks = []
    for i in range(spec.repeats):
        stride = spec.stride if i == 0 else 1
        if spec.block == "ds":
            blocks.append(DepthwiseSeparable(in_chs, spec.channels, spec.kernel, stride))
        else:
            blocks.append(InvertedResidual(in_chs, spec.channels, spec.kernel, stride, spec.expand))
        in_chs = spec.channels
    return nn.Sequential(*blocks)


def _init_tf_style(module: nn.Module) -> None:
    """TF's EfficientNet init: conv weights N(0, sqrt(2 / fan_out)) with fan_out per group; BN at identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite trunk as a feature extractor: forward returns [stride 4, 8, 16, 32] maps."""

    def __init__(self, name: str = "efficientnet_lite0", in_chans: int = 3) -> None:
        super().__init__()
        self.name = name
        stages = lite_stages(name)
        stem_padding, self.stem_pad = conv_padding(3, 2)
        conv_stem = nn.Conv2d(in_chans, STEM_CHANNELS, 3, 2, padding=stem_padding, bias=False)
        built, in_chs = [], STEM_CHANNELS
        for spec in stages:
            built.append(_make_stage(spec, in_chs))
            in_chs = spec.channels
        stem = (conv_stem, _bn(STEM_CHANNELS), nn.ReLU6())
        self.layer1 = nn.Sequential(*stem, *(built[i] for i in FEATURE_STAGES[0]))
        self.layer2 = nn.Sequential(*(built[i] for i in FEATURE_STAGES[1]))
        self.layer3 = nn.Sequential(*(built[i] for i in FEATURE_STAGES[2]))
        self.layer4 = nn.Sequential(*(built[i] for i in FEATURE_STAGES[3]))
        self.feature_channels = tuple(stages[group[-1]].channels for group in FEATURE_STAGES)
        strides, total = [], 2
        for group in FEATURE_STAGES:
            for i in group:
                total *= stages[i].stride
            strides.append(total)
        self.feature_strides = tuple(strides)
        _init_tf_style(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of layer1..4; H and W must be multiples of 32 for the static padding to equal TF's."""
        if self.stem_pad is not None:
            x = F.pad(x, self.stem_pad)
        f1 = self.layer1(x)
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [f1, f2, f3, f4]


def list_encoders() -> list[str]:
    """Encoder names `EfficientNetLite` accepts."""
    return list(LITE_VARIANTS)
