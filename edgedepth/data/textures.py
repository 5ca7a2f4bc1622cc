"""Surface textures from scikit-image's offline images: mip-mapped, cropped, scaled, rotated and recoloured.

A texture is attached to a surface by coordinates in metres on that surface, so both views of a procedural
scene sample the same texel for the same 3D point. The mip level depends only on the point's depth and the
surface's slant seen from the midpoint between the cameras, so it is the same in both views too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

# Offline images that ship inside scikit-image (no download): faces, animals, bricks, stones, text, cells.
TEXTURE_IMAGES = (
    "astronaut", "brick", "grass", "gravel", "coffee", "chelsea", "rocket", "camera", "coins", "text",
    "moon", "page", "immunohistochemistry", "retina", "cell",
)
_MAX_SIDE = 512
_MIN_LEVEL_SIDE = 8
_REMAP_COLUMNS = 1024


@functools.lru_cache(maxsize=1)
def texture_bank() -> tuple[tuple[np.ndarray, ...], ...]:
    """Every texture image as a mip pyramid of float32 RGB in [0, 1] (level 0 at most 512 px a side)."""
    from skimage import data  # imported here: only procedural scenes need it

    bank = []
    for name in TEXTURE_IMAGES:
        image = np.asarray(getattr(data, name)())
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        image = image[:, :, :3].astype(np.float32) / 255.0
        scale = _MAX_SIDE / max(image.shape[:2])
        if scale < 1:
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        levels = [np.ascontiguousarray(image)]
        while min(levels[-1].shape[:2]) >= 2 * _MIN_LEVEL_SIDE:
            levels.append(cv2.pyrDown(levels[-1]))
        bank.append(tuple(levels))
    return tuple(bank)


@dataclass(frozen=True)
class Texture:
    """One surface's look: which image, texels per metre, in-plane rotation, offset, colour transform."""

    image: int
    texels_per_m: float
    rotation: tuple[float, float, float, float]
    offset: tuple[float, float]
    colour: tuple[tuple[float, ...], ...]  # 3×3 mixing matrix applied to RGB
    bias: tuple[float, float, float]

    def sample(self, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
        """RGB (N×3 float32) at surface coordinates u, v (metres), trilinear over mip levels.

        `footprint` is the pixel's size on the surface in metres; the level is log2 of it in texels.
        """
        levels = texture_bank()[self.image]
        r00, r01, r10, r11 = self.rotation
        s = np.float32(self.texels_per_m)
        height, width = levels[0].shape[:2]
        # Texel coordinates at level 0, folded once into the image by mirrored repetition.
        tu = _mirror(s * (r00 * u + r01 * v) + np.float32(self.offset[0]), width)
        tv = _mirror(s * (r10 * u + r11 * v) + np.float32(self.offset[1]), height)
        lod = np.log2(np.maximum(footprint * s, 1e-6)).astype(np.float32)
        np.clip(lod, 0.0, len(levels) - 1.0, out=lod)
        top = max(len(levels) - 2, 0)
        base = np.minimum(lod.astype(np.int32), top)
        out = np.empty((u.shape[0], 3), dtype=np.float32)
        for level in np.unique(base):
            sel = np.nonzero(base == level)[0]
            low = _sample_level(levels[level], tu[sel], tv[sel], level)
            if len(levels) > 1:
                high = _sample_level(levels[level + 1], tu[sel], tv[sel], level + 1)
                frac = np.clip(lod[sel] - level, 0.0, 1.0)[:, None]
                low += frac * (high - low)
            out[sel] = low
        # Colour mixing with explicit products, not `@`: BLAS threads on thin N×3 matrices are slow.
        mix = np.asarray(self.colour, dtype=np.float32)
        bias = np.asarray(self.bias, dtype=np.float32)
        return out[:, :1] * mix[:, 0] + out[:, 1:2] * mix[:, 1] + out[:, 2:] * mix[:, 2] + bias


def _mirror(t: np.ndarray, size: int) -> np.ndarray:
    """Fold coordinates into [0, size − 1] by mirrored repetition, so any surface extent has texture."""
    period = np.float32(2 * (size - 1))
    t = t - period * np.floor(t * (np.float32(1.0) / period))
    return np.float32(size - 1) - np.abs(t - np.float32(size - 1))


def _sample_level(image: np.ndarray, tu: np.ndarray, tv: np.ndarray, level: int) -> np.ndarray:
    """Bilinear RGB (N×3) from one mip level at folded level-0 texel coordinates (half-pixel-centred mapping).

    Past the last texel of a coarse level, cv2's reflection continues the mirrored repetition.
    """
    n = tu.shape[0]
    padded = -(-n // _REMAP_COLUMNS) * _REMAP_COLUMNS  # cv2.remap wants fewer than 32767 rows: fold into 2D
    scale = np.float32(0.5**level)
    offset = np.float32(0.5 * scale - 0.5)
    x = np.zeros(padded, dtype=np.float32)
    y = np.zeros(padded, dtype=np.float32)
    np.multiply(tu, scale, out=x[:n])
    x[:n] += offset
    np.multiply(tv, scale, out=y[:n])
    y[:n] += offset
    shape = (padded // _REMAP_COLUMNS, _REMAP_COLUMNS)
    sampled = cv2.remap(image, x.reshape(shape), y.reshape(shape), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT_101)
    return sampled.reshape(-1, 3)[:n]


def random_texture(rng: np.random.Generator, texels_per_m: float) -> Texture:
    """A random texture: image, crop (offset), rotation, scale jitter and colour jitter."""
    levels = texture_bank()
    image = int(rng.integers(len(levels)))
    height, width = levels[image][0].shape[:2]
    angle = rng.uniform(-np.pi, np.pi) if rng.random() < 0.5 else rng.uniform(-0.2, 0.2)
    c, s = float(np.cos(angle)), float(np.sin(angle))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    # Colour: saturation around the grey axis, per-channel tint, contrast around mid-grey, brightness.
    saturation = rng.uniform(0.0, 1.3) if rng.random() < 0.8 else 0.0
    grey = np.full((3, 3), 1.0 / 3.0)
    mix = grey + saturation * (np.eye(3) - grey)
    tint = rng.uniform(0.6, 1.2, size=3)
    contrast = rng.uniform(0.55, 1.15)
    matrix = contrast * tint[:, None] * mix
    brightness = rng.uniform(0.35, 0.65)
    bias = brightness - matrix @ np.full(3, 0.5)
    return Texture(
        image=image,
        texels_per_m=float(texels_per_m * rng.uniform(0.7, 1.4)),
        rotation=(c, -s * flip, s, c * flip),
        offset=(float(rng.uniform(0, width)), float(rng.uniform(0, height))),
        colour=tuple(tuple(float(x) for x in row) for row in matrix),
        bias=tuple(float(x) for x in bias),
    )
