"""The learning-rate schedule every distillation uses: linear warm-up, then cosine decay to 5 % of the peak."""

from __future__ import annotations

import math
from typing import Protocol


class ScheduledConfig(Protocol):
    """What the schedule reads from a distillation config."""

    lr: float
    warmup_steps: int
    steps: int


def lr_at(step: int, config: ScheduledConfig) -> float:
    """Learning rate at `step` (0-based): linear warm-up over `warmup_steps`, then cosine decay to 5 % of `lr`."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))
