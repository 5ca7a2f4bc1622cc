"""AANet and AANet+ (Xu & Zhang, CVPR 2020): the network, its released configurations, and soft-argmin
disparity regression. Input: ImageNet-normalised RGB pairs whose size is a multiple of `AANetConfig.multiple`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.teachers.aanet.aggregation import AdaptiveAggregation
from edgedepth.teachers.aanet.cost import correlation_pyramid
from edgedepth.teachers.aanet.feature import AANetFeature, FeaturePyramid, FeaturePyramidNetwork, GANetFeature
from edgedepth.teachers.aanet.refinement import HourglassRefinement, StereoDRNetRefinement


@dataclass(frozen=True)
class AANetConfig:
    """An architecture: the feature network (aanet + FPN, or ganet + pyramid) and the refinement."""

    feature_type: str = "aanet"  # aanet (ResNet-40 + FPN) or ganet (GANet hourglass + strided pyramid)
    refinement_type: str = "stereodrnet"  # stereodrnet or hourglass
    max_disp: int = 192  # disparity range at full resolution; the cost volume searches max_disp // 3 at 1/3
    num_scales: int = 3
    num_fusions: int = 6
    num_deform_blocks: int = 3
    deformable_groups: int = 2
    mdconv_dilation: int = 2
    num_downsample: int = 2  # refinement steps: 1/2, then full resolution
    # Input sizes must be multiples of this: features at 1/12 (AANet: 48 as the official inference pads);
    # AANet+'s hourglasses halve 1/3-scale features four times, and its half-resolution refinement four times.
    multiple: int = 48


AANET = AANetConfig()
AANET_PLUS = AANetConfig(feature_type="ganet", refinement_type="hourglass", multiple=96)
# The two architectures, and the released checkpoints by name: Scene Flow, then fine-tuned on KITTI 2012 / 2015,
# all with max_disp 192 (the official scripts change no architecture flag between them).
CONFIGS = {
    "aanet": AANET,
    "aanet+": AANET_PLUS,
    "aanet_sceneflow": AANET,
    "aanet_kitti15": AANET,
    "aanet_kitti12": AANET,
    "aanet+_sceneflow": AANET_PLUS,
    "aanet+_kitti15": AANET_PLUS,
    "aanet+_kitti12": AANET_PLUS,
}


def architecture_config(name: str) -> AANetConfig:
    """The architecture of a configuration name; unknown names raise ValueError listing the known ones."""
    if name not in CONFIGS:
        raise ValueError(f"unknown AANet config {name!r}; expected one of {', '.join(CONFIGS)}")
    return CONFIGS[name]


def soft_argmin(cost: torch.Tensor) -> torch.Tensor:
    """Disparity [B, H, W] as the softmax-weighted mean of candidates 0..D−1 over a similarity volume [B, D, H, W]."""
    probability = F.softmax(cost, dim=1)
    candidates = torch.arange(cost.shape[1], dtype=cost.dtype, device=cost.device).view(1, -1, 1, 1)
    return (probability * candidates).sum(dim=1)


class AANet(nn.Module):
    """Features → correlation pyramid → adaptive aggregation → soft-argmin at 1/3 → refinement at 1/2 and 1/1."""

    def __init__(self, config: AANetConfig = AANET) -> None:
        super().__init__()
        self.config = config
        self.max_disp = config.max_disp // 3
        self.feature_extractor: nn.Module
        self.fpn: nn.Module
        if config.feature_type == "aanet":
            self.feature_extractor = AANetFeature()
            self.fpn = FeaturePyramidNetwork([128, 256, 512], 128)
        elif config.feature_type == "ganet":
            self.feature_extractor = GANetFeature()
            self.fpn = FeaturePyramid()
        else:
            raise ValueError(f"unknown AANet feature type {config.feature_type!r}")
        self.aggregation = AdaptiveAggregation(self.max_disp, config.num_scales, config.num_fusions,
                                               config.num_deform_blocks, intermediate_supervision=False,
                                               deformable_groups=config.deformable_groups,
                                               dilation=config.mdconv_dilation)
        refinements = {"stereodrnet": StereoDRNetRefinement, "hourglass": HourglassRefinement}
        if config.refinement_type not in refinements:
            raise ValueError(f"unknown AANet refinement type {config.refinement_type!r}")
        self.refinement = nn.ModuleList(refinements[config.refinement_type]() for _ in range(config.num_downsample))

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Feature pyramid at 1/3, 1/6, 1/12."""
        return self.fpn(self.feature_extractor(image))

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> list[torch.Tensor]:
        """Disparities [B, h, w] in the pixels of their own resolution: 1/3, then each refinement (last: full)."""
        height, width = left.shape[-2:]
        multiple = self.config.multiple
        if height % multiple or width % multiple:
            raise ValueError(f"AANet input must be a multiple of {multiple} in both dimensions, got {height}x{width}")
        costs = correlation_pyramid(self.features(left), self.features(right), self.max_disp)
        costs = costs[: self.config.num_scales]
        disparity = soft_argmin(self.aggregation(costs)[0])
        pyramid = [disparity]
        steps = len(self.refinement)
        for i, refine in enumerate(self.refinement):
            scale = 1.0 / 2 ** (steps - i - 1)
            if scale == 1.0:
                left_i, right_i = left, right
            else:
                left_i = F.interpolate(left, scale_factor=scale, mode="bilinear", align_corners=False)
                right_i = F.interpolate(right, scale_factor=scale, mode="bilinear", align_corners=False)
            disparity = refine(disparity, left_i, right_i)
            pyramid.append(disparity)
        return pyramid
