"""Mono distillation: train a student to match a mono teacher on procedural scenes or a folder of photos.

What the loss is follows the teacher's output kind: relative teachers (inverse depth up to scale and shift, or
disparity) train with the scale-and-shift-invariant loss plus gradient matching, metric teachers (depth in
metres) with the scale-invariant log loss, and the student's checkpoint records which kind it now predicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedepth.checkpoint import StudentInfo, init_weights, save_student
from edgedepth.data.images import ImageFolder
from edgedepth.data.registry import procedural_training_samples
from edgedepth.distill.augment import augment_batch
from edgedepth.distill.config import DistillConfig
from edgedepth.distill.dataset import DistillSet, build_distill_set
from edgedepth.distill.distributed import World, process_group, split_batch
from edgedepth.distill.head import level_output_bias, lift_output_bias, linear_head
from edgedepth.distill.loop import fixed_set_loss, on_device, optimise
from edgedepth.distill.monitor import CurveMonitor, mono_evaluator, write_curve
from edgedepth.distill.resume import TrainingState, start_run
from edgedepth.errors import ConfigError, EdgeDepthError
from edgedepth.losses import metric_depth_loss, ssi_loss
from edgedepth.models import create_model
from edgedepth.specs import input_spec
from edgedepth.teachers.cache import CachedTeacher, build_teacher
from runtime.bundle import DISPARITY, METRIC, RELATIVE


def student_kind(teacher_kind: str) -> str:
    """What a student of this teacher predicts: metric depth from a metric teacher, else relative inverse depth
    (a disparity teacher's output is inverse depth up to scale and shift)."""
    return METRIC if teacher_kind == METRIC else RELATIVE


def batch_objective(pred: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor, kind: str,
                    config: DistillConfig, gt: torch.Tensor | None = None,
                    gt_masks: torch.Tensor | None = None) -> torch.Tensor:
    """The loss for a student of `kind`: scale-invariant log for metric depth, SSI + gradients for relative;
    plus gt_weight × the same relative loss against the exact disparity when it is given."""
    if kind == METRIC:
        return metric_depth_loss(pred, targets, masks)
    loss = ssi_loss(pred, targets, masks, alpha=config.grad_alpha, scale_anchor=config.scale_anchor)
    if gt is not None and config.gt_weight > 0:
        loss = loss + config.gt_weight * ssi_loss(pred, gt, gt_masks, alpha=config.grad_alpha)
    return loss


def _gt_tensors(data: DistillSet, index) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The set's ground truth and its validity at `index` as tensors, or (None, None) without ground truth."""
    if data.gt is None or data.gt_masks is None:
        return None, None
    return torch.from_numpy(data.gt[index]), torch.from_numpy(data.gt_masks[index])


def _plain_loss(model: torch.nn.Module, data: DistillSet, config: DistillConfig,
                kind: str) -> Callable[[np.ndarray], torch.Tensor]:
    """The un-augmented training loss on the samples at an index (what `fixed_set_loss` measures)."""
    return lambda index: batch_objective(
        model(torch.from_numpy(data.images[index])), torch.from_numpy(data.targets[index]),
        torch.from_numpy(data.masks[index]), kind, config, *_gt_tensors(data, index))


def train_student(model: torch.nn.Module, data: DistillSet, config: DistillConfig, kind: str = RELATIVE,
                  progress: bool = True, monitor: CurveMonitor | None = None, state: TrainingState | None = None,
                  world: World | None = None) -> dict:
    """Run the optimisation loop in place with the head linear; afterwards a relative student's output bias is
    lifted clear of the final ReLU (its loss is shift-invariant), a metric student's is left as trained.
    `state` and `world`: the loop's resumable state and the ranks sharing the work (see `optimise`)."""
    log: dict[str, Any] = {}
    if kind == METRIC:
        log["output_bias_level"] = level_output_bias(model, data.images, float(np.median(data.targets[data.masks])))
    with linear_head(model):
        log.update(_optimise(model, data, config, kind, progress, monitor, state, world))
    if kind != METRIC:
        log["output_bias_shift"] = lift_output_bias(model, data.images)
    log["fixed_set_loss_after"] = fixed_set_loss(model, _plain_loss(model, data, config, kind), len(data))
    return log


def _optimise(model: torch.nn.Module, data: DistillSet, config: DistillConfig, kind: str, progress: bool,
              monitor: CurveMonitor | None = None, state: TrainingState | None = None,
              world: World | None = None) -> dict:
    """The optimisation loop proper on augmented random batches, with the fixed-set loss before it."""
    before = fixed_set_loss(model, _plain_loss(model, data, config, kind), len(data))
    mean, std = np.asarray(data.mean, np.float32), np.asarray(data.std, np.float32)

    def batch_loss(rng: np.random.Generator, net: torch.nn.Module = model, part: slice = slice(None)) -> torch.Tensor:
        """The loss of `part` of one random augmented batch, through `net`."""
        index = rng.integers(0, len(data), size=config.batch_size)
        targets, masks = data.targets[index], data.masks[index]
        if data.gt is not None:  # teacher and ground truth stacked as N×2×H×W: one mirror flips both
            targets, masks = np.stack([targets, data.gt[index]], 1), np.stack([masks, data.gt_masks[index]], 1)
        images, targets, masks = (torch.from_numpy(a[part]) for a in augment_batch(
            data.images[index], targets, masks, mean, std, rng, config.augment))
        images, targets, masks = on_device(net, images.contiguous(memory_format=torch.channels_last), targets, masks)
        if data.gt is not None:
            return batch_objective(net(images), targets[:, 0], masks[:, 0], kind, config, targets[:, 1], masks[:, 1])
        return batch_objective(net(images), targets, masks, kind, config)

    log = optimise(model, batch_loss, config, "distill", progress, monitor, state, world)
    return {**log, "fixed_set_loss_before": before}


def training_samples(config: DistillConfig, height: int, width: int) -> tuple[Any, dict[str, Any]]:
    """The samples the teacher labels, and what the checkpoint records about them (for verify's held-out set)."""
    if config.images is None:
        samples = procedural_training_samples(config.scenes, config.seed, height, width, config.teacher_scale,
                                              config.scene_family)
        return samples, {"dataset": "procedural", "scenes": config.scenes, "seed": config.seed,
                         "family": config.scene_family}
    if config.gt_weight > 0:
        raise EdgeDepthError("--gt-weight needs procedural scenes (they have exact depth); photos have none")
    train, held_out = ImageFolder(config.images, max_side=config.max_side).split(config.holdout)
    record = {"dataset": "images", "folder": str(Path(config.images).resolve()), "max_side": config.max_side,
              "train_images": len(train), "holdout": held_out.files}
    return train, record


def distill(config: DistillConfig, out_path: Path, force: bool = False, progress: bool = True) -> Path:
    """Build the student and the teacher, make the distillation set, train, and save the checkpoint; under
    torchrun every rank trains on its share of each batch and rank 0 alone writes. `self:stereo` and `self:video`
    train on the self-supervised objective instead (one process)."""
    from edgedepth.distill.selfsup import distill_self, is_self_supervised

    if is_self_supervised(config.teacher):
        return distill_self(config, Path(out_path), force, progress)
    if config.pairs is not None:
        raise EdgeDepthError("--pairs trains without a teacher: use it with --teacher self:stereo")
    if config.frames is not None or config.intrinsics is not None or config.frame_step != 1:
        raise EdgeDepthError("--frames trains without a teacher: use it (and --intrinsics, --frame-step) with "
                             "--teacher self:video")
    with process_group(config.device) as world:
        return _distill(config, Path(out_path), force, progress and world.main, world)


def _distill(config: DistillConfig, out_path: Path, force: bool, progress: bool, world: World) -> Path:
    """`distill` on one rank of `world`."""
    split_batch(config.batch_size, world.size, config.micro_batches)
    state = start_run(config, out_path)
    model = create_model(config.model, **config.model_kwargs)
    if getattr(model, "output_kind", None) == DISPARITY:
        raise ConfigError(f"{config.model} is a stereo student; mono distillation needs a mono model")
    if config.init is not None:
        init_weights(model, Path(config.init), config.trust_pickle, source=f"--init {config.init}")
    teacher = build_teacher(config.teacher, config.teacher_kwargs, config.cache)
    if config.images is not None and teacher.kind == DISPARITY:
        raise EdgeDepthError(f"{teacher.name} is a stereo teacher and needs rectified pairs; --images gives single "
                             "photos (use a mono teacher: hf:, onnx: or midas_v21_small:)")
    kind = student_kind(teacher.kind)
    if config.gt_weight > 0 and kind == METRIC:
        raise EdgeDepthError("--gt-weight mixes in relative ground truth; a metric teacher trains a metric student")
    info = StudentInfo(
        config=dict(model.config),
        input_size=tuple(config.input_size),
        mean=list(model.input_mean),
        std=list(model.input_std),
        output_kind=kind,
        teacher=teacher.identity(),
    )
    height, width = config.input_size
    samples, record = training_samples(config, height, width)
    data = build_distill_set(teacher, input_spec(info), samples, progress, with_gt=config.gt_weight > 0)
    monitor = CurveMonitor(mono_evaluator(input_spec(info)), config.eval_every) if config.eval_every > 0 else None
    log = train_student(model, data, config, kind, progress, monitor, state, world)
    if monitor is not None:
        log["curve"] = {"rows": monitor.rows, "baselines": monitor.evaluator.baselines}
    if isinstance(teacher, CachedTeacher):
        log["teacher_cache"] = teacher.stats()
    info.training = {"config": {**asdict(config), "input_size": list(config.input_size)}, "log": log,
                     "data": {**record, "valid_fraction": round(float(data.masks.mean()), 4)},
                     "loss": "silog" if kind == METRIC else "ssi",
                     "supervision": {"teacher": 1.0, "ground_truth": config.gt_weight}}
    if not world.main:
        return out_path
    saved = save_student(out_path, model, info, force=force)
    state.clear()
    if monitor is not None:
        write_curve(saved, monitor.rows, ("heldout_delta1", "motorcycle_delta1"), monitor.evaluator.baselines)
    return saved
