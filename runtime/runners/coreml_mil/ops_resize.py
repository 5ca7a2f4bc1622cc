"""MIL resampling of the last two axes, with the sampling grids the MIL specification documents:
upsample_bilinear (align_corners, half_pixel_centers), resize_bilinear (its five sampling modes) and the nearest
neighbour ops. The grid is computed per axis; bilinear weights and sums are float32."""

from __future__ import annotations

import math

import numpy as np

from runtime.runners.coreml_mil.kernels import OpCall, kernel


def bilinear_grid(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """Source coordinates (float64) of the `n_out` output samples over an input axis of `n_in`, clamped to
    [0, n_in − 1]. Modes: ALIGN_CORNERS / STRICT_ALIGN_CORNERS (i·(n_in−1)/(n_out−1)), UNALIGN_CORNERS (half-pixel
    centres: (i+½)·n_in/n_out − ½), DEFAULT (i·n_in/n_out, the asymmetric grid), OFFSET_CORNERS."""
    i = np.arange(n_out, dtype=np.float64)
    if mode in ("ALIGN_CORNERS", "STRICT_ALIGN_CORNERS"):
        if n_out == 1:
            grid = np.full(1, (n_in - 1) / 2 if mode == "ALIGN_CORNERS" else 0.0)
        else:
            grid = i * (n_in - 1) / (n_out - 1)
    elif mode == "UNALIGN_CORNERS":
        grid = (i + 0.5) * n_in / n_out - 0.5
    elif mode == "DEFAULT":
        grid = i * n_in / n_out
    elif mode == "OFFSET_CORNERS":
        delta = max(1, n_in - 1) / n_out
        grid = 0.5 * delta + i * delta
    else:
        raise ValueError(f"unknown sampling mode {mode}")
    return np.clip(grid, 0, n_in - 1)


def _interpolate(x: np.ndarray, grid: np.ndarray, axis: int) -> np.ndarray:
    low = np.floor(grid).astype(np.int64)
    high = np.minimum(low + 1, x.shape[axis] - 1)
    frac = (grid - low).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    return np.take(x, low, axis=axis) * (1 - frac) + np.take(x, high, axis=axis) * frac


def bilinear(x: np.ndarray, out_h: int, out_w: int, mode: str) -> np.ndarray:
    """Separable bilinear resampling of the last two axes of float32 `x` with the grid of `mode`."""
    rows = _interpolate(x, bilinear_grid(x.shape[-2], out_h, mode), x.ndim - 2)
    return _interpolate(rows, bilinear_grid(x.shape[-1], out_w, mode), x.ndim - 1)


def _scaled(call: OpCall, x: np.ndarray) -> tuple[int, int]:
    """Output size floor(H·scale_h) × floor(W·scale_w)."""
    return (math.floor(x.shape[-2] * call.float("scale_factor_height", 1.0) + 1e-6),
            math.floor(x.shape[-1] * call.float("scale_factor_width", 1.0) + 1e-6))


@kernel("upsample_bilinear")
def upsample_bilinear(call: OpCall) -> np.ndarray:
    """align_corners (default True): corners on corners; otherwise half-pixel centres unless half_pixel_centers
    (iOS 16+, default ¬align_corners) is False, which gives the asymmetric grid i·n_in/n_out."""
    x = call.x()
    align = call.bool("align_corners", True)
    half_pixel = call.bool("half_pixel_centers", not align)
    if align and half_pixel:
        raise call.unsupported("align_corners together with half_pixel_centers")
    mode = "STRICT_ALIGN_CORNERS" if align else ("UNALIGN_CORNERS" if half_pixel else "DEFAULT")
    return bilinear(x, *_scaled(call, x), mode)


@kernel("resize_bilinear")
def resize_bilinear(call: OpCall) -> np.ndarray:
    mode = call.str("sampling_mode", "DEFAULT")
    if mode not in ("ALIGN_CORNERS", "STRICT_ALIGN_CORNERS", "UNALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS"):
        raise call.unsupported(f"sampling_mode {mode}")
    return bilinear(call.x(), call.int("target_size_height", 1), call.int("target_size_width", 1), mode)


def nearest(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Output pixel i takes input pixel floor(i·n_in/n_out) on each of the last two axes."""
    rows = np.minimum((np.arange(out_h) * x.shape[-2]) // out_h, x.shape[-2] - 1)
    cols = np.minimum((np.arange(out_w) * x.shape[-1]) // out_w, x.shape[-1] - 1)
    return np.take(np.take(x, rows, axis=x.ndim - 2), cols, axis=x.ndim - 1)


@kernel("upsample_nearest_neighbor")
def upsample_nearest_neighbor(call: OpCall) -> np.ndarray:
    x = call.x()
    return nearest(x, *_scaled(call, x))


@kernel("resize_nearest_neighbor")
def resize_nearest_neighbor(call: OpCall) -> np.ndarray:
    return nearest(call.x(), call.int("target_size_height"), call.int("target_size_width"))
