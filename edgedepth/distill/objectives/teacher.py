"""Distillation from a teacher (`distill`, every task): the teacher labels procedural scenes or a user's photos
once, and the student learns its maps with the loss its task names (SSI or scale-invariant log for depth, smooth
L1 for disparity), optionally next to the scenes' exact ground truth.

The student's output kind follows the teacher for mono (relative teachers train relative inverse depth, metric
teachers metric depth) and is the task's own for stereo (disparity); the checkpoint records which it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedepth.data.images import ImageFolder
from edgedepth.data.registry import procedural_training_samples
from edgedepth.distill.dataset import DistillSet, build_distill_set
from edgedepth.distill.head import level_output_bias, lift_output_bias
from edgedepth.distill.loop import fixed_set_loss, on_device
from edgedepth.distill.monitor import CurveMonitor
from edgedepth.distill.objectives.registry import Objective, register_objective
from edgedepth.distill.run import Run, fit
from edgedepth.errors import ConfigError, EdgeDepthError
from edgedepth.tasks import Task
from edgedepth.teachers.base import Teacher
from edgedepth.teachers.cache import CachedTeacher, build_teacher
from runtime.bundle import DISPARITY, METRIC, MONO, RELATIVE, STEREO

LOSS_NAMES = {RELATIVE: "ssi", METRIC: "silog", DISPARITY: "smooth-l1"}  # what the checkpoint says it trained with


@register_objective
class Distillation(Objective):
    """A student learns a teacher's predictions (`--teacher SPEC`)."""

    name = "distill"
    summary = "learn a teacher's predictions (--teacher SPEC) on procedural scenes or your photos"
    tasks = (MONO, STEREO)
    distributed = True

    def _config_class(self, task: Task) -> type:
        """The task's distillation config (mono and stereo differ)."""
        return task.config

    def check(self, config: Any, task: Task) -> None:
        if config.augment.flip and task.output_kind == DISPARITY:
            raise ConfigError(f"{task.name} distillation takes no flip augmentation: mirroring a pair swaps its "
                              "views (set augment=Augment(flip=0.0))")
        if config.augment.zoom and task.output_kind == DISPARITY:
            raise ConfigError(f"{task.name} distillation takes no framing augmentation (zoom): rescaling a pair "
                              "changes its disparity")

    def prepare(self, student: nn.Module, spec: dict, config: Any, task: Task, progress: bool) -> Run:
        teacher = build_teacher(config.teacher, config.teacher_kwargs, config.cache)
        kind = student_kind(teacher, config, task)
        height, width = config.input_size
        samples, record = training_samples(config, height, width)
        data = build_distill_set(teacher, spec, samples, progress, with_gt=config.gt_weight > 0, views=task.views,
                                 target=task.target)
        monitor = CurveMonitor(task.curve(spec), config.eval_every) if config.eval_every > 0 else None
        run = distillation_run(student, data, config, task, kind, monitor, teacher)
        run.record = {"data": {**record, **data_record(data, student, kind)}, "loss": LOSS_NAMES[kind],
                      "supervision": {"teacher": 1.0, "ground_truth": config.gt_weight}}
        return run


def student_kind(teacher: Teacher, config: Any, task: Task) -> str:
    """What the student of `teacher` predicts: the task's own output kind, else metric depth from a metric teacher
    and relative inverse depth from any other; refused in one line where teacher, data and task do not fit."""
    if task.output_kind is not None and teacher.kind != task.output_kind:
        raise ConfigError(f"{task.name} distillation needs a {task.output_kind} teacher; {teacher.name!r} predicts "
                          f"{teacher.kind}")
    if getattr(config, "images", None) is not None and teacher.kind == DISPARITY:
        raise EdgeDepthError(f"{teacher.name} is a stereo teacher and needs rectified pairs; --images gives single "
                             "photos (use a mono teacher: hf:, onnx: or midas_v21_small:)")
    kind = task.output_kind or (METRIC if teacher.kind == METRIC else RELATIVE)
    if config.gt_weight > 0 and kind == METRIC:
        raise EdgeDepthError("--gt-weight mixes in relative ground truth; a metric teacher trains a metric student")
    return kind


def training_samples(config: Any, height: int, width: int) -> tuple[Any, dict[str, Any]]:
    """The samples the teacher labels, and what the checkpoint records about them (for verify's held-out set):
    the config's photos, else procedural scenes at `teacher_scale`× the input (rendered at `scene_aspect` × the
    width high where the config has one, then squeezed to the input)."""
    images = getattr(config, "images", None)
    if images is None:
        aspect = getattr(config, "scene_aspect", None)
        render_height = height if aspect is None else max(1, round(width * aspect))
        samples = procedural_training_samples(config.scenes, config.seed, render_height, width, config.teacher_scale,
                                              config.scene_family)
        return samples, {"dataset": "procedural", "scenes": config.scenes, "seed": config.seed,
                         "family": config.scene_family}
    if config.gt_weight > 0:
        raise EdgeDepthError("--gt-weight needs procedural scenes (they have exact depth); photos have none")
    train, held_out = ImageFolder(images, max_side=config.max_side).split(config.holdout)
    record = {"dataset": "images", "folder": str(Path(images).resolve()), "max_side": config.max_side,
              "train_images": len(train), "holdout": held_out.files}
    return train, record


