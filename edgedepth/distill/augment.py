"""Training-time augmentation on normalised student inputs: mirror, exposure and sensor noise; a task names how its
views are augmented (one image: mirrored with its targets; a stereo pair: photometric only).

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
    """Augment copies of an N×3×H×W normalised batch and its N×…×H×W targets/masks (geometry applied to all).

    The arithmetic runs in place on one working array (the same operations in the same order as the plain
    expression, so the same numbers), and the rng draws come in a fixed order: flips, gains, offsets, noise σ,
    then the noise itself.
    """
    n = images.shape[0]
    flip = rng.random(n) < config.flip
    targets, masks = _mirrored(targets, flip), _mirrored(masks, flip)
    mean = mean.reshape(1, 3, 1, 1).astype(np.float32)
    std = std.reshape(1, 3, 1, 1).astype(np.float32)
    gain, bias, sigma = exposure_draws(rng, n, config)
    return exposed(_mirrored(images, flip, copy=False), mean, std, gain, bias, sigma, rng), targets, masks


def augment_pair(
    lefts: np.ndarray,
    rights: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    rng: np.random.Generator,
    config: Augment,
) -> tuple[np.ndarray, np.ndarray]:
    """Photometric augmentation of normalised N×3×H×W pairs: one exposure gain and offset per pair (both views),
    independent sensor noise per view; geometry is left alone so the disparity targets stay exact."""
    if config.flip:
        raise ValueError("stereo augmentation takes no flip: mirroring a pair swaps the views and needs the "
                         "right view's disparity; use Augment(flip=0.0)")
    mean = mean.reshape(1, 3, 1, 1).astype(np.float32)
    std = std.reshape(1, 3, 1, 1).astype(np.float32)
    gain, bias, sigma = exposure_draws(rng, lefts.shape[0], config)  # one exposure per pair, noise per view
    out = [exposed(view, mean, std, gain, bias, sigma, rng) for view in (lefts, rights)]
    return out[0], out[1]


Views = list[np.ndarray]


def augment_single_view(views: Views, targets: np.ndarray, masks: np.ndarray, mean: np.ndarray, std: np.ndarray,
                        rng: np.random.Generator, config: Augment) -> tuple[Views, np.ndarray, np.ndarray]:
    """A one-image student's batch: `augment_batch` on its image, the targets mirrored with it."""
    images, targets, masks = augment_batch(views[0], targets, masks, mean, std, rng, config)
    return [images], targets, masks


def augment_pair_views(views: Views, targets: np.ndarray, masks: np.ndarray, mean: np.ndarray, std: np.ndarray,
                       rng: np.random.Generator, config: Augment) -> tuple[Views, np.ndarray, np.ndarray]:
    """A pair student's batch: `augment_pair` on its two views, the targets as they are."""
    lefts, rights = augment_pair(views[0], views[1], mean, std, rng, config)
    return [lefts, rights], targets, masks


def exposure_draws(rng: np.random.Generator, n: int, config: Augment) -> tuple[np.ndarray, ...]:
    """Per sample (N×1×1×1 float32): exposure gain, brightness offset and noise σ, drawn in that order."""
    gain = rng.uniform(1 - config.gain, 1 + config.gain, size=(n, 1, 1, 1)).astype(np.float32)
    bias = rng.uniform(-config.bias, config.bias, size=(n, 1, 1, 1)).astype(np.float32)
    sigma = rng.uniform(0.0, config.noise / 255.0, size=(n, 1, 1, 1)).astype(np.float32)
    return gain, bias, sigma


def exposed(images: np.ndarray, mean: np.ndarray, std: np.ndarray, gain: np.ndarray, bias: np.ndarray,
            sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A new array: normalised N×3×H×W `images` back in 0..1, times gain, plus offset and fresh Gaussian noise of
    σ (drawn from `rng`), clipped to 0..1 and normalised again; in place on one working array."""
    raw = np.multiply(images, std, dtype=np.float32)
    raw += mean
    raw *= gain
    raw += bias
    noise = rng.standard_normal(raw.shape, dtype=np.float32)
    noise *= sigma
    raw += noise
    np.clip(raw, 0.0, 1.0, out=raw)
    raw -= mean
    raw /= std
    return raw


def _mirrored(batch: np.ndarray, flip: np.ndarray, copy: bool = True) -> np.ndarray:
    """A C-contiguous copy of `batch` with the samples where `flip` holds mirrored left-right (without `copy`,
    `batch` itself when nothing is mirrored and it is already contiguous)."""
    if not flip.any():
        return np.array(batch, order="C", copy=copy or None)
    out = np.array(batch, order="C", copy=True)
    out[flip] = batch[flip][..., ::-1]
    return out
