"""Hints for the self-supervised objective (after Watson et al., "Self-Supervised Monocular Depth Hints", 2019):
a classical match computed once, before training, from the training images themselves: SGBM's disparity on each
stereo pair (`self:stereo`), DIS optical flow from each clip's middle frame to its neighbours (`self:video`). At a
pixel where the hint synthesises the target better than the student's current geometry, the student's
correspondence there is also pulled towards the hint's by log(1 + distance in pixels); where the student already
does better, or the classical match vouches for nothing, the photometric loss alone decides. No other model and
no ground truth is involved. The hints pull the student out of the photometric loss's local minima."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from edgedepth.data.sample import StereoSample
from edgedepth.progress import progress_bar
from edgedepth.selfsup.photometric import photometric_error
from edgedepth.selfsup.warp import in_reach, sample_at, warp_stereo
from edgedepth.teachers.sgbm import SGBMTeacher

HINT_CHOICES = ("on", "off")
HINT_SOURCES = {"stereo": "sgbm", "video": "dis-optical-flow"}
FLOW_CHECK_PX = 1.0  # forward-backward disagreement beyond which a flow vector is no hint


@dataclass
class Hint:
    """A batch's hints for S source views: `valid` N×S×H×W bool (the classical match vouches for the pixel),
    `errors` N×S×H×W photometric errors of the target synthesised through the hints, and `distance`: the student's
    full-size output N×1×H×W → N×S×H×W pixel distances between its correspondences and the hints'."""

    valid: torch.Tensor
    errors: torch.Tensor
    distance: Callable[[torch.Tensor], torch.Tensor]


def hinted_term(full: torch.Tensor, per_pixel: torch.Tensor, hint: Hint) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean hint loss, N×S×H×W mask of hinted pixels) for one scale's full-size output: log(1 + distance) where the
    hint is valid and reprojects better than the student's `per_pixel` error (N×1×H×W), 0 elsewhere."""
    used = hint.valid & (hint.errors < per_pixel.detach())
    distance = torch.log1p(hint.distance(full))
    return torch.where(used, distance, torch.zeros_like(distance)).mean(), used


def _uint8(view: np.ndarray) -> np.ndarray:
    """A 3×H×W view in 0..1 as H×W×3 uint8 (what the classical matchers read)."""
    return np.ascontiguousarray((view.transpose(1, 2, 0) * 255.0).round().clip(0, 255).astype(np.uint8))


def stereo_hints(pairs: np.ndarray, progress: bool = True) -> np.ndarray:
    """N×2×H×W float32 SGBM disparities in pixels (0 where SGBM vouches for nothing) for N×2×3×H×W pairs in 0..1:
    [:, 0] of the left view (matched against the right one), [:, 1] of the mirrored right view (matched against
    the mirrored left one: the pair the training's flip augmentation makes)."""
    matcher = SGBMTeacher()
    hints = np.zeros((pairs.shape[0], 2, *pairs.shape[-2:]), np.float32)
    for i in progress_bar(range(pairs.shape[0]), desc="depth hints", disable=not progress, unit="pair"):
        left, right = _uint8(pairs[i, 0]), _uint8(pairs[i, 1])
        hints[i, 0] = matcher.predict(StereoSample("hint", left, right)).value
        hints[i, 1] = matcher.predict(StereoSample("hint", right[:, ::-1], left[:, ::-1])).value
    return hints


def stereo_hint(target: torch.Tensor, source: torch.Tensor, hint_px: torch.Tensor, pixels: float) -> Hint:
    """The `Hint` of a batch of pairs: `hint_px` N×1×H×W (0: none), the student's output in units of `pixels`."""
    with torch.no_grad():
        errors = photometric_error(warp_stereo(source, hint_px), target)
    return Hint(hint_px > 0, errors, lambda full: (full * pixels - hint_px).abs())


def _grey(view: np.ndarray) -> np.ndarray:
    """A 3×H×W view in 0..1 as an H×W uint8 luma image."""
    return cv2.cvtColor(_uint8(view), cv2.COLOR_RGB2GRAY)


def _checked_flow(flow: cv2.DISOpticalFlow, target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """2×H×W flow from `target` to `source` (target(x) ≈ source(x + flow)), NaN where the backward flow does not
    bring the point back within FLOW_CHECK_PX or where it leaves the image."""
    forward = flow.calc(target, source, None)
    backward = flow.calc(source, target, None)
    height, width = target.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = xs + forward[..., 0], ys + forward[..., 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    back = cv2.remap(backward, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    good = inside & (np.linalg.norm(forward + back, axis=-1) < FLOW_CHECK_PX)
    return np.where(good[None], forward.transpose(2, 0, 1), np.nan)


def flow_hints(clips: Callable[[np.ndarray], np.ndarray], count: int, progress: bool = True) -> np.ndarray:
    """count×2×2×H×W float16 DIS optical flows (pixels; NaN: no hint) from each clip's middle frame to its
    previous ([:, 0]) and next ([:, 1]) frame; `clips(index)` gives those clips' frames, len×3×3×H×W in 0..1
    (read in chunks: a user's video is not copied whole)."""
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    hints = None
    with progress_bar(total=count, desc="flow hints", disable=not progress, unit="clip") as bar:
        for start in range(0, count, 256):
            chunk = clips(np.arange(start, min(count, start + 256)))
            if hints is None:
                hints = np.empty((count, 2, 2, *chunk.shape[-2:]), np.float16)
            for j, clip in enumerate(chunk):
                middle = _grey(clip[1])
                hints[start + j, 0] = _checked_flow(flow, middle, _grey(clip[0]))
                hints[start + j, 1] = _checked_flow(flow, middle, _grey(clip[2]))
                bar.update()
    return hints


def mirrored_flows(flows: np.ndarray) -> np.ndarray:
    """The flows of mirrored clips: each vector's column mirrored and its horizontal part negated."""
    mirrored = flows[..., ::-1].copy()
    mirrored[..., 0, :, :] *= -1
    return mirrored


def video_hint(target: torch.Tensor, sources: list[torch.Tensor], flows: torch.Tensor,
               project: Callable[[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]) -> Hint:
    """The `Hint` of a batch of clips: `flows` N×S×2×H×W (NaN: none) from the target to each source; `project`
    maps the student's full-size output to where each target pixel lands in each source (x, y: N×H×W). Distances
    are L1 (|dx| + |dy|), as the stereo hints' are; landings are held `in_reach`, as `sample_at` holds them."""
    height, width = target.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=flows.dtype, device=flows.device),
                            torch.arange(width, dtype=flows.dtype, device=flows.device), indexing="ij")
    valid = torch.isfinite(flows).all(2)
    x_hint = xs + torch.nan_to_num(flows[:, :, 0])
    y_hint = ys + torch.nan_to_num(flows[:, :, 1])
    with torch.no_grad():
        errors = torch.cat([photometric_error(sample_at(source, x_hint[:, s], y_hint[:, s]), target)
                            for s, source in enumerate(sources)], 1)

    def distance(full: torch.Tensor) -> torch.Tensor:
        landed = project(full)
        held = [in_reach(x, y, height, width) for x, y in landed]
        return torch.stack([(x - x_hint[:, s]).abs() + (y - y_hint[:, s]).abs() for s, (x, y) in enumerate(held)], 1)

    return Hint(valid, errors, distance)
