"""Training a mono student with no teacher: the Monodepth2 objective on rectified stereo pairs (`self:stereo`) or
on video clips with a pose network (`self:video`).

The student is the ordinary mono student and its output keeps its meaning: relative inverse depth. During
training that output, read through the linear head, is the disparity itself in units of a tenth of the input
width (stereo: the left view's disparity to the right view, d_px = value · 0.1 · width; video: inverse depth,
depth = 1 / value, its scale shared with the pose network's translations). A known stereo rig would make the
values metric (depth = f·B / d_px), but the checkpoint declares relative inverse depth: the network outputs a
disparity, not depth, its bias is lifted after training (as every relative student's) and f·B belongs to the rig;
the record keeps the unit, the shift and f·B so that depth can be recovered where the rig is known.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from edgedepth.checkpoint import StudentInfo, init_weights, save_student
from edgedepth.distill.augment import exposed, exposure_draws
from edgedepth.distill.config import DistillConfig
from edgedepth.distill.head import level_output_bias, lift_output_bias, linear_head
from edgedepth.distill.loop import on_device, optimise
from edgedepth.distill.resume import start_run
from edgedepth.errors import ConfigError, EdgeDepthError
from edgedepth.models import create_model
from edgedepth.selfsup.data import Views, frame_clips, stereo_views, video_clips
from edgedepth.selfsup.floor import floored
from edgedepth.selfsup.hints import (
    HINT_CHOICES,
    HINT_SOURCES,
    flow_hints,
    mirrored_flows,
    stereo_hint,
    stereo_hints,
    video_hint,
)
from edgedepth.selfsup.objective import multiscale_loss
from edgedepth.selfsup.pose import PoseNet
from edgedepth.selfsup.trainee import Trainee
from edgedepth.selfsup.warp import pose_matrix, project_video, sample_at, warp_stereo
from edgedepth.teachers.registry import create_teacher
from runtime.bundle import DISPARITY, RELATIVE

DISPARITY_UNIT = 0.1  # an output of 1 is a disparity of a tenth of the input width
START_LEVEL = 0.3  # the outputs' starting median: d = 3 % of the width (procedural rigs: about 5.6 m)
BIAS_EXAMPLES = 256
MIN_INVERSE_DEPTH = 0.01  # video: depth = 1 / max(value, this), at most 100 units away


def is_self_supervised(teacher: str) -> bool:
    """Whether a teacher spec asks for self-supervision (`self:stereo`, `self:video`) instead of a teacher."""
    return teacher.partition(":")[0] == "self"


def _check(config: DistillConfig, mode: str) -> None:
    """One-line refusals of what self-supervision cannot use."""
    if config.pairs is not None and config.frames is not None:
        raise EdgeDepthError("--pairs and --frames are two sources of training data: give one")
    if config.images is not None:
        raise EdgeDepthError(f"self:{mode} learns from pairs or frames, not single photos: drop --images "
                             "(self:stereo takes rectified pairs with --pairs DIR, self:video a video with "
                             "--frames PATH)")
    if config.pairs is not None and mode != "stereo":
        raise EdgeDepthError("--pairs DIR holds rectified stereo pairs: use it with --teacher self:stereo")
    if (config.frames is not None or config.intrinsics is not None or config.frame_step != 1) and mode != "video":
        raise EdgeDepthError("--frames PATH holds a video: use it (and --intrinsics, --frame-step) with "
                             "--teacher self:video")
    if config.frames is None and (config.intrinsics is not None or config.frame_step != 1):
        raise EdgeDepthError("--intrinsics and --frame-step describe a user's video: give it with --frames PATH")
    if config.gt_weight > 0:
        raise EdgeDepthError(f"--gt-weight mixes in ground truth; self:{mode} trains on images alone")
    if config.micro_batches != 1:
        raise EdgeDepthError(f"--accumulate is not available with self:{mode}")
    if config.eval_every > 0:
        raise EdgeDepthError(f"--eval-every is not available with self:{mode}; measure with edgedepth verify")
    unknown = sorted(set(config.teacher_kwargs or {}) - {"hints"})
    if unknown:
        raise EdgeDepthError(f"self:{mode} takes one --teacher-arg, hints=on|off; got {', '.join(unknown)}")
    hints = str((config.teacher_kwargs or {}).get("hints", "on"))
    if hints not in HINT_CHOICES:
        raise EdgeDepthError(f"--teacher-arg hints={hints}: expected one of {', '.join(HINT_CHOICES)}")


def _hints_wanted(config: DistillConfig) -> bool:
    """Whether a run uses classical hints (the default; --teacher-arg hints=off leaves them out)."""
    return str((config.teacher_kwargs or {}).get("hints", "on")) == "on"


def _normalised(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """0..1 N×3×H×W images in the student's normalisation."""
    return (images - mean) / std


