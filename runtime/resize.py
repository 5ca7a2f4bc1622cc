"""The resize filters an original model's reference pipeline uses, in numpy, so a bundle reproduces it on a device.

A bundle's manifest names the filter its input was resized with and the one its output is brought back with
("resize": {"filter": NAME}); without one, the default is runtime.preprocess's bilinear (area when shrinking by
more than 2×), what students are trained with. Each filter is a separable weight matrix per axis:

- bicubic: torch `interpolate(mode="bicubic", align_corners=False)` and cv2.INTER_CUBIC (Keys a = −0.75,
  half-pixel centres, edges replicated, no antialiasing).
- bicubic-antialias: torch `interpolate(mode="bicubic", antialias=True)` and Pillow's BICUBIC (a = −0.5, the
  kernel widened by the shrink factor, weights renormalised at the borders).
- bilinear-align-corners: torch `interpolate(mode="bilinear", align_corners=True)`.
- lanczos-pil: Pillow's LANCZOS on 8-bit images (a = 3, antialiased, width first, each pass rounded to 0..255).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from runtime.preprocess import resize_bilinear

DEFAULT_FILTER = "bilinear"


def _keys(x: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter `a`."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _lanczos(x: np.ndarray) -> np.ndarray:
    """Lanczos-3 window."""
    x = np.asarray(x, np.float64)
    return np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)


def _cubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """torch / cv2 bicubic (a = −0.75), half-pixel centres, indices clamped at the edges."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    first = np.floor(src)
    frac = src - first
    matrix = np.zeros((n_out, n_in))
    for tap in range(-1, 3):
        index = np.clip(first + tap, 0, n_in - 1).astype(np.intp)
        np.add.at(matrix, (np.arange(n_out), index), _keys(frac - tap, -0.75))
    return matrix


def _antialiased_matrix(n_in: int, n_out: int, kernel: Callable[[np.ndarray], np.ndarray],
                        support: float) -> np.ndarray:
    """Pillow's (and torch's antialias=True) separable resampling: kernel stretched by the shrink factor."""
    scale = n_in / n_out
    stretch = max(scale, 1.0)
    reach = support * stretch
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = scale * (i + 0.5)
        lo, hi = max(int(centre - reach + 0.5), 0), min(int(centre + reach + 0.5), n_in)
        taps = np.arange(lo, hi)
        weights = kernel((taps - centre + 0.5) / stretch)
        total = weights.sum()
        matrix[i, lo:hi] = weights / total if total != 0 else weights
    return matrix


def _align_corners_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Bilinear with the corner pixels' centres aligned (torch align_corners=True)."""
    src = np.arange(n_out) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    lo = np.clip(np.floor(src), 0, n_in - 1).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), hi), frac)
    return matrix


_MATRICES: dict[str, Callable[[int, int], np.ndarray]] = {
    "bicubic": _cubic_matrix,
    "bicubic-antialias": lambda n_in, n_out: _antialiased_matrix(n_in, n_out, lambda x: _keys(x, -0.5), 2.0),
    "bilinear-align-corners": _align_corners_matrix,
    "lanczos-pil": lambda n_in, n_out: _antialiased_matrix(n_in, n_out, _lanczos, 3.0),
}
ROUNDED = ("lanczos-pil",)  # Pillow resizes 8-bit images: each pass is rounded and clipped to 0..255
FILTERS = (DEFAULT_FILTER, *_MATRICES)  # as runtime.bundle.RESIZE_FILTERS lists them for the manifest check


def _resample(arr: np.ndarray, n_out: int, axis: int, name: str) -> np.ndarray:
    """One axis of `arr` (float64 work, float32 out) resampled to n_out by the filter's matrix."""
    if arr.shape[axis] == n_out and name not in ROUNDED:
        return arr.astype(np.float32, copy=False)
    matrix = _MATRICES[name](arr.shape[axis], n_out)
    out = np.moveaxis(np.tensordot(matrix, np.moveaxis(arr.astype(np.float64), axis, 0), axes=1), 0, axis)
    if name in ROUNDED:
        out = np.clip(np.floor(out + 0.5), 0, 255)
    return out.astype(np.float32)


def resize(arr: np.ndarray, height: int, width: int, name: str = DEFAULT_FILTER) -> np.ndarray:
    """An H×W or H×W×C array at height × width through the named filter (float32 out)."""
    if name == DEFAULT_FILTER:
        return resize_bilinear(arr, height, width)
    if name not in _MATRICES:
        raise ValueError(f"unknown resize filter '{name}' (known: {', '.join(FILTERS)})")
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3) or min(height, width, *arr.shape[:2]) < 1:
        raise ValueError(f"cannot resize shape {list(arr.shape)} to {height}×{width}")
    out = _resample(arr, int(width), 1, name)  # width first, as Pillow does
    return np.ascontiguousarray(_resample(out, int(height), 0, name))


def filter_of(entry: dict) -> str:
    """The resize filter a manifest input or output entry names (the default when it names none)."""
    resize_entry = entry.get("resize")
    name = resize_entry.get("filter", DEFAULT_FILTER) if isinstance(resize_entry, dict) else DEFAULT_FILTER
    if name not in FILTERS:
        raise ValueError(f"'{entry.get('name')}' names an unknown resize filter '{name}' (known: {', '.join(FILTERS)})")
    return name

