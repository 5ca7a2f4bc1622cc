"""StereoSmall: a stereo student built for int8 edge runtimes, left/right RGB in, left-view disparity (pixels) out.

Pipeline, every stage plain 2D convolutions and elementwise ops with static shapes:
1. the EfficientNet-Lite trunk's strides 2-8 run on left and right as one batch of two; its stride-16 stages
   run on the left view only (context), and its stride-32 stages are dropped;
2. a two-level FPN (strides 8 → 4) gives `features`-channel matching features at stride 4 for both views;
3. a correlation volume at stride 4 with max_disparity / 4 bins (`cost_volume.CorrelationVolume`);
4. a 2D hourglass (stride 4 → 16 → 4) aggregates the volume with left context (stride-4 features, and the
   stride-16 trunk map at its bottom) into per-bin logits, added to the raw correlation;
5. soft-argmin gives sub-bin disparity in input pixels at stride 4;
6. bilinear 2× upsampling with a residual refinement guided by the left trunk's stride-2 features, then again
   to full resolution guided by the left image; a final ReLU keeps the disparity non-negative.

At 256×384 it costs about 1.1 GMAC (two thirds in the trunk) and has about 0.87M parameters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.models.cost_volume import CorrelationVolume, disparity_values, soft_argmin
from edgedepth.models.efficientnet_lite import EfficientNetLite, lite_stages
from edgedepth.models.midas_small import IMAGENET_MEAN, IMAGENET_STD
from edgedepth.models.registry import register_model
from runtime.bundle import DISPARITY

VOLUME_STRIDE = 4  # resolution of the cost volume relative to the input


def _conv_bn_relu(in_chs: int, out_chs: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Conv (no bias), BatchNorm, ReLU; 'same' padding for odd kernels."""
    padding = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(in_chs, out_chs, kernel, stride, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_chs),
        nn.ReLU(inplace=True),
    )