def _network_input(images: np.ndarray, mean: np.ndarray, std: np.ndarray, rng: np.random.Generator,
                   config: DistillConfig) -> torch.Tensor:
    """The student's input for 0..1 images: normalised, with the exposure and noise augmentation (the loss keeps
    comparing the un-augmented colours, as Monodepth2's does)."""
    gain, bias, sigma = exposure_draws(rng, images.shape[0], config.augment)
    out = exposed(_normalised(images, mean, std).astype(np.float32), mean, std, gain, bias, sigma, rng)
    return torch.from_numpy(out).contiguous(memory_format=torch.channels_last)


def stereo_batch_loss(trainee: Trainee, data: Views, config: DistillConfig, mean: np.ndarray, std: np.ndarray,
                      hints: np.ndarray | None = None):
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
        image = _network_input(target, mean, std, rng, config)
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


def video_batch_loss(trainee: Trainee, data: Views, config: DistillConfig, mean: np.ndarray, std: np.ndarray,
                     hints: np.ndarray | None = None):
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
        image = _network_input(clips[:, 1], mean, std, rng, config)
        frames = torch.from_numpy(np.ascontiguousarray(clips))
        normalised = torch.from_numpy(_normalised(clips.reshape(-1, *clips.shape[2:]), mean, std)
                                      .astype(np.float32)).reshape(clips.shape)
        pairs = torch.cat([torch.cat([normalised[:, 0], normalised[:, 1]], 1),  # previous → middle
                           torch.cat([normalised[:, 1], normalised[:, 2]], 1)])  # middle → next
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


def distill_self(config: DistillConfig, out_path: Path, force: bool = False, progress: bool = True) -> Path:
    """Train the mono student of `config` on the self-supervised objective its teacher spec names and save it."""
    out_path = Path(out_path)
    reference = create_teacher(config.teacher)
    mode = reference.mode
    _check(config, mode)
    state = start_run(config, out_path)
    student = create_model(config.model, **config.model_kwargs)
    if getattr(student, "output_kind", None) == DISPARITY or not hasattr(student, "scratch"):
        raise ConfigError(f"{config.model} is not a mono student of the MiDaS structure; self:{mode} trains one")
    if config.init is not None:
        init_weights(student, Path(config.init), config.trust_pickle, source=f"--init {config.init}")
    height, width = config.input_size
    if mode == "stereo":
        data = stereo_views(height, width, config.scenes, config.seed, config.teacher_scale, config.scene_family,
                            config.pairs, progress)
    elif config.frames is not None:
        data = frame_clips(height, width, config.frames, config.intrinsics, config.frame_step, progress)
    else:
        data = video_clips(height, width, config.scenes, config.seed, config.teacher_scale, config.scene_family,
                           progress)
    mean = np.asarray(student.input_mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(student.input_std, np.float32).reshape(1, 3, 1, 1)
    # The output's level and its bias lift look at up to BIAS_EXAMPLES targets spread over the data (every one of
    # a procedural set): a user's long video is not copied whole once more, nor run through the student whole.
    spread = np.unique(np.linspace(0, len(data) - 1, min(len(data), BIAS_EXAMPLES)).astype(int))
    targets = _normalised(data.take(spread)[:, 0 if mode == "stereo" else 1], mean, std).astype(np.float32)
    log: dict = {"output_bias_level": level_output_bias(student, targets[:64], START_LEVEL)}
    trainee = Trainee(student, PoseNet() if mode == "video" else None, START_LEVEL)
    hints = None
    if _hints_wanted(config):
        hints = stereo_hints(data.images, progress) if mode == "stereo" else flow_hints(data.take, len(data), progress)
        valid = (hints > 0) if mode == "stereo" else np.isfinite(hints).all(2)
        log["hints"] = {"source": HINT_SOURCES[mode], "valid_fraction": float(valid.mean())}
    batch_loss = (stereo_batch_loss if mode == "stereo" else video_batch_loss)(trainee, data, config, mean, std, hints)
    with linear_head(student):
        log.update(optimise(trainee, batch_loss, config, f"self:{mode}", progress, None, state))
    student = trainee.release()
    shift = lift_output_bias(student, targets)
    log["output_bias_shift"] = shift
    output = {"meaning": "relative inverse depth", "disparity_unit_of_width": DISPARITY_UNIT,
              "trained_value": "output - output_bias_shift"}
    if mode == "stereo":
        output["stereo"] = "disparity_px = (output - output_bias_shift) * 0.1 * width; depth = f*B / disparity_px"
    info = StudentInfo(config=dict(student.config), input_size=tuple(config.input_size), mean=list(student.input_mean),
                       std=list(student.input_std), output_kind=RELATIVE, teacher=reference.identity())
    info.training = {"config": {**asdict(config), "input_size": list(config.input_size)}, "log": log,
                     "data": data.record, "loss": "monodepth2-self-supervised", "output": output,
                     "supervision": {"self": mode, "teacher": 0.0, "ground_truth": 0.0,
                                     "hints": HINT_SOURCES[mode] if _hints_wanted(config) else None}}
    saved = save_student(out_path, student, info, force=force)
    state.clear()
    return saved
