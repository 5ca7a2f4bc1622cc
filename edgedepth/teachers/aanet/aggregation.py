"""AANet's cost aggregation: adaptive intra-scale aggregation (bottlenecks over the disparity channels, deformable
in the last stages) and adaptive cross-scale aggregation (every output scale sums all scales, resampled)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.teachers.aanet.deform import DeformConv2d


class SimpleBottleneck(nn.Module):
    """1×1 → 3×3 (plain, or AANet's deformable layer) → 1×1 with BN, residual, no channel expansion."""

    def __init__(self, channels: int, deformable: bool, deformable_groups: int = 2, dilation: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2: nn.Module
        if deformable:
            self.conv2 = DeformConv2d(channels, channels, dilation=dilation, deformable_groups=deformable_groups)
        else:
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual bottleneck."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + x)


def _fuse_layer(max_disp: int, source: int, target: int) -> nn.Module:
    """What brings scale `source`'s cost to scale `target`: identity, 1×1 conv + BN (from coarser; upsampled
    afterwards), or strided 3×3 convs (from finer, one per halving)."""
    source_channels, target_channels = max_disp // 2 ** source, max_disp // 2 ** target
    if source == target:
        return nn.Identity()
    if source > target:
        return nn.Sequential(nn.Conv2d(source_channels, target_channels, 1, bias=False),
                             nn.BatchNorm2d(target_channels))
    steps: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(source_channels, source_channels, 3, stride=2, padding=1, bias=False),
                      nn.BatchNorm2d(source_channels), nn.LeakyReLU(0.2, inplace=True))
        for _ in range(target - source - 1)]
    steps.append(nn.Sequential(nn.Conv2d(source_channels, target_channels, 3, stride=2, padding=1, bias=False),
                               nn.BatchNorm2d(target_channels)))
    return nn.Sequential(*steps)


class AdaptiveAggregationModule(nn.Module):
    """One AA module: intra-scale blocks per scale, then cross-scale fusion into `num_outputs` scales."""

    def __init__(self, num_scales: int, num_outputs: int, max_disp: int, deformable: bool,
                 deformable_groups: int = 2, dilation: int = 2) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(SimpleBottleneck(max_disp // 2 ** i, deformable, deformable_groups, dilation))
            for i in range(num_scales))
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_layer(max_disp, j, i) for j in range(num_scales)) for i in range(num_outputs))
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, costs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Costs finest first; returns the first `num_outputs` scales."""
        costs = [branch(cost) for branch, cost in zip(self.branches, costs, strict=True)]
        if len(costs) == 1:
            return costs
        fused = []
        for layers in self.fuse_layers:
            total = layers[0](costs[0])
            for layer, cost in zip(list(layers)[1:], costs[1:], strict=True):
                exchange = layer(cost)
                if exchange.shape[2:] != total.shape[2:]:
                    exchange = F.interpolate(exchange, size=total.shape[2:], mode="bilinear", align_corners=False)
                total = total + exchange
            fused.append(self.relu(total))
        return fused


class AdaptiveAggregation(nn.Module):
    """Stacked AA modules (the last `num_deform_blocks` deformable), then a 1×1 conv on the finest scale (and on
    the others too with intermediate supervision)."""

    def __init__(self, max_disp: int, num_scales: int = 3, num_fusions: int = 6, num_deform_blocks: int = 3,
                 intermediate_supervision: bool = False, deformable_groups: int = 2, dilation: int = 2) -> None:
        super().__init__()
        self.fusions = nn.Sequential(*(
            AdaptiveAggregationModule(
                num_scales,
                num_scales if intermediate_supervision or i < num_fusions - 1 else 1,
                max_disp,
                deformable=i >= num_fusions - num_deform_blocks,
                deformable_groups=deformable_groups,
                dilation=dilation)
            for i in range(num_fusions)))
        outputs = num_scales if intermediate_supervision else 1
        self.final_conv = nn.ModuleList(
            nn.Conv2d(max_disp // 2 ** i, max_disp // 2 ** i, 1) for i in range(outputs))

    def forward(self, costs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Aggregated costs, finest first."""
        costs = self.fusions(costs)
        return [conv(cost) for conv, cost in zip(self.final_conv, costs, strict=True)]
