"""Middlebury's convention as samples: the 2014 motorcycle pair shipped with scikit-image (real images and ground
truth, offline), read by the same function as a user's Middlebury 2014/2021 or ETH3D scene."""

from __future__ import annotations

import numpy as np

from edgedepth.data.sample import Calibration, StereoSample

# Middlebury 2014 "Motorcycle" at the quarter resolution scikit-image ships (calib.txt, scaled by 1/4).
MOTORCYCLE_SHAPE = (500, 741)
MOTORCYCLE_CALIBRATION = Calibration(focal_px=994.978, baseline_m=0.193001, doffs_px=31.086)
# cam0's principal point (x, y) at that resolution, pixel centres at integers (full size: 1244.772, 1019.507).
MOTORCYCLE_PRINCIPAL_POINT = (310.818, 254.502)


def middlebury_sample(name: str, left: np.ndarray, right: np.ndarray, disparity: np.ndarray,
                      calib: Calibration | None, nonoccluded: np.ndarray | None = None) -> StereoSample:
    """A pair in Middlebury's convention as a sample: disparity in the left view, +inf (or 0, or NaN) = unknown
    and so invalid, depth = f·B / (d + doffs) through `calib` when there is one. The embedded motorcycle and a
    user's Middlebury 2014/2021 or ETH3D scenes are all read through here."""
    disparity = np.asarray(disparity, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(disparity) & (disparity > 0)
    disparity = np.where(valid, disparity, 0.0).astype(np.float32)
    return StereoSample(
        name=name,
        left=np.ascontiguousarray(left, dtype=np.uint8),
        right=np.ascontiguousarray(right, dtype=np.uint8),
        disparity=disparity,
        valid=valid,
        nonoccluded=None if nonoccluded is None else np.asarray(nonoccluded, dtype=bool) & valid,
        depth=None if calib is None else calib.depth_from_disparity(disparity, valid),
        calib=calib,
    )


def load_motorcycle(max_width: int | None = None) -> StereoSample:
    """The motorcycle pair with ground truth (+inf in the source → invalid), shrunk to `max_width` if smaller.

    Ground-truth disparity is in the left view (left(y, x) ≈ right(y, x − d)); depth is
    f·B / (d + doffs). Occlusion is not given by the source, so `nonoccluded` is None.
    """
    from skimage import data  # imported here: scikit-image is only needed when this dataset is used

    left, right, disparity = data.stereo_motorcycle()
    sample = middlebury_sample("middlebury-motorcycle", left, right, disparity, MOTORCYCLE_CALIBRATION)
    height, width = sample.shape
    if max_width is not None and max_width < width:
        if max_width < 16:
            raise ValueError(f"max_width must be at least 16, got {max_width}")
        sample = sample.resized(max(1, round(height * max_width / width)), int(max_width))
    return sample
