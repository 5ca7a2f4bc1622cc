"""Depth hints for `self:stereo` (Watson et al., "Self-Supervised Monocular Depth Hints", 2019): SGBM's disparity
on the training pair itself, computed once before training. At a pixel where the hint reprojects the target better
than the student's current disparity, the student is also pulled towards it by log(1 + |d − hint|) (pixels); where
the student already does better, or SGBM vouches for nothing, the photometric loss alone decides. The hints come
from the same two images as the photometric loss: no other model and no ground truth is involved. They help the
student out of the photometric loss's local minima (the streaks and copied texture of a student trained from
random weights)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from edgedepth.data.sample import StereoSample
from edgedepth.selfsup.photometric import photometric_error
from edgedepth.teachers.sgbm import SGBMTeacher

HINT_CHOICES = ("sgbm", "off")


@dataclass
class Hint:
    """A batch's hints: `value` N×1×H×W in the student's disparity unit, `valid` N×1×H×W bool (SGBM vouches for
    the pixel), `pixels` the pixels per unit (the log term is taken in pixels, as the photometric loss sees them)."""

    value: torch.Tensor
    valid: torch.Tensor
    pixels: float


def _uint8(view: np.ndarray) -> np.ndarray:
    """A 3×H×W view in 0..1 as H×W×3 uint8 (what SGBM matches)."""
    return np.ascontiguousarray((view.transpose(1, 2, 0) * 255.0).round().clip(0, 255).astype(np.uint8))


def stereo_hints(pairs: np.ndarray, progress: bool = True) -> np.ndarray:
    """N×2×H×W float32 SGBM disparities in pixels (0 where SGBM vouches for nothing) for N×2×3×H×W pairs in 0..1:
    [:, 0] of the left view (matched against the right one), [:, 1] of the mirrored right view (matched against
    the mirrored left one: the pair the training's flip augmentation makes)."""
    matcher = SGBMTeacher()
    hints = np.zeros((pairs.shape[0], 2, *pairs.shape[-2:]), np.float32)
    for i in tqdm(range(pairs.shape[0]), desc="depth hints", disable=not progress, unit="pair"):
        left, right = _uint8(pairs[i, 0]), _uint8(pairs[i, 1])
        hints[i, 0] = matcher.predict(StereoSample("hint", left, right)).value
        hints[i, 1] = matcher.predict(StereoSample("hint", right[:, ::-1], left[:, ::-1])).value
    return hints


def hinted_term(full: torch.Tensor, per_pixel: torch.Tensor, hint: Hint, hint_error: torch.Tensor) -> tuple[
        torch.Tensor, torch.Tensor]:
    """(mean hint loss, N×1×H×W mask of hinted pixels) for one scale: log(1 + |full − hint|·pixels) where the hint
    is valid and its reprojection error `hint_error` is below the student's `per_pixel` error, 0 elsewhere."""
    used = hint.valid & (hint_error < per_pixel.detach())
    distance = torch.log1p((full - hint.value).abs() * hint.pixels)
    return torch.where(used, distance, torch.zeros_like(distance)).mean(), used


def hint_errors(target: torch.Tensor, synthesised: list[torch.Tensor]) -> torch.Tensor:
    """N×1×H×W minimum photometric error of the target synthesised through the hints (no gradient: the hints
    are fixed)."""
    with torch.no_grad():
        return torch.cat([photometric_error(s, target) for s in synthesised], 1).min(1, keepdim=True)[0]
