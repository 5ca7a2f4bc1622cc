"""Photos in and pictures out, with Pillow: any JPEG/PNG/TIFF/BMP/WebP (8- or 16-bit, grey, RGB or RGBA, EXIF
orientation applied) becomes an H×W×3 uint8 RGB array; unreadable input is one InputError line. `list_images` is
the one rule for a folder of photos, on the device (predict) and on the host (training, calibration, labels)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runtime.atomic import atomic_write_bytes
from runtime.errors import InputError, first_line

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
MAX_PIXELS = 120_000_000  # refuse larger declared sizes before decoding (a small file can declare a huge image)
# What a command allocates grows with the photo: predict about 40 bytes per pixel (the photo, the map at its size,
# the picture and the files' bytes), portrait about 150 (each depth layer filled, blurred and composited in
# float32). The limits keep them near 2 GB: predict takes photos up to 50 Mpx, portrait up to 12 Mpx.
PREDICT_MAX_PIXELS = 50_000_000
PORTRAIT_MAX_PIXELS = 12_000_000


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:
        raise InputError("reading images needs Pillow (pip install pillow)") from exc
    return Image, ImageOps


def _grey_by_range(values: np.ndarray, unit: float) -> np.ndarray:
    """32-bit integer or float grey values as 0..255: by `unit` (255 for 8-bit values stored wide, 1 for floats
    in 0..1) when every value lies in 0..unit, else by the image's own range, min to max (a float TIFF with one
    pixel at 1.001, or 32-bit integers up to 300, would otherwise be read as a nearly black 0..255 picture)."""
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if low >= 0.0 and high <= unit:
        scaled = values * (255.0 / unit)
    else:
        scaled = (values - low) * (255.0 / (high - low))  # high > low here: some value lies outside 0..unit
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_rgb8(image) -> np.ndarray:
    """Any Pillow mode → H×W×3 uint8: 16-bit greys by their bit depth, 32-bit integer and float greys by their
    range (`_grey_by_range`), alpha dropped."""
    if image.mode in ("I;16", "I;16B", "I;16L"):
        values = np.asarray(image, dtype=np.float32)
        grey = np.clip(np.rint(values * np.float32(255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all():
            raise InputError(f"{np.count_nonzero(~np.isfinite(values)):,} pixel(s) are NaN or infinite")
        grey = _grey_by_range(values, 1.0 if image.mode == "F" else 255.0)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def read_image(path: str | Path, max_side: int | None = None, max_pixels: int = MAX_PIXELS,
               purpose: str = "") -> np.ndarray:
    """The photo at `path` as H×W×3 uint8 RGB, upright as its EXIF orientation says. The declared size is checked
    against `max_pixels` before anything is decoded (`purpose` names the command whose limit it is); with
    `max_side`, a JPEG is decoded at the smallest reduction still at least that large (the caller shrinks the
    rest of the way)."""
    Image, ImageOps = _pillow()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no image at {path}")
    try:
        with warnings.catch_warnings():  # MAX_PIXELS is the limit here: Pillow's lower warning is not for the user
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened as image:
            if image.width * image.height > max_pixels:
                raise InputError(f"{path}: {image.width}×{image.height} is over the {max_pixels:,}-pixel limit"
                                 + (f" of {purpose} (resize it first)" if purpose else ""))
            longest = max(image.size)
            if max_side is not None and longest > max_side and image.format == "JPEG":
                scale = max_side / longest
                image.draft("RGB", (max(1, int(image.width * scale)), max(1, int(image.height * scale))))
            image.load()
            upright = ImageOps.exif_transpose(image)
            try:
                return _to_rgb8(upright)
            except InputError as exc:
                raise InputError(f"cannot read image {path} ({exc})") from None
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = first_line(exc)
        raise InputError(f"cannot read image {path} ({reason})") from None


def list_images(folder: str | Path) -> list[str]:
    """The photos of a folder, by the one rule every folder of photos follows (training, calibration, labelling,
    frames, predict): files whose suffix is in IMAGE_SUFFIXES (any case), in the folder and in its subfolders at
    any depth, names starting with "." skipped at every level; as POSIX paths relative to the folder, sorted (the
    names a training record keeps for its held-out photos). InputError when the folder is missing or holds none."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"image folder not found: {root}")
    names = sorted(relative.as_posix() for relative, path in ((p.relative_to(root), p) for p in root.rglob("*"))
                   if relative.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
                   and not any(part.startswith(".") for part in relative.parts))
    if not names:
        raise InputError(f"no image ({', '.join(IMAGE_SUFFIXES)}) in {root} or its subfolders")
    return names


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given and the images of each folder (`list_images`), in order; InputError for a path that is
    neither."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found.extend(item / name for name in list_images(item))
        elif item.is_file():
            found.append(item)
        else:
            raise InputError(f"no image or folder at {item}")
    return found


def png_bytes(array: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """PNG bytes of an H×W×3 uint8 image or an H×W uint16/uint8 grey map, with optional text chunks."""
    Image, _ = _pillow()
    from PIL import PngImagePlugin

    array = np.ascontiguousarray(array)
    image = Image.fromarray(array.astype("<u2") if array.dtype == np.uint16 else array)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def write_png(path: str | Path, array: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write `array` as a PNG atomically (see `png_bytes`)."""
    atomic_write_bytes(path, png_bytes(array, text))
