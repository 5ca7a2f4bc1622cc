"""MiDaS v2.1 small (MidasNet_small): EfficientNet-Lite encoder, RefineNet-style decoder, inverse depth out.

`midas_small` is the official configuration (efficientnet_lite3, features 64, expand, non-negative output):
its state_dict matches `midas_v21_small_256.pt` key for key, and the forward pass is the official one with the
encoder's TF "SAME" padding made static. `midas_small_lite0` is a narrower student of the same structure.
"""

from __future__ import annotations

import torch
from torch import nn

from edgedepth.models.blocks import FeatureFusionBlock, Upsample2x
from edgedepth.models.efficientnet_lite import EfficientNetLite
from edgedepth.models.registry import register_model
from runtime.bundle import RELATIVE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv3x3(in_chs: int, out_chs: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, 3, padding=1, bias=bias)


class MidasSmallDecoder(nn.Module):
    """Project the four encoder maps to widths (f, 2f, 4f, 8f), fuse coarse to fine, predict one channel."""

    def __init__(self, in_channels: tuple[int, int, int, int], features: int) -> None:
        super().__init__()
        widths = (features, features * 2, features * 4, features * 8)
        self.layer1_rn = _conv3x3(in_channels[0], widths[0], bias=False)
        self.layer2_rn = _conv3x3(in_channels[1], widths[1], bias=False)
        self.layer3_rn = _conv3x3(in_channels[2], widths[2], bias=False)
        self.layer4_rn = _conv3x3(in_channels[3], widths[3], bias=False)
        self.refinenet4 = FeatureFusionBlock(widths[3], expand=True)  # its resConfUnit1 is never used
        self.refinenet3 = FeatureFusionBlock(widths[2], expand=True)
        self.refinenet2 = FeatureFusionBlock(widths[1], expand=True)
        self.refinenet1 = FeatureFusionBlock(widths[0], expand=False)
        # Indices 0, 2, 4 carry the weights, as in the official nn.Sequential; the head's own upsampling uses
        # align_corners=False (the fusion blocks use True).
        self.output_conv = nn.Sequential(
            _conv3x3(features, features // 2),
            Upsample2x(align_corners=False),
            _conv3x3(features // 2, 32),
            nn.ReLU(),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(),
        )

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """N x 1 x H x W output at input resolution from the [stride 4, 8, 16, 32] feature maps."""
        path = self.refinenet4(self.layer4_rn(feats[3]))
        path = self.refinenet3(path, self.layer3_rn(feats[2]))
        path = self.refinenet2(path, self.layer2_rn(feats[1]))
        path = self.refinenet1(path, self.layer1_rn(feats[0]))
        return self.output_conv(path)


class MidasSmall(nn.Module):
    """MidasNet_small: normalised RGB N x 3 x H x W (H, W multiples of 32) -> N x H x W inverse depth."""

    input_mean = IMAGENET_MEAN
    input_std = IMAGENET_STD
    output_kind = RELATIVE
    stride = 32

    def __init__(self, encoder: str = "efficientnet_lite3", features: int = 64) -> None:
        super().__init__()
        if features < 2 or features % 2:
            raise ValueError(f"features must be a positive even number, got {features}")
        self.pretrained = EfficientNetLite(encoder)
        self.scratch = MidasSmallDecoder(self.pretrained.feature_channels, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Depth map at input resolution; other sizes are refused (the static TF padding assumes them)."""
        h, w = x.shape[-2], x.shape[-1]
        # Plain ints when eager, traced or exported with static shapes; symbolic (and skipped) otherwise.
        if isinstance(h, int) and isinstance(w, int) and (h % self.stride or w % self.stride):
            name = type(self).__name__
            raise ValueError(f"{name} needs H and W to be multiples of {self.stride}, got {h}x{w}")
        out = self.scratch(self.pretrained(x))
        return torch.squeeze(out, dim=1)


@register_model
def midas_small(encoder: str = "efficientnet_lite3", features: int = 64) -> MidasSmall:
    """MiDaS v2.1 small as released (about 21.3M parameters); loads midas_v21_small_256.pt strictly."""
    return MidasSmall(encoder=encoder, features=features)


@register_model
def midas_small_lite0(encoder: str = "efficientnet_lite0", features: int = 32) -> MidasSmall:
    """The same network on EfficientNet-Lite0 with half the decoder width: a student that trains on a CPU."""
    return MidasSmall(encoder=encoder, features=features)
