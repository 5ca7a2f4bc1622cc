"""Correlation cost volume and soft-argmin from exporter-friendly ops only: pad, static slices, multiply, channel
mean, concat, softmax, sum.

No grid_sample, gather, unfold or 3D convolution: every op here lowers to plain ONNX (Pad, Slice, Mul, Conv or
ReduceMean, Concat, Softmax, ReduceSum), to TFLite builtins and to standard CoreML MIL ops, and quantizes to
int8 like any elementwise op. All slice bounds are Python ints fixed at trace time, so shapes stay static.
`CorrelationVolume` (the module the model uses) takes the channel mean as a fixed 1×1 convolution with weights
1/C: the same numbers as `correlation_volume`, but runtimes have fast kernels for it (onnxruntime's ReduceMean
over channels took about 4× as long on a 2-core CPU), and 1/C is exact in int8 per-channel weights.

Convention (the toolkit's, Middlebury's): left(y, x) ≈ right(y, x − d), disparity d ≥ 0 in the left view.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def correlation_volume(left: torch.Tensor, right: torch.Tensor, bins: int) -> torch.Tensor:
    """N×bins×H×W volume: channel d is mean_c left(y, x)·right(y, x − d), and 0 where x − d < 0.

    The right map is zero-padded on the left once by bins − 1 columns, so each shift is one static slice;
    the band x < d has no match in the right view and reads the padding, i.e. correlation exactly 0.
    """
    if left.shape != right.shape or left.dim() != 4:
        raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} must be the same N×C×H×W")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    width = left.shape[-1]
    padded = F.pad(right, (bins - 1, 0, 0, 0)) if bins > 1 else right
    planes = []
    for d in range(bins):
        start = bins - 1 - d  # padded[..., start + x] == right[..., x − d]
        shifted = padded[..., start:start + width]
        planes.append(torch.mean(left * shifted, dim=1, keepdim=True))
    return torch.cat(planes, dim=1)


class CorrelationVolume(nn.Module):
    """`correlation_volume` for `channels`-channel features, the channel mean computed as a 1×1 convolution."""

    def __init__(self, channels: int, bins: int) -> None:
        super().__init__()
        if bins < 1:
            raise ValueError(f"bins must be at least 1, got {bins}")
        self.channels = channels
        self.bins = bins
        self.register_buffer("mean_weight", torch.full((1, channels, 1, 1), 1.0 / channels), persistent=False)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """N×bins×H×W: channel d is mean_c left(y, x)·right(y, x − d), 0 where x − d < 0."""
        if left.shape != right.shape or left.dim() != 4 or left.shape[1] != self.channels:
            raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} must be the same "
                             f"N×{self.channels}×H×W")
        width = left.shape[-1]
        bins = self.bins
        padded = F.pad(right, (bins - 1, 0, 0, 0)) if bins > 1 else right
        planes = []
        for d in range(bins):
            start = bins - 1 - d
            planes.append(F.conv2d(left * padded[..., start:start + width], self.mean_weight))
        return torch.cat(planes, dim=1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, bins={self.bins}"


def disparity_values(bins: int, step: float) -> torch.Tensor:
    """1×bins×1×1 float32 disparity of each bin in output pixels (0, step, 2·step, …): soft-argmin's weights."""
    return (torch.arange(bins, dtype=torch.float32) * float(step)).view(1, bins, 1, 1)


def soft_argmin(logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """N×1×H×W expected disparity Σ_d softmax(logits)_d · values_d: sub-bin accurate and differentiable.

    `logits` is N×D×H×W with higher meaning more likely (a matching score, not a cost); `values` is the
    1×D×1×1 disparity of each bin (`disparity_values`), a constant so the exported graph holds no range op.
    """
    if logits.shape[1] != values.shape[1]:
        raise ValueError(f"{logits.shape[1]} logit channels but {values.shape[1]} disparity values")
    probability = torch.softmax(logits, dim=1)
    return torch.sum(probability * values, dim=1, keepdim=True)
