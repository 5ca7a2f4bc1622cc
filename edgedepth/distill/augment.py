"""Training-time augmentation on normalised student inputs: mirror, exposure and sensor noise, and where a run asks
for them a camera's effects (`camera`) and random framing (`framing`); a task names how its views are augmented
(one image: mirrored and framed with its targets; a stereo pair: photometric only).

Sensor noise matters beyond accuracy: a student that reacts to one grey level of noise also reacts to the
rounding of int8 activations, so noise-robust training is what lets the int8 artifact track the fp32 one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgedepth.distill.camera import CameraDraws, after_sensor, camera_draws, through_lens
from edgedepth.distill.framing import framing_draws, reframed, reframed_mask


@dataclass(frozen=True)
class Augment:
    """Ranges of the random transforms; each sample draws its own values."""

    flip: float = 0.5  # probability of a left-right mirror
    gain: float = 0.15  # exposure gain drawn from 1 ± gain
    bias: float = 0.05  # brightness offset drawn from ± bias (image range 0..1)
    noise: float = 3.0  # Gaussian noise σ drawn from [0, noise] grey levels (of 255)
    # A camera's effects (edgedepth.distill.camera), each off at 0: vignetting strength up to `vignette`, a
    # Gaussian blur with probability `blur`, white-balance gains 1 ± `color` per channel, gamma exp(± `gamma`),
    # JPEG compression with probability `jpeg`.
    vignette: float = 0.0
    blur: float = 0.0
    color: float = 0.0
    gamma: float = 0.0
    jpeg: float = 0.0
    # Random framing of one-image samples (edgedepth.distill.framing): windows up to 1 + `zoom` times smaller,
    # their aspect jittered by exp(± `aspect`); off at zoom 0.
    zoom: float = 0.0
    aspect: float = 0.0

    def __post_init__(self) -> None:
        for name in ("flip", "blur", "jpeg"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augmentation {name} is a probability, between 0 and 1, not {getattr(self, name)}")
        for name in ("gain", "color", "vignette"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"augmentation {name} must be in [0, 1), not {getattr(self, name)}")
        for name in ("bias", "noise", "gamma", "zoom", "aspect"):
            if getattr(self, name) < 0:
                raise ValueError(f"augmentation {name} must not be negative, not {getattr(self, name)}")

    def camera(self, rng: np.random.Generator, n: int) -> CameraDraws | None:
        """The camera effects of `n` samples (None, drawing nothing, when all are off)."""
        return camera_draws(rng, n, self.vignette, self.blur, self.color, self.gamma, self.jpeg)


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
    expression, so the same numbers), and the rng draws come in a fixed order: flips, framing windows, gains,
    offsets, noise σ, camera effects, then the noise itself (framing and camera only where the config has them).
    """
    n = images.shape[0]
    flip = rng.random(n) < config.flip
    targets, masks = _mirrored(targets, flip), _mirrored(masks, flip)
    images = _mirrored(images, flip, copy=False)
    windows = framing_draws(rng, n, config.zoom, config.aspect)
    if windows is not None:
        images, targets, masks = reframed(images, windows), reframed(targets, windows), reframed_mask(masks, windows)
    mean = mean.reshape(1, 3, 1, 1).astype(np.float32)
    std = std.reshape(1, 3, 1, 1).astype(np.float32)
    gain, bias, sigma = exposure_draws(rng, n, config)
    camera = config.camera(rng, n)
    return exposed(images, mean, std, gain, bias, sigma, rng, camera), targets, masks


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
    if config.zoom:
        raise ValueError("stereo augmentation takes no framing (zoom): rescaling a pair changes its disparity")
    mean = mean.reshape(1, 3, 1, 1).astype(np.float32)
    std = std.reshape(1, 3, 1, 1).astype(np.float32)
    gain, bias, sigma = exposure_draws(rng, lefts.shape[0], config)  # one exposure per pair, noise per view
    camera = config.camera(rng, lefts.shape[0])  # one camera per pair
    out = [exposed(view, mean, std, gain, bias, sigma, rng, camera) for view in (lefts, rights)]
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
            sigma: np.ndarray, rng: np.random.Generator, camera: CameraDraws | None = None) -> np.ndarray:
    """A new array: normalised N×3×H×W `images` back in 0..1, through the lens (`camera`: vignetting, blur), times
    gain, plus offset and fresh Gaussian noise of σ (drawn from `rng`), clipped to 0..1, after the sensor
    (`camera`: white balance, gamma, JPEG) and normalised again; in place on one working array."""
    raw = np.multiply(images, std, dtype=np.float32)
    raw += mean
    if camera is not None:
        through_lens(raw, camera)
    raw *= gain
    raw += bias
    noise = rng.standard_normal(raw.shape, dtype=np.float32)
    noise *= sigma
    raw += noise
    np.clip(raw, 0.0, 1.0, out=raw)
    if camera is not None:
        after_sensor(raw, camera)
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
