"""`self:stereo`: a mono student learns from rectified stereo pairs with no teacher (Monodepth2's objective: the
left view rebuilt from the right one through the predicted disparity), hinted by SGBM on each pair."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgedepth.distill.loop import on_device
from edgedepth.distill.objectives.registry import register_objective
from edgedepth.distill.objectives.self_supervised import (
    DISPARITY_UNIT,
    SelfSupervised,
    SelfSupervisedConfig,
    network_input,
)
from edgedepth.selfsup.data import Views, stereo_views
from edgedepth.selfsup.hints import stereo_hint, stereo_hints
from edgedepth.selfsup.objective import multiscale_loss
from edgedepth.selfsup.trainee import Trainee
from edgedepth.selfsup.warp import warp_stereo


@dataclass
class SelfStereoConfig(SelfSupervisedConfig):
    """Self-supervision on stereo pairs: the shared fields, plus a user's folder of rectified pairs."""

    pairs: str | None = None  # a folder of rectified pairs (left/, right/, calib.txt) instead of procedural scenes


@register_objective
class SelfStereo(SelfSupervised):
    """No teacher: the photometric objective on rectified pairs, procedural or `--pairs DIR`, SGBM-hinted."""

    name = "self:stereo"
    summary = "no teacher: Monodepth2's objective on rectified pairs (procedural, or --pairs DIR), SGBM-hinted"
    config = SelfStereoConfig
    mode = "stereo"
    target_view = 0

    def views(self, config: Any, progress: bool) -> Views:
        height, width = config.input_size
        return stereo_views(height, width, config.scenes, config.seed, config.teacher_scale, config.scene_family,
                            config.pairs, progress)

    def hints(self, data: Views, progress: bool) -> tuple[np.ndarray, float]:
        hints = stereo_hints(data.images, progress)
        return hints, float((hints > 0).mean())

    def batch_loss(self, trainee: Trainee, data: Views, config: Any, mean: np.ndarray, std: np.ndarray,
                   hints: np.ndarray | None) -> Callable[..., torch.Tensor]:
        return stereo_batch_loss(trainee, data, config, mean, std, hints)

    def output_record(self) -> dict[str, Any]:
        return {**super().output_record(),
                "stereo": "disparity_px = (output - output_bias_shift) * 0.1 * width; depth = f*B / disparity_px"}


def stereo_batch_loss(trainee: Trainee, data: Views, config: Any, mean: np.ndarray, std: np.ndarray,
                      hints: np.ndarray | None = None) -> Callable[..., torch.Tensor]:
    """One random batch's loss: the left view from the right one, or with probability `augment.flip` the
    mirrored right view from the mirrored left one (a mirrored pair with its views swapped is again a pair);
    `hints`: the pairs' `stereo_hints` (pixels), or None for the photometric objective alone."""
    width = data.images.shape[-1]
    pixels = DISPARITY_UNIT * width

    def batch_loss(rng: np.random.Generator, net: torch.nn.Module = trainee, part: slice = slice(None)):
        index = rng.integers(0, len(data), size=config.batch_size)
        pairs = data.take(index)
        swap = rng.random(len(index)) < config.augment.flip
        target = np.where(swap[:, None, None, None], pairs[:, 1, :, :, ::-1], pairs[:, 0])
        source = np.where(swap[:, None, None, None], pairs[:, 0, :, :, ::-1], pairs[:, 1])
        image = network_input(target, mean, std, rng, config)
        target_t, source_t = (torch.from_numpy(np.ascontiguousarray(a)) for a in (target, source))
        hint_px = None if hints is None else torch.from_numpy(hints[index, swap.astype(np.int64)][:, None])
        image, target_t, source_t = on_device(trainee, image, target_t, source_t)
        hint = None
        if hint_px is not None:
            (hint_px,) = on_device(trainee, hint_px)
            hint = stereo_hint(target_t, source_t, hint_px, pixels)
        scales, _ = net(image)
        loss, _ = multiscale_loss(scales, target_t, [source_t], lambda disp: [warp_stereo(source_t, disp * pixels)],
                                  hint=hint)
        return loss

    return batch_loss
