"""The pose network of the video objective (Monodepth2's separate pose encoder and decoder, on an
EfficientNet-Lite encoder): two frames stacked as six channels in, one relative camera motion out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.models.efficientnet_lite import EfficientNetLite

POSE_SCALE = 0.01  # Monodepth2 scales the decoder's output so the first motions are small
# Frames are halved before the encoder where the halves stay multiples of its stride: a global motion needs no
# fine detail, and this pose network then costs a quarter (the student's input, 128×192, qualifies).
HALVE_FROM = 64


class PoseNet(nn.Module):
    """(N×6×H×W: earlier frame then later frame, each normalised) → (axis-angle N×3, translation N×3) of the
    motion from the first frame's camera to the second's."""

    def __init__(self, encoder: str = "efficientnet_lite0", width: int = 256) -> None:
        super().__init__()
        self.encoder = EfficientNetLite(encoder, in_chans=6)
        self.decoder = nn.Sequential(
            nn.Conv2d(self.encoder.feature_channels[-1], width, 1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 6, 1),
        )

    def forward(self, pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Axis-angle and translation of the stacked pair's relative motion."""
        if pair.shape[-2] % HALVE_FROM == 0 and pair.shape[-1] % HALVE_FROM == 0:
            pair = F.avg_pool2d(pair, 2)
        out = self.decoder(self.encoder(pair)[-1]).mean((2, 3)) * POSE_SCALE
        return out[:, :3], out[:, 3:]
