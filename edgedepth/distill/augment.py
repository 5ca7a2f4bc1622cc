"""Training-time augmentation on normalised student inputs: mirror, exposure and sensor noise.

Sensor noise matters beyond accuracy: a student that reacts to one grey level of noise also reacts to the
rounding of int8 activations, so noise-robust training is what lets the int8 artifact track the fp32 one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Augment:
    """Ranges of the random transforms; each sample draws its own values."""

    flip: float = 0.5  # probability of a left-right mirror
    gain: float = 0.15  # exposure gain drawn from 1 ± gain
    bias: float = 0.05  # brightness offset drawn from ± bias (image range 0..1)
    noise: float = 3.0  # Gaussian noise σ drawn from [0, noise] grey levels (of 255)


def augment_batch(
    images: np.ndarray,
    targets: np.ndarray,
    masks: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    rng: np.random.Generator,
    config: Augment = Augment(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment copies of an N×3×H×W normalised batch and its N×H×W targets/masks (geometry applied to all)."""
    images, targets, masks = images.copy(), targets.copy(), masks.copy()
    n = images.shape[0]
    flip = rng.random(n) < config.flip
    images[flip] = images[flip][..., ::-1]
    targets[flip] = targets[flip][..., ::-1]
    masks[flip] = masks[flip][..., ::-1]
    mean = mean.reshape(1, 3, 1, 1).astype(np.float32)
    std = std.reshape(1, 3, 1, 1).astype(np.float32)
    raw = images * std + mean  # back to 0..1
    gain = rng.uniform(1 - config.gain, 1 + config.gain, size=(n, 1, 1, 1)).astype(np.float32)
    bias = rng.uniform(-config.bias, config.bias, size=(n, 1, 1, 1)).astype(np.float32)
    sigma = rng.uniform(0.0, config.noise / 255.0, size=(n, 1, 1, 1)).astype(np.float32)
    raw = raw * gain + bias + sigma * rng.standard_normal(raw.shape, dtype=np.float32)
    images = (np.clip(raw, 0.0, 1.0) - mean) / std
    return np.ascontiguousarray(images, dtype=np.float32), np.ascontiguousarray(targets), np.ascontiguousarray(masks)
