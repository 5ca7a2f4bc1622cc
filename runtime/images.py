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


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:
        raise InputError("reading images needs Pillow (pip install pillow)") from exc
    return Image, ImageOps


def _to_rgb8(image) -> np.ndarray:
    """Any Pillow mode → H×W×3 uint8: 16-bit and 32-bit integer greys scaled to 8 bits, alpha dropped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode != "I" or values.max(initial=0) > 255 else 255.0
        grey = np.clip(np.rint(values * (255.0 / peak)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all():
            raise InputError(f"{np.count_nonzero(~np.isfinite(values)):,} pixel(s) are NaN or infinite")
        grey = np.clip(np.rint(values * (255.0 if values.max(initial=0) <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """The photo at `path` as H×W×3 uint8 RGB, upright as its EXIF orientation says. The declared size is checked
    against MAX_PIXELS before anything is decoded; with `max_side`, a JPEG is decoded at the smallest reduction
    still at least that large (the caller shrinks the rest of the way)."""
    Image, ImageOps = _pillow()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no image at {path}")
    try:
        with warnings.catch_warnings():  # MAX_PIXELS is the limit here: Pillow's lower warning is not for the user
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened as image:
            if image.width * image.height > MAX_PIXELS:
                raise InputError(f"{path}: {image.width}×{image.height} is over the {MAX_PIXELS:,}-pixel limit")
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