def _init_he(module: nn.Module) -> None:
    """He-normal conv weights (fan_out), zero biases: activations keep their scale through the ReLU stacks."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _up2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear 2× upsampling (half-pixel centres): one static Resize in every exported format."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class MatchingFeatures(nn.Module):
    """Stride-4 features for correlation from the trunk's stride 4 and 8 maps (a two-level FPN, both views)."""

    def __init__(self, in_channels: tuple[int, int], features: int) -> None:
        super().__init__()
        self.lateral4 = nn.Conv2d(in_channels[0], features, 1)
        self.lateral8 = nn.Conv2d(in_channels[1], features, 1)
        self.smooth8 = _conv_bn_relu(features, features)
        self.merge4 = nn.ReLU(inplace=True)
        # Depthwise 3×3 then pointwise, both linear: a little spatial context, and signed features to correlate.
        self.match = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1, groups=features, bias=False),
            nn.Conv2d(features, features, 1),
        )

    def forward(self, f4: torch.Tensor, f8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(matching features, the merged stride-4 map they come from)."""
        p4 = self.merge4(self.lateral4(f4) + _up2(self.smooth8(self.lateral8(f8))))
        return self.match(p4), p4


class Hourglass(nn.Module):
    """2D encoder-decoder over the stacked (cost volume, left context): stride 4 → 8 → 16 and back, skip sums.

    The left view's stride-16 trunk map joins at the bottom, where its large receptive field is cheapest.
    """

    def __init__(self, in_chs: int, width: int, bins: int, deep_chs: int) -> None:
        super().__init__()
        w1, w2 = width * 3 // 2, width * 2
        self.level0 = _conv_bn_relu(in_chs, width)
        self.level1 = nn.Sequential(_conv_bn_relu(width, w1, stride=2), _conv_bn_relu(w1, w1))
        self.down2 = _conv_bn_relu(w1, w2, stride=2)
        self.deep = nn.Conv2d(deep_chs, w2, 1)
        self.level2 = _conv_bn_relu(w2, w2, dilation=2)
        self.up1 = nn.Conv2d(w2, w1, 1)
        self.fuse1 = _conv_bn_relu(w1, w1)
        self.up0 = nn.Conv2d(w1, width, 1)
        self.fuse0 = _conv_bn_relu(width, width)
        self.head = nn.Conv2d(width, bins, 1)

    def forward(self, x: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
        """N×bins×h×w logits at the input's resolution; `deep` is at a quarter of it."""
        a0 = self.level0(x)
        a1 = self.level1(a0)
        a2 = self.level2(self.down2(a1) + self.deep(deep))
        u1 = self.fuse1(a1 + self.up1(_up2(a2)))
        u0 = self.fuse0(a0 + self.up0(_up2(u1)))
        return self.head(u0)


class DisparityRefine(nn.Module):
    """disparity + residual(convs over [disparity / max_disparity, guide]); the residual starts at zero."""

    def __init__(self, guide_chs: int, width: int, max_disparity: int) -> None:
        super().__init__()
        self.inv_range = 1.0 / float(max_disparity)
        self.body = nn.Sequential(_conv_bn_relu(1 + guide_chs, width), nn.Conv2d(width, 1, 3, padding=1))
        _init_he(self.body)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, disparity: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        """Refined N×1×h×w disparity (pixels) at the guide's resolution."""
        return disparity + self.body(torch.cat([disparity * self.inv_range, guide], dim=1))


class StereoSmall(nn.Module):
    """Normalised left and right RGB, N×3×H×W each (H, W multiples of 32) -> N×H×W left disparity in pixels."""

    input_mean = IMAGENET_MEAN
    input_std = IMAGENET_STD
    output_kind = DISPARITY
    stride = 32  # H and W must be multiples of this (the trunk's static TF padding)
    volume_stride = VOLUME_STRIDE

    def __init__(
        self,
        encoder: str = "efficientnet_lite0",
        max_disparity: int = 64,
        features: int = 32,
        context: int = 16,
        aggregation: int = 32,
        refine: int = 16,
    ) -> None:
        super().__init__()
        if max_disparity < 2 * VOLUME_STRIDE or max_disparity % VOLUME_STRIDE:
            raise ValueError(f"max_disparity must be a multiple of {VOLUME_STRIDE} and at least "
                             f"{2 * VOLUME_STRIDE}, got {max_disparity}")
        for name, value in (("features", features), ("context", context), ("aggregation", aggregation),
                            ("refine", refine)):
            if value < 4 or value % 4:
                raise ValueError(f"{name} must be a positive multiple of 4, got {value}")
        self.max_disparity = max_disparity
        self.bins = max_disparity // VOLUME_STRIDE
        self.encoder = EfficientNetLite(encoder)
        # Matching uses strides 4 and 8 of both views; the stride-16 stages run on the left view only, as context.
        # The stride-32 stages (about 2.3M parameters for Lite0) would serve nothing here: they are removed.
        del self.encoder.layer4
        chs = self.encoder.feature_channels
        stem_chs = lite_stages(encoder)[0].channels
        self.features = MatchingFeatures((chs[0], chs[1]), features)
        self.context = _conv_bn_relu(features, context, kernel=1)
        self.correlation = CorrelationVolume(features, self.bins)
        self.aggregate = Hourglass(self.bins + context, aggregation, self.bins, chs[2])
        self.refine_half = DisparityRefine(stem_chs, refine, max_disparity)
        self.refine_full = DisparityRefine(3, refine // 2, max_disparity)
        self.register_buffer("disparities", disparity_values(self.bins, VOLUME_STRIDE), persistent=False)
        for module in (self.features, self.context, self.aggregate):
            _init_he(module)
        # Logits start as the raw correlation plus a little noise: early training refines a working matcher.
        with torch.no_grad():
            self.aggregate.head.weight.mul_(0.1)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trunk maps at strides 2 and 4 (the stem and first stage give stride 2)."""
        if self.encoder.stem_pad is not None:
            x = F.pad(x, self.encoder.stem_pad)
        for i, module in enumerate(self.encoder.layer1):
            x = module(x)
            if i == 3:  # conv_stem, bn1, act1, stage 0: the last stride-2 map
                s2 = x
        return s2, x

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Left-view disparity (pixels, ≥ 0) at input resolution; sizes other than multiples of 32 are refused."""
        h, w = left.shape[-2], left.shape[-1]
        # Plain ints when eager, traced or exported with static shapes; symbolic (and skipped) otherwise.
        if isinstance(h, int) and isinstance(w, int) and (h % self.stride or w % self.stride):
            name = type(self).__name__
            raise ValueError(f"{name} needs H and W to be multiples of {self.stride}, got {h}x{w}")
        if left.shape != right.shape:
            raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} differ in shape")
        s2, s4 = self._stem(torch.cat([left, right], dim=0))  # both views as one batch
        s8 = self.encoder.layer2(s4)
        match, p4 = self.features(s4, s8)
        match_left, match_right = torch.chunk(match, 2, dim=0)
        s16_left = self.encoder.layer3(torch.chunk(s8, 2, dim=0)[0])
        context = self.context(torch.chunk(p4, 2, dim=0)[0])
        volume = self.correlation(match_left, match_right)
        logits = self.aggregate(torch.cat([volume, context], dim=1), s16_left) + volume
        disparity = soft_argmin(logits, self.disparities)
        disparity = self.refine_half(_up2(disparity), torch.chunk(s2, 2, dim=0)[0])
        disparity = self.refine_full(_up2(disparity), left)
        return torch.squeeze(F.relu(disparity), dim=1)


@register_model
def stereo_small(
    encoder: str = "efficientnet_lite0",
    max_disparity: int = 64,
    features: int = 32,
    context: int = 16,
    aggregation: int = 32,
    refine: int = 16,
) -> StereoSmall:
    """Stereo student: EfficientNet-Lite trunk, stride-4 correlation volume, 2D hourglass, soft-argmin, refinement."""
    return StereoSmall(encoder=encoder, max_disparity=max_disparity, features=features, context=context,
                       aggregation=aggregation, refine=refine)
