"""Depth and disparity maps to files: colour PNG (near = bright, with its value range), 16-bit PNG, .npy and
Middlebury .pfm. Every write is atomic; NaN marks pixels without a value (black in pictures, 0 in 16-bit PNG).

16-bit PNG encodings, recorded in the file's text chunks: metric depth in millimetres, disparity × 256 (the
KITTI convention), relative maps scaled from their [min, max] to [1, 65535] (0 = no value)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from runtime.atomic import atomic_write_bytes
from runtime.bundle import DISPARITY, METRIC
from runtime.colormap import colorize
from runtime.images import png_bytes

SAVES = ("png", "png16", "npy", "pfm", "ply")


def nearness(values: np.ndarray, kind: str) -> np.ndarray:
    """A map where larger means nearer: metric depth inverted, relative inverse depth and disparity as they are."""
    values = np.asarray(values, np.float32)
    if kind != METRIC:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, 1.0 / values, np.nan).astype(np.float32)


def finite_range(values: np.ndarray) -> tuple[float, float]:
    """(min, max) over the finite values; (0, 0) when there are none."""
    finite = np.asarray(values)[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def colour_picture(values: np.ndarray, kind: str, cmap: str = "turbo") -> np.ndarray:
    """H×W×3 uint8: near = bright end of the colormap, with a legend strip below that names the value range."""
    near = nearness(values, kind)
    picture = colorize(near, cmap=cmap)
    low, high = finite_range(values)
    unit = {METRIC: " m", DISPARITY: " px"}.get(kind, "")
    far_text, near_text = (f"{high:.3g}{unit}", f"{low:.3g}{unit}") if kind == METRIC else \
        (f"{low:.3g}{unit}", f"{high:.3g}{unit}")
    return np.concatenate([picture, _legend(picture.shape[1], cmap, f"far {far_text}", f"near {near_text}")])


def _legend(width: int, cmap: str, left: str, right: str, height: int = 18) -> np.ndarray:
    """A colour ramp `height` pixels high with the far value written at its left and the near value at its right."""
    from PIL import Image, ImageDraw

    from runtime.colormap import colormap_lut

    ramp = colormap_lut(cmap)[np.linspace(0, 255, max(width, 1)).round().astype(int)]
    strip = np.repeat(ramp[None], height, axis=0)
    image = Image.fromarray(strip)
    draw = ImageDraw.Draw(image)
    for text, anchor, x in ((left, "lm", 3), (right, "rm", width - 3)):
        box = draw.textbbox((x, height // 2), text, anchor=anchor)
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((x, height // 2), text, fill=(255, 255, 255), anchor=anchor)
    return np.asarray(image, dtype=np.uint8)


def png16(values: np.ndarray, kind: str) -> tuple[np.ndarray, dict[str, str]]:
    """The uint16 encoding of a map and the text chunks that say how to read it back."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    if kind == METRIC:
        scaled, text = values * 1000.0, {"encoding": "depth_mm", "scale": "0.001"}
    elif kind == DISPARITY:
        scaled, text = values * 256.0, {"encoding": "disparity_x256", "scale": "0.00390625"}
    else:
        low, high = finite_range(values)
        span = high - low if high > low else 1.0
        scaled = 1.0 + (values - low) * (65534.0 / span)
        text = {"encoding": "relative_minmax", "min": repr(low), "max": repr(high)}
    encoded = np.where(finite, np.clip(np.rint(scaled), 1 if kind not in (METRIC, DISPARITY) else 0, 65535), 0)
    return encoded.astype(np.uint16), {"edgedepth:kind": kind, **{f"edgedepth:{k}": v for k, v in text.items()}}


def pfm_bytes(values: np.ndarray) -> bytes:
    """Middlebury PFM: 'Pf' (one channel), width height, -1 (little-endian), float32 rows from bottom to top."""
    values = np.asarray(values, np.float32)
    height, width = values.shape
    header = f"Pf\n{width} {height}\n-1\n".encode("ascii")
    return header + np.ascontiguousarray(values[::-1]).astype("<f4").tobytes()


def _pfm_header(data: bytes, path: str | Path) -> tuple[int, int, int, str, int]:
    """(channels, width, height, numpy byte order, offset of the pixels) of a PFM file's bytes: three whitespace-
    separated fields after the 'Pf' / 'PF' magic, then exactly one whitespace byte; a negative scale means
    little-endian."""
    fields, position = [], 0
    while len(fields) < 4:
        while position < len(data) and data[position:position + 1].isspace():
            position += 1
        start = position
        while position < len(data) and not data[position:position + 1].isspace():
            position += 1
        if start == position or position - start > 32:
            raise ValueError(f"{path}: not a PFM file (header cut short)")
        fields.append(data[start:position])
    magic, width, height, scale = fields
    if magic not in (b"Pf", b"PF"):
        raise ValueError(f"{path}: not a PFM file (starts with {magic[:8]!r}, not Pf or PF)")
    try:
        width_px, height_px, scale_value = int(width), int(height), float(scale)
    except ValueError:
        raise ValueError(f"{path}: malformed PFM header ({width!r} {height!r} {scale!r})") from None
    if width_px <= 0 or height_px <= 0 or scale_value == 0 or not np.isfinite(scale_value):
        raise ValueError(f"{path}: malformed PFM header (size {width_px}×{height_px}, scale {scale_value})")
    return (1 if magic == b"Pf" else 3), width_px, height_px, ("<" if scale_value < 0 else ">"), position + 1


def read_pfm(path: str | Path) -> np.ndarray:
    """A PFM file (Middlebury's disparity maps) as an H×W float32 array, top row first (PFM stores rows bottom to
    top), in either byte order; a three-channel file gives its first channel. ValueError in one line for a file
    that is not PFM, has a malformed header or is cut short."""
    data = Path(path).read_bytes()
    channels, width, height, order, offset = _pfm_header(data, path)
    needed = width * height * channels * 4
    if len(data) - offset < needed:
        raise ValueError(f"{path}: PFM data cut short ({len(data) - offset} of {needed} bytes for "
                         f"{width}×{height}×{channels})")
    values = np.frombuffer(data, dtype=f"{order}f4", count=width * height * channels, offset=offset)
    return values.reshape(height, width, channels)[::-1, :, 0].astype(np.float32)


def npy_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values, np.float32), allow_pickle=False)
    return buffer.getvalue()


def write_map(path: Path, save: str, values: np.ndarray, kind: str, overwrite: bool = True) -> None:
    """Write one of the map formats (png, png16, npy, pfm) of `values` to `path`, atomically (without
    `overwrite`, never over a file that exists by then)."""
    if save == "png":
        atomic_write_bytes(path, png_bytes(colour_picture(values, kind), {"edgedepth:kind": kind}), overwrite)
    elif save == "png16":
        encoded, text = png16(values, kind)
        atomic_write_bytes(path, png_bytes(encoded, text), overwrite)
    elif save == "npy":
        atomic_write_bytes(path, npy_bytes(values), overwrite)
    elif save == "pfm":
        atomic_write_bytes(path, pfm_bytes(values), overwrite)
    else:
        raise ValueError(f"write_map writes {', '.join(SAVES[:4])}, not {save}")
