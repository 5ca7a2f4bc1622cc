"""Training a non-negative head without killing it (relative students), and starting it at the targets' scale
(metric students).

MiDaS students end in ReLU (relative inverse depth is non-negative). Trained from scratch under a
shift-invariant loss, that ReLU can switch off on every pixel after one large step and never recover (no
gradient flows through a dead ReLU). So the head is trained linear, and afterwards its output bias is raised
until the ReLU is inactive on all training images: the loss is shift-invariant, so this changes nothing it
measured, and the exported network keeps the official structure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


def _head(model: nn.Module) -> nn.Sequential | None:
    """The output Sequential ending in (Conv2d, ReLU), or None for models without one."""
    head = getattr(getattr(model, "scratch", None), "output_conv", None)
    if isinstance(head, nn.Sequential) and isinstance(head[-1], nn.ReLU) and isinstance(head[-2], nn.Conv2d):
        return head
    return None


@contextmanager
def linear_head(model: nn.Module) -> Iterator[None]:
    """Replace the final ReLU by identity for the duration of the block."""
    head = _head(model)
    if head is None:
        yield
        return
    relu = head[-1]
    head[-1] = nn.Identity()
    try:
        yield
    finally:
        head[-1] = relu


@torch.no_grad()
def lift_output_bias(model: nn.Module, images: np.ndarray, margin: float = 0.05, batch: int = 16) -> float:
    """Raise the last conv's bias so the pre-ReLU output is ≥ margin·range on `images`; returns the shift."""
    head = _head(model)
    if head is None:
        return 0.0
    model.eval()
    with linear_head(model):
        outputs = [model(torch.from_numpy(images[i : i + batch])) for i in range(0, len(images), batch)]
    values = torch.cat([o.reshape(-1) for o in outputs])
    low, high = float(values.min()), float(values.max())
    shift = max(0.0, margin * (high - low) - low)
    head[-2].bias += shift
    return shift


@torch.no_grad()
def level_output_bias(model: nn.Module, images: np.ndarray, target_median: float, batch: int = 16) -> float:
    """Shift the last conv's bias so the median linear output on `images` equals `target_median`: a metric
    student then starts at the targets' scale, with positive outputs the log loss can train."""
    head = _head(model)
    if head is None:
        return 0.0
    was_training = model.training
    model.eval()
    with linear_head(model):
        outputs = [model(torch.from_numpy(images[i : i + batch])) for i in range(0, len(images), batch)]
    model.train(was_training)
    shift = float(target_median - torch.cat([o.reshape(-1) for o in outputs]).median())
    head[-2].bias += shift
    return shift
