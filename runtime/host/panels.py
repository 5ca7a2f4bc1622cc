"""Titled image panels laid out on a grid in one PNG (Pillow, imported only here and only when called)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from runtime.atomic import atomic_file

PAD = 6
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
FONT_SIZE = 14


def _as_rgb(title: str, image: np.ndarray) -> np.ndarray:
    """An H×W×3 uint8 view of a panel (grayscale is replicated, alpha dropped); ValueError otherwise."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"panel '{title}' must be uint8 (use colorize() for float maps), got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"panel '{title}' must be H×W×3 RGB, got shape {list(arr.shape)}")
    return arr[..., :3]


def _font() -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _fit(draw: Any, text: str, font: Any, width: int) -> str:
    """`text`, shortened with an ellipsis until it fits in `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def write_panels_png(path: str | os.PathLike, panels: list[tuple[str, np.ndarray]],
                     columns: int | None = None) -> None:
    """Write `panels` (caption, uint8 RGB image) as one PNG grid, a caption line above each, atomically."""
    from PIL import Image, ImageDraw

    if not panels:
        raise ValueError("write_panels_png needs at least one panel")
    images = [(str(title), _as_rgb(str(title), image)) for title, image in panels]
    columns = max(1, min(columns or min(4, len(images)), len(images)))
    rows = math.ceil(len(images) / columns)
    font = _font()
    bbox = font.getbbox("Ag|…")
    caption_h = int(bbox[3] - min(0, bbox[1])) + 4
    cell_w = max(image.shape[1] for _, image in images)
    cell_h = max(image.shape[0] for _, image in images) + caption_h
    size = (columns * cell_w + (columns + 1) * PAD, rows * cell_h + (rows + 1) * PAD)
    canvas = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for index, (title, image) in enumerate(images):
        left = PAD + (index % columns) * (cell_w + PAD)
        top = PAD + (index // columns) * (cell_h + PAD)
        draw.text((left, top), _fit(draw, title, font, cell_w), fill=TEXT, font=font)
        canvas.paste(Image.fromarray(np.ascontiguousarray(image)), (left, top + caption_h))
    with atomic_file(path) as tmp:
        canvas.save(tmp, format="PNG")
