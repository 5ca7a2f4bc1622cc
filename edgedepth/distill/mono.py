"""Mono distillation: train a student to match a teacher's relative inverse depth (SSI + gradient loss)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedepth.checkpoint import StudentInfo, save_student
from edgedepth.distill.augment import Augment, augment_batch
from edgedepth.distill.dataset import DistillSet, build_distill_set
from edgedepth.distill.head import lift_output_bias, linear_head
from edgedepth.distill.loop import optimise
from edgedepth.losses import ssi_loss
from edgedepth.models import create_model
from edgedepth.specs import input_spec
from edgedepth.teachers import create_teacher


@dataclass
class DistillConfig:
    """Everything that decides a distillation run; recorded in the checkpoint."""

    model: str = "midas_small_lite0"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] = (128, 192)
    teacher: str = "sgbm"
    scenes: int = 200
    teacher_scale: int = 2
    steps: int = 600
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    grad_alpha: float = 0.5
    scale_anchor: float = 0.01
    seed: int = 0
    threads: int = 2
    augment: Augment = field(default_factory=Augment)


@torch.no_grad()
def fixed_set_loss(model: torch.nn.Module, data: DistillSet, count: int = 16, alpha: float = 0.5) -> float:
    """SSI loss of the model in eval mode on the first `count` samples: a noise-free progress measure."""
    was_training = model.training
    model.eval()
    n = min(count, len(data))
    images = torch.from_numpy(data.images[:n])
    loss = ssi_loss(model(images), torch.from_numpy(data.targets[:n]), torch.from_numpy(data.masks[:n]), alpha=alpha)
    model.train(was_training)
    return float(loss)


def train_student(model: torch.nn.Module, data: DistillSet, config: DistillConfig, progress: bool = True) -> dict:
    """Run the optimisation loop in place (head linear while training); returns a small training log."""
    with linear_head(model):
        log = _optimise(model, data, config, progress)
    log["output_bias_shift"] = lift_output_bias(model, data.images)
    log["fixed_set_loss_after"] = fixed_set_loss(model, data, alpha=config.grad_alpha)
    return log


def _optimise(model: torch.nn.Module, data: DistillSet, config: DistillConfig, progress: bool) -> dict:
    """The optimisation loop proper on augmented random batches, with the fixed-set loss before it."""
    before = fixed_set_loss(model, data, alpha=config.grad_alpha)
    mean, std = np.asarray(data.mean, np.float32), np.asarray(data.std, np.float32)

    def batch_loss(rng: np.random.Generator) -> torch.Tensor:
        index = rng.integers(0, len(data), size=config.batch_size)
        images, targets, masks = (torch.from_numpy(a) for a in augment_batch(
            data.images[index], data.targets[index], data.masks[index], mean, std, rng, config.augment))
        images = images.contiguous(memory_format=torch.channels_last)
        return ssi_loss(model(images), targets, masks, alpha=config.grad_alpha, scale_anchor=config.scale_anchor)

    return {**optimise(model, batch_loss, config, "distill", progress), "fixed_set_loss_before": before}


def distill(config: DistillConfig, out_path: Path, force: bool = False, progress: bool = True) -> Path:
    """Build the student and the teacher, make the distillation set, train, and save the checkpoint."""
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = create_model(config.model, **config.model_kwargs)
    teacher = create_teacher(config.teacher)
    info = StudentInfo(
        config=dict(model.config),
        input_size=tuple(config.input_size),
        mean=list(model.input_mean),
        std=list(model.input_std),
        output_kind=model.output_kind,
        teacher=teacher.identity(),
    )
    spec = input_spec(info)
    data = build_distill_set(teacher, spec, config.scenes, config.seed, config.teacher_scale, progress)
    log = train_student(model, data, config, progress)
    info.training = {"config": {**asdict(config), "input_size": list(config.input_size)}, "log": log,
                     "data": {"dataset": "procedural", "scenes": config.scenes, "seed": config.seed,
                              "valid_fraction": round(float(data.masks.mean()), 4)}}
    return save_student(Path(out_path), model, info, force=force)
