"""`self:video`: a mono student learns from video with no teacher (Monodepth2's objective: the middle frame of a
clip rebuilt from its neighbours through the predicted depth and a pose network's motions), hinted by DIS
optical flow in each clip."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedepth.distill.loop import on_device
from edgedepth.distill.objectives.registry import register_objective
from edgedepth.distill.objectives.self_supervised import (
    SelfSupervised,
    SelfSupervisedConfig,
    network_input,
    normalised,
)
from edgedepth.errors import EdgeDepthError
from edgedepth.selfsup.data import Views, frame_clips, video_clips
from edgedepth.selfsup.floor import floored
from edgedepth.selfsup.hints import flow_hints, mirrored_flows, video_hint
from edgedepth.selfsup.objective import multiscale_loss
from edgedepth.selfsup.pose import PoseNet
from edgedepth.selfsup.trainee import Trainee
from edgedepth.selfsup.warp import pose_matrix, project_video, sample_at
from edgedepth.tasks import Task

MIN_INVERSE_DEPTH = 0.01  # depth = 1 / max(value, this), at most 100 units away


@dataclass
class SelfVideoConfig(SelfSupervisedConfig):
    """Self-supervision on video: the shared fields, plus a user's video and how to read it."""

    frames: str | None = None  # a folder of frames (sorted by name) or a video file instead of procedural sequences
    intrinsics: str | None = None  # with frames: 3×3 K or fx fy cx cy (default FOLDER/intrinsics.txt)
    frame_step: int = 1  # with frames: keep every K-th frame (a long or slow video)


@register_objective
class SelfVideo(SelfSupervised):
    """No teacher: the photometric objective on clips of three frames, procedural or `--frames PATH`, flow-hinted."""

    name = "self:video"
    summary = "no teacher: Monodepth2's objective on video (procedural sequences, or --frames PATH), flow-hinted"
    config = SelfVideoConfig
    mode = "video"
    target_view = 1

    def check(self, config: Any, task: Task) -> None:
        super().check(config, task)
        if config.frames is None and (config.intrinsics is not None or config.frame_step != 1):
            raise EdgeDepthError("--intrinsics and --frame-step describe a user's video: give it with --frames PATH")

    def views(self, config: Any, progress: bool) -> Views:
        height, width = config.input_size
        if config.frames is not None:
            return frame_clips(height, width, config.frames, config.intrinsics, config.frame_step, progress)
        return video_clips(height, width, config.scenes, config.seed, config.teacher_scale, config.scene_family,
                           progress)

    def pose(self) -> nn.Module | None:
        return PoseNet()

    def hints(self, data: Views, progress: bool) -> tuple[np.ndarray, float]:
        hints = flow_hints(data.take, len(data), progress)
        return hints, float(np.isfinite(hints).all(2).mean())

    def batch_loss(self, trainee: Trainee, data: Views, config: Any, mean: np.ndarray, std: np.ndarray,
                   hints: np.ndarray | None) -> Callable[..., torch.Tensor]:
        return video_batch_loss(trainee, data, config, mean, std, hints)


def video_batch_loss(trainee: Trainee, data: Views, config: Any, mean: np.ndarray, std: np.ndarray,
                     hints: np.ndarray | None = None) -> Callable[..., torch.Tensor]:
    """One random batch's loss: the middle frame from the previous and the next one through depth and the pose
    network's motions (each clip mirrored with probability `augment.flip`, its principal point with it);
    `hints`: the clips' `flow_hints`, or None for the photometric objective alone."""
    width = data.images.shape[-1]

    def batch_loss(rng: np.random.Generator, net: torch.nn.Module = trainee, part: slice = slice(None)):
        index = rng.integers(0, len(data), size=config.batch_size)
        clips, intrinsics = data.take(index), data.intrinsics[index].copy()
        flip = rng.random(len(index)) < config.augment.flip
        clips[flip] = clips[flip][..., ::-1]
        intrinsics[flip, 0, 2] = (width - 1) - intrinsics[flip, 0, 2]
        flows = None
        if hints is not None:
            flows = hints[index].astype(np.float32)
            flows[flip] = mirrored_flows(flows[flip])
        n = len(index)
        image = network_input(clips[:, 1], mean, std, rng, config)
        frames = torch.from_numpy(np.ascontiguousarray(clips))
        normal = torch.from_numpy(normalised(clips.reshape(-1, *clips.shape[2:]), mean, std)
                                  .astype(np.float32)).reshape(clips.shape)
        pairs = torch.cat([torch.cat([normal[:, 0], normal[:, 1]], 1),  # previous → middle
                           torch.cat([normal[:, 1], normal[:, 2]], 1)])  # middle → next
        image, frames, pairs, k = on_device(trainee, image, frames, pairs, torch.from_numpy(intrinsics))
        scales, (axis_angle, translation) = net(image, pairs.contiguous(memory_format=torch.channels_last))
        to_previous = pose_matrix(axis_angle[:n], translation[:n], invert=True)
        to_next = pose_matrix(axis_angle[n:], translation[n:])
        sources = [frames[:, 0], frames[:, 2]]

        def project(disp: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
            depth = 1.0 / floored(disp, MIN_INVERSE_DEPTH)
            return [project_video(depth, k, motion) for motion in (to_previous, to_next)]

        def synthesise(disp: torch.Tensor) -> list[torch.Tensor]:
            return [sample_at(source, x, y) for source, (x, y) in zip(sources, project(disp), strict=True)]

        hint = None
        if flows is not None:
            (flows_t,) = on_device(trainee, torch.from_numpy(flows))
            hint = video_hint(frames[:, 1], sources, flows_t, project)
        loss, _ = multiscale_loss(scales, frames[:, 1], sources, synthesise, hint=hint)
        return loss

    return batch_loss
