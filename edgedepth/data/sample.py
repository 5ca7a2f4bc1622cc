"""The one sample type every dataset returns: a rectified stereo pair with optional ground truth.

Conventions (Middlebury's): disparity is in pixels in the left view, left(y, x) ≈ right(y, x − d), and
depth = focal_px · baseline_m / (d + doffs_px). Invalid ground truth is 0 in `disparity` and `depth` and
False in `valid`; a pixel that is invalid stays invalid through every transform here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np


@dataclass(frozen=True)
class Calibration:
    """A rectified pair's geometry: horizontal focal (px), baseline (m), principal-point offset (px), and the
    disparity range the benchmark states (Middlebury's `ndisp`, px), when it states one."""

    focal_px: float
    baseline_m: float
    doffs_px: float = 0.0
    ndisp: float | None = None

    def depth_from_disparity(self, disparity: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Depth in metres (float32); 0 where the disparity is non-finite, d + doffs ≤ 0, or `valid` is False.

        0 marks invalid depth, as in `StereoSample.depth`; pass `valid` when 0 also codes invalid disparity,
        since with doffs > 0 a zero disparity is a legitimate finite depth.
        """
        d = np.asarray(disparity, dtype=np.float64)
        denominator = d + self.doffs_px
        ok = np.isfinite(d) & (denominator > 0)
        if valid is not None:
            ok &= np.asarray(valid, dtype=bool)
        depth = np.zeros(d.shape, dtype=np.float64)
        np.divide(self.focal_px * self.baseline_m, denominator, out=depth, where=ok)
        return depth.astype(np.float32)

    def disparity_from_depth(self, depth: np.ndarray) -> np.ndarray:
        """Disparity in pixels (float32) for depth in metres; 0 where depth is non-finite or ≤ 0."""
        z = np.asarray(depth, dtype=np.float64)
        ok = np.isfinite(z) & (z > 0)
        disparity = np.zeros(z.shape, dtype=np.float64)
        np.divide(self.focal_px * self.baseline_m, z, out=disparity, where=ok)
        disparity = np.where(ok, disparity - self.doffs_px, 0.0)
        return disparity.astype(np.float32)

    def scaled(self, factor: float) -> Calibration:
        """Calibration for images resized in width by `factor`: focal, doffs and ndisp scale, baseline does not."""
        ndisp = None if self.ndisp is None else self.ndisp * factor
        return Calibration(self.focal_px * factor, self.baseline_m, self.doffs_px * factor, ndisp)


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index per output pixel (half-pixel centres): the source pixel whose area holds its centre."""
    src = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)
    return np.clip(src, 0, n_in - 1)


def _resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-average when shrinking (no aliasing), bilinear when enlarging."""
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


@dataclass
class StereoSample:
    """A rectified stereo pair (uint8 RGB, H×W×3) with optional ground truth in the left view; a single photo
    (a folder of images for mono distillation) is a sample whose `right` is None."""

    name: str
    left: np.ndarray
    right: np.ndarray | None
    disparity: np.ndarray | None = None
    valid: np.ndarray | None = None
    nonoccluded: np.ndarray | None = None
    depth: np.ndarray | None = None
    calib: Calibration | None = None

    def __post_init__(self) -> None:
        """Check shapes and dtypes once, so every consumer can rely on them."""
        right = self.left if self.right is None else self.right
        if self.left.shape != right.shape or self.left.ndim != 3 or self.left.shape[2] != 3:
            shapes = f"left {self.left.shape} and right {right.shape}"
            raise ValueError(f"{self.name}: {shapes} must be the same H×W×3")
        if self.left.dtype != np.uint8 or right.dtype != np.uint8:
            raise ValueError(f"{self.name}: images must be uint8, got {self.left.dtype}/{right.dtype}")
        for field in ("disparity", "valid", "nonoccluded", "depth"):
            value = getattr(self, field)
            if value is not None and value.shape != self.left.shape[:2]:
                raise ValueError(f"{self.name}: {field} shape {value.shape} is not {self.left.shape[:2]}")

    def _arrays(self) -> dict[str, np.ndarray | None]:
        """The sample's array fields by name."""
        names = ("left", "right", "disparity", "valid", "nonoccluded", "depth")
        return {name: getattr(self, name) for name in names}

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the pair."""
        return int(self.left.shape[0]), int(self.left.shape[1])

    def resized(self, height: int, width: int) -> StereoSample:
        """The same pair at (height, width), ground truth kept consistent with the images.

        Images are area-averaged (shrinking) or bilinear (enlarging). Ground truth is never interpolated
        across edges: every output pixel takes disparity, masks and depth from the one source pixel under its
        centre, and disparity is multiplied by the width ratio, so left(y, x) ≈ right(y, x − d) still holds;
        depth is unchanged because the calibration's focal length and doffs scale by the same ratio.
        """
        h0, w0 = self.shape
        if (height, width) == (h0, w0):
            return replace(self, **{k: None if v is None else v.copy() for k, v in self._arrays().items()})
        ratio = width / w0
        rows, cols = _nearest_index(h0, height), _nearest_index(w0, width)

        def pick(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else np.ascontiguousarray(array[rows][:, cols])

        valid = pick(self.valid)
        disparity = pick(self.disparity)
        if disparity is not None:
            disparity = (disparity * np.float32(ratio)).astype(np.float32)
            if valid is not None:
                disparity[~valid] = 0.0
        return StereoSample(
            name=self.name,
            left=_resize_image(self.left, height, width),
            right=None if self.right is None else _resize_image(self.right, height, width),
            disparity=disparity,
            valid=valid,
            nonoccluded=pick(self.nonoccluded),
            depth=pick(self.depth),
            calib=None if self.calib is None else self.calib.scaled(ratio),
        )
