"""Random framing for a one-image student: a window of each sample (smaller by up to `zoom`, its aspect jittered
by up to `aspect`, anywhere in the image) resampled to the input size, with its targets and masks. A photo is
framed, zoomed and squeezed into the input in ways a procedural scene rendered at the input's aspect never is;
without this the student can learn where in the frame things usually are instead of what they look like.

Relative (scale-and-shift-invariant) targets stay exact under a crop; a pair student's disparity would not (a
horizontal rescale changes it), so only one-image tasks use this."""

from __future__ import annotations

import numpy as np


def framing_draws(rng: np.random.Generator, n: int, zoom: float, aspect: float) -> np.ndarray | None:
    """Per-sample windows as N×4 fractions of the image (top, left, height, width), drawn in that order of
    scale, aspect and position; None when `zoom` is zero (no draws)."""
    if not zoom:
        return None
    scale = 1 / rng.uniform(1.0, 1.0 + zoom, n)
    stretch = np.exp(rng.uniform(-aspect, aspect, n)) if aspect else np.ones(n)
    height = np.minimum(scale * np.sqrt(stretch), 1.0)
    width = np.minimum(scale / np.sqrt(stretch), 1.0)
    top = rng.uniform(0.0, 1.0, n) * (1 - height)
    left = rng.uniform(0.0, 1.0, n) * (1 - width)
    return np.stack([top, left, height, width], 1)


def _axis(start: np.ndarray, extent: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each sample: the two source indices (N×size) and the weight of the second, for output pixel centres
    spread over [start, start + extent] of an axis of `size` pixels (bilinear, edge-clamped)."""
    centres = (start[:, None] + (np.arange(size) + 0.5)[None, :] / size * extent[:, None]) * size - 0.5
    centres = np.clip(centres, 0.0, size - 1.0)
    low = np.floor(centres).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    return low, high, (centres - low).astype(np.float32)


def _gather(batch: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """`batch` (N×…×H×W) indexed per sample along `axis` (-2 or -1) by N×k indices."""
    shape = [index.shape[0]] + [1] * (batch.ndim - 1)
    shape[axis] = index.shape[1]
    return np.take_along_axis(batch, index.reshape(shape), axis=axis)


def _weights(weight: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    shape = [weight.shape[0]] + [1] * (ndim - 1)
    shape[axis] = weight.shape[1]
    return weight.reshape(shape)


def reframed(batch: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Each sample's window of an N×…×H×W float batch, bilinearly resampled to H×W (a new float32 array)."""
    height, width = batch.shape[-2:]
    top, bottom, wy = _axis(windows[:, 0], windows[:, 2], height)
    left, right, wx = _axis(windows[:, 1], windows[:, 3], width)
    batch = batch.astype(np.float32, copy=False)
    if not np.isfinite(batch).all():  # undefined targets (masked out) must not leak into their neighbours
        batch = np.where(np.isfinite(batch), batch, np.float32(0))
    wy, wx = _weights(wy, batch.ndim, -2), _weights(wx, batch.ndim, -1)
    rows = _gather(batch, top, -2) * (1 - wy) + _gather(batch, bottom, -2) * wy
    return _gather(rows, left, -1) * (1 - wx) + _gather(rows, right, -1) * wx


def reframed_mask(masks: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Masks through the same windows: a pixel stays valid only where every source pixel it blends is valid."""
    return (reframed(masks.astype(np.float32), windows) >= 1 - 1e-6).astype(masks.dtype)
