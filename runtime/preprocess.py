"""Image in, model input out (and model output back to image size): numpy only, the same on every device.

Resizing uses half-pixel centres, as cv2.INTER_LINEAR and torch's `align_corners=False` do; shrinking by
more than 2× along an axis averages the covered area instead (as cv2.INTER_AREA does), so fine texture does
not alias. Non-finite values only affect the outputs whose footprint covers them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (n_out × 2) and weights for bilinear sampling with half-pixel centres, edges clamped."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    return np.stack([lo, hi], axis=1), np.stack([1.0 - frac, frac], axis=1)


def _area_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices and weights averaging the interval [i·s, (i+1)·s) output i covers (s = n_in / n_out)."""
    scale = n_in / n_out
    starts = np.arange(n_out, dtype=np.float64) * scale
    ends = np.minimum(starts + scale, float(n_in))
    taps = math.ceil(scale) + 1
    first = np.floor(starts).astype(np.intp)
    index = first[:, None] + np.arange(taps)[None, :]
    overlap = np.minimum(ends[:, None], index + 1.0) - np.maximum(starts[:, None], index.astype(np.float64))
    weight = np.clip(overlap, 0.0, None) / scale
    # Taps past the interval carry weight 0; point them at the first tap so they never read out of range.
    index = np.where(weight > 0, np.minimum(index, n_in - 1), first[:, None])
    return index, weight


def _resample_axis(arr: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Resample one axis: bilinear up to 2× shrink, area average beyond."""
    n_in = arr.shape[axis]
    if n_in == n_out:
        return arr
    index, weight = (_area_taps if n_in > 2 * n_out else _linear_taps)(n_in, n_out)
    shape = [1] * arr.ndim
    shape[axis] = n_out
    out = np.zeros(arr.shape[:axis] + (n_out,) + arr.shape[axis + 1:], dtype=np.float32)
    for tap in range(index.shape[1]):
        w = weight[:, tap]
        if not w.any():
            continue
        out += np.take(arr, index[:, tap], axis=axis) * w.astype(np.float32).reshape(shape)
    return out


def resize_bilinear(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an H×W or H×W×C array to height×width (float32 out; bools and ints are converted first)."""
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3):
        raise ValueError(f"resize_bilinear expects an H×W or H×W×C array, got shape {list(arr.shape)}")
    if height < 1 or width < 1 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"cannot resize shape {list(arr.shape)} to {height}×{width}")
    # No float32 copy of the whole input first: each axis's pass reads the source type and writes float32 at the
    # new size (a 120-Mpx RGB photo as float32 alone is 1.4 GB).
    out = arr.view(np.uint8) if arr.dtype == np.bool_ else arr
    out = _resample_axis(out, int(height), 0)
    out = _resample_axis(out, int(width), 1)
    return np.ascontiguousarray(out, dtype=np.float32)


def input_hwc(spec: dict[str, Any]) -> tuple[int, int, int]:
    """(height, width, channels) of a manifest input entry, read through its layout."""
    shape = spec["shape"]
    if len(shape) != 4:
        raise ValueError(f"input '{spec.get('name')}' is not an image tensor (shape {shape})")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape[1:]):
        raise ValueError(f"input '{spec.get('name')}' has no fixed height, width and channels (shape {shape})")
    if spec["layout"] == "NCHW":
        return int(shape[2]), int(shape[3]), int(shape[1])
    if spec["layout"] == "NHWC":
        return int(shape[1]), int(shape[2]), int(shape[3])
    raise ValueError(f"unknown layout '{spec['layout']}' (known: NCHW, NHWC)")


def _normalize(pixels: np.ndarray, normalization: Any) -> np.ndarray:
    """x · scale, then (x − mean) / std per channel; "baked-in" leaves raw pixel values to the model."""
    if normalization == "baked-in" or normalization is None:
        return pixels
    scale = float(normalization.get("scale", 1.0))
    mean = np.asarray(normalization.get("mean", 0.0), dtype=np.float32)
    std = np.asarray(normalization.get("std", 1.0), dtype=np.float32)
    return (pixels * np.float32(scale) - mean) / std


def _cast(values: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Cast to the input's dtype: floats directly, integers through `quant` {scale, zero_point} if given."""
    dtype = np.dtype(spec["dtype"])
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    quant = spec.get("quant")
    if quant:
        values = values / np.float32(quant["scale"]) + np.float32(quant["zero_point"])
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def prepare_input(image_rgb_uint8: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """One manifest input from an RGB uint8 image: resize, scale, normalise, layout, batch of 1, dtype."""
    image = np.asarray(image_rgb_uint8)
    if image.ndim == 2:
        image = image[..., None]
    height, width, channels = input_hwc(spec)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an H×W×3 RGB image, got shape {list(image.shape)}")
    if image.shape[2] == 4:
        image = image[..., :3]
    if image.shape[2] != channels:
        if channels == 3 and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        else:
            raise ValueError(f"input '{spec['name']}' takes {channels} channels, the image {image.shape[2]}")
    if str(spec.get("color", "RGB")).upper() == "BGR":
        image = image[..., ::-1]
    from runtime.resize import filter_of, resize

    pixels = resize(image, height, width, filter_of(spec))
    values = _normalize(pixels, spec.get("normalization"))
    if spec["layout"] == "NCHW":
        values = values.transpose(2, 0, 1)
    return np.ascontiguousarray(_cast(values, spec)[None])


def dequantize(arr: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Float32 values of an output: (q − zero_point) · scale when the manifest entry has `quant`."""
    arr = np.asarray(arr)
    quant = spec.get("quant")
    if quant and arr.dtype.kind in "iu":
        return (arr.astype(np.float32) - np.float32(quant["zero_point"])) * np.float32(quant["scale"])
    return arr.astype(np.float32, copy=False)


def output_map(pred: np.ndarray) -> np.ndarray:
    """One raw output as an H×W map: batch axes and a trailing channel axis of size 1 dropped."""
    arr = np.asarray(pred)
    original = list(arr.shape)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"expected one output map (batch 1, one channel), got shape {original}")
    return arr


def restore_output(pred: np.ndarray, height: int, width: int, spec: dict[str, Any] | None = None) -> np.ndarray:
    """One output map back at image size: drop batch/channel dims of size 1, resize (the output entry's filter
    where `spec` names one, else bilinear), float32."""
    from runtime.resize import filter_of, resize

    return resize(output_map(pred), height, width, filter_of(spec or {}))
