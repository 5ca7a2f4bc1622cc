"""What the self-supervised objectives share (`self:stereo`, `self:video`): a mono student trained with no teacher
on Monodepth2's objective, with classical hints from the training images themselves.

The student is the ordinary mono student and its output keeps its meaning: relative inverse depth. During
training that output, read through the linear head, is the disparity itself in units of a tenth of the input
width (stereo: the left view's disparity to the right view, d_px = value · 0.1 · width; video: inverse depth,
depth = 1 / value, its scale shared with the pose network's translations). A known stereo rig would make the
values metric (depth = f·B / d_px), but the checkpoint declares relative inverse depth: the network outputs a
disparity, not depth, its bias is lifted after training (as every relative student's) and f·B belongs to the rig;
the record keeps the unit, the shift and f·B so that depth can be recovered where the rig is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from edgedepth.distill.augment import exposed, exposure_draws
from edgedepth.distill.config import TrainConfig
from edgedepth.distill.head import level_output_bias, lift_output_bias
from edgedepth.distill.objectives.registry import Objective
from edgedepth.distill.run import Run
from edgedepth.errors import ConfigError
from edgedepth.selfsup.data import Views
from edgedepth.selfsup.hints import HINT_CHOICES, HINT_SOURCES
from edgedepth.selfsup.trainee import Trainee
from edgedepth.tasks import Task
from runtime.bundle import DISPARITY, RELATIVE

DISPARITY_UNIT = 0.1  # an output of 1 is a disparity of a tenth of the input width
START_LEVEL = 0.3  # the outputs' starting median: d = 3 % of the width (procedural rigs: about 5.6 m)
BIAS_EXAMPLES = 256
REFERENCE = "sgbm"  # the teacher a report compares a self-supervised student with, on the evaluation pairs


@dataclass
class SelfSupervisedConfig(TrainConfig):
    """The shared fields, plus weights to start from and whether classical hints join the photometric loss."""

    init: str | None = None  # weights to start from (official MiDaS v2.1 small .pt, or a student checkpoint)
    trust_pickle: bool = False
    hints: str = "on"  # "on": classical hints from the training images (SGBM, DIS flow); "off": photometric alone


def normalised(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """0..1 N×3×H×W images in the student's normalisation."""
    return (images - mean) / std


def network_input(images: np.ndarray, mean: np.ndarray, std: np.ndarray, rng: np.random.Generator,
                  config: Any) -> torch.Tensor:
    """The student's input for 0..1 images: normalised, with the exposure and noise augmentation (the loss keeps
    comparing the un-augmented colours, as Monodepth2's does)."""
    gain, bias, sigma = exposure_draws(rng, images.shape[0], config.augment)
    out = exposed(normalised(images, mean, std).astype(np.float32), mean, std, gain, bias, sigma, rng)
    return torch.from_numpy(out).contiguous(memory_format=torch.channels_last)


class SelfSupervised(Objective):
    """A self-supervised objective: its training views, its hints and the loss of one batch are its own; the
    student's level, the training-only parts, the bias lift and the checkpoint's record are shared here."""

    mode: ClassVar[str]  # "stereo" or "video": the supervision the checkpoint records
    target_view: ClassVar[int]  # the view of an example the student reads (the one the loss reconstructs)

    def check(self, config: Any, task: Task) -> None:
        if config.hints not in HINT_CHOICES:
            raise ConfigError(f"--hints {config.hints}: expected one of {', '.join(HINT_CHOICES)}")

    def check_student(self, model: nn.Module, config: Any) -> None:
        if not hasattr(model, "scratch"):
            raise ConfigError(f"{config.model} is not a mono student of the MiDaS structure; {self.name} trains one")

    def views(self, config: Any, progress: bool) -> Views:
        """The training examples at the input size, in 0..1."""
        raise NotImplementedError

    def pose(self) -> nn.Module | None:
        """The training-only pose network, where the views move (None: a fixed rig)."""
        return None

    def hints(self, data: Views, progress: bool) -> tuple[np.ndarray, float]:
        """The examples' classical hints, and the fraction of them that vouch for something."""
        raise NotImplementedError

    def batch_loss(self, trainee: Trainee, data: Views, config: Any, mean: np.ndarray, std: np.ndarray,
                   hints: np.ndarray | None) -> Callable[..., torch.Tensor]:
        """One random batch's loss through the trainee (`hints`: None for the photometric objective alone)."""
        raise NotImplementedError

    def output_record(self) -> dict[str, Any]:
        """How the trained output reads, as the checkpoint records it."""
        return {"meaning": "relative inverse depth", "disparity_unit_of_width": DISPARITY_UNIT,
                "trained_value": "output - output_bias_shift"}

    def prepare(self, student: nn.Module, spec: dict, config: Any, task: Task, progress: bool) -> Run:
        data = self.views(config, progress)
        mean = np.asarray(student.input_mean, np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(student.input_std, np.float32).reshape(1, 3, 1, 1)
        # The output's level and its bias lift look at up to BIAS_EXAMPLES targets spread over the data (every one
        # of a procedural set): a user's long video is not copied whole once more, nor run through the student whole.
        spread = np.unique(np.linspace(0, len(data) - 1, min(len(data), BIAS_EXAMPLES)).astype(int))
        targets = normalised(data.take(spread)[:, self.target_view], mean, std).astype(np.float32)
        log: dict[str, Any] = {"output_bias_level": level_output_bias(student, targets[:64], START_LEVEL)}
        trainee = Trainee(student, self.pose(), START_LEVEL)
        hints = None
        if config.hints == "on":
            hints, valid = self.hints(data, progress)
            log["hints"] = {"source": HINT_SOURCES[self.mode], "valid_fraction": valid}

        def finish() -> dict[str, Any]:
            return {"output_bias_shift": lift_output_bias(trainee.release(), targets)}

        record = {"data": data.record, "loss": "monodepth2-self-supervised", "output": self.output_record(),
                  "supervision": {"self": self.mode, "teacher": 0.0, "ground_truth": 0.0,
                                  "hints": HINT_SOURCES[self.mode] if config.hints == "on" else None}}
        return Run(trainee, self.batch_loss(trainee, data, config, mean, std, hints), RELATIVE,
                   teacher=self.reference(), record=record, log=log, finish=finish, desc=self.name)

    def reference(self) -> dict[str, Any]:
        """The checkpoint's teacher record: this objective's name and the teacher a report compares the student
        with (`reference`); the family and kind are those checkpoints of self-supervision have always carried."""
        return {"name": self.name, "family": "SelfSupervision", "kind": DISPARITY, "params": {},
                "reference": REFERENCE}
