"""OpenCV StereoSGBM, the full-precision stereo teacher: left-view disparity, conservative validity mask.

Validity = what SGBM itself accepts (uniqueness, its speckle filter) ∩ a left-right consistency check
against a second, independent match of the right view (computed on the mirrored pair). Nothing is filled:
a pixel SGBM cannot vouch for stays invalid (value 0) and the distillation masks it. Valid values are > 0.

Parameter choices, measured on the motorcycle pair (full size) and 16 procedural scenes (256×384):
- block 3, colour input, P1 = 8·3·3², P2 = 32·3·3² (OpenCV's recommended penalties): block 3 beats 5 and 7 on
  both sets (motorcycle EPE 0.71 / 0.79 / 0.89 px) — the smoothness term already regularises.
- mode "hh4" (full-image dynamic programming, 4 paths): more accurate than 3-way (motorcycle bad-2.0 4.0 vs
  4.2 %, procedural 3.2 vs 3.6 %) and as accurate as 8-path "hh" at half its time (0.3 s vs 0.55 s).
- uniqueness 10 %, LR tolerance 1 px, speckle windows of 1/2000 of the image area with a 2 px range: the
  filters halve bad-2.0 for ~10 % less coverage; stricter settings mostly trade coverage for little gain.
- numDisparities: the next multiple of 16 above width / 6 (the range of the embedded data) unless given.
- the pair is padded on the left by numDisparities columns, so the leftmost band is matched too.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edgedepth.data.sample import StereoSample
from edgedepth.teachers.base import Prediction, Teacher
from runtime.bundle import DISPARITY

MODES = {"sgbm": cv2.STEREO_SGBM_MODE_SGBM, "hh": cv2.STEREO_SGBM_MODE_HH,
         "3way": cv2.STEREO_SGBM_MODE_SGBM_3WAY, "hh4": cv2.STEREO_SGBM_MODE_HH4}


def default_num_disparities(width: int, fraction: float = 1.0 / 6.0) -> int:
    """Smallest multiple of 16 strictly above `fraction` × width (at least 16)."""
    return max(16, (int(width * fraction) // 16 + 1) * 16)


class SGBMTeacher(Teacher):
    """StereoSGBM disparity (pixels, left view) with LR-consistency and speckle filtering; invalid stays 0."""

    name = "sgbm"
    kind = DISPARITY
    backend = "opencv"

    def __init__(
        self,
        num_disparities: int | None = None,
        block_size: int = 3,
        mode: str = "hh4",
        uniqueness_ratio: int = 10,
        lr_max_diff: float = 1.0,
        speckle_fraction: float = 5e-4,
        speckle_range: int = 2,
        pre_filter_cap: int = 31,
        grey: bool = False,
    ) -> None:
        if num_disparities is not None and (num_disparities <= 0 or num_disparities % 16):
            raise ValueError(f"num_disparities must be a positive multiple of 16, got {num_disparities}")
        if block_size < 1 or block_size % 2 == 0:
            raise ValueError(f"block_size must be odd and positive, got {block_size}")
        if mode not in MODES:
            raise ValueError(f"unknown SGBM mode {mode!r}; expected one of {', '.join(MODES)}")
        self.num_disparities = num_disparities
        self.block_size = block_size
        self.mode = mode
        self.uniqueness_ratio = uniqueness_ratio
        self.lr_max_diff = lr_max_diff
        self.speckle_fraction = speckle_fraction
        self.speckle_range = speckle_range
        self.pre_filter_cap = pre_filter_cap
        self.grey = grey

    def params(self) -> dict[str, Any]:
        """Constructor keywords: `create_teacher("sgbm", **params)` rebuilds this teacher."""
        return {"num_disparities": self.num_disparities, "block_size": self.block_size, "mode": self.mode,
                "uniqueness_ratio": self.uniqueness_ratio, "lr_max_diff": self.lr_max_diff,
                "speckle_fraction": self.speckle_fraction, "speckle_range": self.speckle_range,
                "pre_filter_cap": self.pre_filter_cap, "grey": self.grey}

    def identity(self) -> dict[str, Any]:
        """Name, family, kind, parameters and the OpenCV version (its SGBM output depends on it)."""
        return {**super().identity(), "family": "opencv-stereo-sgbm", "opencv": cv2.__version__}

    def _matcher(self, num_disparities: int, area: int) -> cv2.StereoSGBM:
        """A StereoSGBM configured for images of `area` pixels."""
        channels = 1 if self.grey else 3
        window = self.block_size * self.block_size
        return cv2.StereoSGBM.create(
            minDisparity=0,
            numDisparities=num_disparities,
            blockSize=self.block_size,
            P1=8 * channels * window,
            P2=32 * channels * window,
            disp12MaxDiff=-1,  # the explicit two-sided check below replaces OpenCV's one-sided approximation
            preFilterCap=self.pre_filter_cap,
            uniquenessRatio=self.uniqueness_ratio,
            speckleWindowSize=max(0, round(self.speckle_fraction * area)),
            speckleRange=self.speckle_range,
            mode=MODES[self.mode],
        )

    def predict(self, sample: StereoSample) -> Prediction:
        """Disparity of the left view in pixels (0 where invalid) and the mask of pixels SGBM vouches for."""
        self.require_pair(sample)
        left, right = sample.left, sample.right
        if self.grey:
            left, right = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY), cv2.cvtColor(right, cv2.COLOR_RGB2GRAY)
        height, width = left.shape[:2]
        num_disparities = self.num_disparities or default_num_disparities(width)
        matcher = self._matcher(num_disparities, height * width)
        disp_left = _match(matcher, left, right, num_disparities)
        disp_right = _match(matcher, right[:, ::-1], left[:, ::-1], num_disparities)[:, ::-1]
        valid = _consistent(disp_left, disp_right, self.lr_max_diff)
        # A cost minimum on the edge of the search range is a clamp, not a measurement (and d = 0 would be
        # infinitely far): only disparities strictly inside it are vouched for.
        valid &= (disp_left > 0) & (disp_left < num_disparities - 1)
        value = np.where(valid, disp_left, 0.0).astype(np.float32)
        return Prediction(value=value, kind=self.kind, valid=valid)


def _match(matcher: cv2.StereoSGBM, left: np.ndarray, right: np.ndarray, num_disparities: int) -> np.ndarray:
    """Left-view disparity in pixels (negative where SGBM rejects), the pair padded on the left first.

    SGBM never matches the first numDisparities columns; replicated padding moves that band off the image.
    """
    pad = num_disparities
    left_p = cv2.copyMakeBorder(np.ascontiguousarray(left), 0, 0, pad, 0, cv2.BORDER_REPLICATE)
    right_p = cv2.copyMakeBorder(np.ascontiguousarray(right), 0, 0, pad, 0, cv2.BORDER_REPLICATE)
    raw = matcher.compute(left_p, right_p)[:, pad:]
    return raw.astype(np.float32) / 16.0


def _consistent(disp_left: np.ndarray, disp_right: np.ndarray, max_diff: float) -> np.ndarray:
    """Left pixels whose match lands in the right image where the right view's disparity agrees."""
    height, width = disp_left.shape
    ok = disp_left >= 0
    x_right = np.round(np.arange(width, dtype=np.float32)[None, :] - disp_left).astype(np.int64)
    ok &= (x_right >= 0) & (x_right < width)
    rows = np.broadcast_to(np.arange(height)[:, None], (height, width))
    back = disp_right[rows, np.clip(x_right, 0, width - 1)]
    return ok & (back >= 0) & (np.abs(disp_left - back) <= max_diff)