def data_record(data: DistillSet, student: nn.Module, kind: str) -> dict[str, Any]:
    """What the checkpoint says about the labelled set: the valid fraction of the targets and, for disparity, their
    range against the student's largest disparity and whether ground truth was mixed in."""
    record: dict[str, Any] = {"valid_fraction": round(float(data.masks.mean()), 4)}
    if kind == DISPARITY:
        valid = data.targets[data.masks]
        max_disparity = getattr(student, "max_disparity", None)
        record.update(target_max=round(float(valid.max()), 3) if valid.size else 0.0,
                      beyond_max_disparity=(round(float(np.mean(valid >= max_disparity)), 4)
                                            if max_disparity and valid.size else 0.0),
                      ground_truth=data.gt is not None)
    return record


def distillation_run(model: nn.Module, data: DistillSet, config: Any, task: Task, kind: str = RELATIVE,
                     monitor: CurveMonitor | None = None, teacher: Teacher | None = None) -> Run:
    """The loop's side of distillation on a labelled set: a metric student's output bias levelled at the targets'
    median first; the fixed-set loss before and after; afterwards a relative student's bias lifted clear of the
    final ReLU (its loss is shift-invariant)."""
    plain = fixed_set(model, data, config, task, kind)
    first_view = next(iter(data.views.values()))
    log: dict[str, Any] = {}
    if kind == METRIC:
        log["output_bias_level"] = level_output_bias(model, first_view, float(np.median(data.targets[data.masks])))

    def finish() -> dict[str, Any]:
        after: dict[str, Any] = {}
        if kind == RELATIVE:
            after["output_bias_shift"] = lift_output_bias(model, first_view)
        after["fixed_set_loss_after"] = fixed_set_loss(model, plain, len(data))
        if isinstance(teacher, CachedTeacher):
            after["teacher_cache"] = teacher.stats()
        return after

    return Run(model, distillation_batch_loss(model, data, config, task, kind), kind,
               teacher={} if teacher is None else teacher.identity(), log=log,
               start=lambda: {"fixed_set_loss_before": fixed_set_loss(model, plain, len(data))}, finish=finish,
               monitor=monitor, desc=f"distill {task.name}")


def train_student(model: nn.Module, data: DistillSet, config: Any, task: Task, kind: str = RELATIVE,
                  progress: bool = True, monitor: CurveMonitor | None = None) -> dict[str, Any]:
    """Distil `model` in place on a labelled set (one process); returns the log."""
    run = distillation_run(model, data, config, task, kind, monitor)
    return {**run.log, **fit(model, run, config, progress)}


def fixed_set(model: nn.Module, data: DistillSet, config: Any, task: Task,
              kind: str) -> Callable[[np.ndarray], torch.Tensor]:
    """The un-augmented training loss on the samples at an index (what `fixed_set_loss` measures)."""

    def loss_on(index: np.ndarray) -> torch.Tensor:
        gt = (None, None) if data.gt is None else (torch.from_numpy(data.gt[index]),
                                                     torch.from_numpy(data.gt_masks[index]))
        pred = model(*(torch.from_numpy(view) for view in data.inputs(index)))
        return task.loss(pred, torch.from_numpy(data.targets[index]), torch.from_numpy(data.masks[index]), kind,
                         config, *gt)

    return loss_on


def distillation_batch_loss(model: nn.Module, data: DistillSet, config: Any, task: Task,
                            kind: str) -> Callable[..., torch.Tensor]:
    """The loss of `part` of one random batch, augmented as the task says, through `net` (see `loop.optimise`)."""
    mean, std = np.asarray(data.mean, np.float32), np.asarray(data.std, np.float32)

    def batch_loss(rng: np.random.Generator, net: nn.Module = model, part: slice = slice(None)) -> torch.Tensor:
        index = rng.integers(0, len(data), size=config.batch_size)
        targets, masks = data.targets[index], data.masks[index]
        if data.gt is not None:  # teacher and ground truth stacked as N×2×H×W: one mirror flips both
            targets, masks = np.stack([targets, data.gt[index]], 1), np.stack([masks, data.gt_masks[index]], 1)
        views, targets, masks = task.augment(data.inputs(index), targets, masks, mean, std, rng, config.augment)
        inputs = [torch.from_numpy(view[part]).contiguous(memory_format=torch.channels_last) for view in views]
        *inputs, targets, masks = on_device(net, *inputs, torch.from_numpy(targets[part]),
                                            torch.from_numpy(masks[part]))
        pred = net(*inputs)
        if data.gt is not None:
            return task.loss(pred, targets[:, 0], masks[:, 0], kind, config, targets[:, 1], masks[:, 1])
        return task.loss(pred, targets, masks, kind, config)

    return batch_loss
