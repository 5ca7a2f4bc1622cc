"""Tasks: what a student learns and how it is judged. One registered `Task` per kind of student (mono: depth from
one image; stereo: disparity from a rectified pair) names everything that differs by kind: the inputs and the
views of a sample that feed them, the distillation config, how a teacher's map becomes a target, how a batch is
augmented, the loss, the learning curve, the report's metrics and baselines. Training objectives, the measuring
stage and the CLI ask the task instead of testing its name; export, quantize and runtime stay task-agnostic
(they read input specs).

Importing this module imports no torch (the CLI builds its parser from the task registry, and export reads
input names from it): what the task names on the torch side, its loss and its learning-curve evaluator, is
imported on first call by the small functions below."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgedepth.distill.augment import augment_pair_views, augment_single_view
from edgedepth.distill.config import DistillConfig, StereoDistillConfig
from edgedepth.distill.dataset import Target, teacher_disparity, teacher_target
from edgedepth.errors import ConfigError, EdgeDepthError
from edgedepth.evaluation.scoring import DEPTH_SCORING, DISPARITY_SCORING, Scoring, row_metrics
from runtime.bundle import DISPARITY, MONO, STEREO
from runtime.registry import Registry


def _depth_loss(*args: Any) -> Any:
    """`losses.depth_distillation_loss` (torch: imported on first call)."""
    from edgedepth.distill.losses import depth_distillation_loss

    return depth_distillation_loss(*args)


def _disparity_loss(*args: Any) -> Any:
    """`losses.disparity_distillation_loss` (torch: imported on first call)."""
    from edgedepth.distill.losses import disparity_distillation_loss

    return disparity_distillation_loss(*args)


def _depth_curve(spec: dict) -> Any:
    """`monitor.mono_evaluator` (torch: imported on first call)."""
    from edgedepth.distill.monitor import mono_evaluator

    return mono_evaluator(spec)


def _disparity_curve(spec: dict) -> Any:
    """`monitor.stereo_evaluator` (torch: imported on first call)."""
    from edgedepth.distill.monitor import stereo_evaluator

    return stereo_evaluator(spec)


@dataclass(frozen=True)
class Task:
    """A kind of student and everything that differs by kind; registered by `name` (a manifest's `task`)."""

    name: str
    summary: str  # one line for the CLI's help
    input_names: tuple[str, ...]  # the model's inputs in call order (manifest names)
    views: tuple[str, ...]  # the views of a sample that feed those inputs, in the same order
    output_kind: str | None  # what the student predicts when the task decides it; None: its teacher decides
    config: type  # the config of distillation from a teacher (its defaults are the demo recipe)
    target: Target  # a teacher's prediction on a sample → the target and its validity at the input size
    augment: Callable[..., Any]  # (views, targets, masks, mean, std, rng, Augment) → the same, augmented
    loss: Callable[..., Any]  # (pred, targets, masks, output kind, config, gt, gt masks) → the batch's loss
    curve: Callable[[dict], Any]  # input spec → the learning curve's held-out evaluator
    curve_metrics: tuple[str, ...]  # what the learning curve draws (held-out first)
    scoring: Scoring  # how a report row scores the student's outputs
    baselines: bool  # score maps that ignore the image (constant, gradient) next to the student
    sanity: bool  # measure input dependence and mirror equivariance on held-out scenes
    motorcycle_at_input: bool  # also evaluate on the motorcycle pair at the student's input width
    alignment: str | None = None  # how rows are compared, when it does not depend on the output kind

    def row_metrics(self, raw: list, reference_raw: list | None, items: list, output_kind: str) -> dict:
        """A report row's metrics (fidelity, vs_teacher, accuracy) from one artifact's raw outputs on `items`."""
        return row_metrics(raw, reference_raw, items, output_kind, self.scoring)

    def check_student(self, model: Any, name: str, input_size: tuple[int, int]) -> None:
        """One-line refusal of a model that is not this task's kind of student (a pair student for one image, or
        the reverse), or whose stride the input size does not fit."""
        kind = getattr(model, "output_kind", None)
        if (kind == DISPARITY) != (self.output_kind == DISPARITY):
            what = "a stereo student" if kind == DISPARITY else f"not a stereo student (output kind {kind})"
            raise ConfigError(f"{name} is {what}; the {self.name} task trains {self.summary}")
        stride = int(getattr(model, "stride", 1))
        height, width = input_size
        if height % stride or width % stride:
            raise ConfigError(f"{name} needs an input size in multiples of {stride}, got {height}x{width}")


TASKS: Registry[Task] = Registry("task", key=lambda task: task.name, error=EdgeDepthError)


def register_task(task: Task) -> Task:
    """Make `task` reachable by its name; a name is registered once."""
    return TASKS.register(task)


def get_task(name: str) -> Task:
    """The task registered as `name`; a one-line error for an unknown one."""
    return TASKS.get(name)


def list_tasks() -> list[str]:
    """Registered task names, in registration order (the first is the default)."""
    return [name for name, _ in TASKS.items()]


MONO_TASK = register_task(Task(
    name=MONO, summary="relative or metric depth from one image (a MiDaS-small student)",
    input_names=("image",), views=("left",), output_kind=None, config=DistillConfig, target=teacher_target,
    augment=augment_single_view, loss=_depth_loss, curve=_depth_curve,
    curve_metrics=("heldout_delta1", "motorcycle_delta1"), scoring=DEPTH_SCORING,
    baselines=True, sanity=True, motorcycle_at_input=False))
STEREO_TASK = register_task(Task(
    name=STEREO, summary="disparity from a rectified pair (the stereo_small student)",
    input_names=("left", "right"), views=("left", "right"), output_kind=DISPARITY, config=StereoDistillConfig,
    target=teacher_disparity, augment=augment_pair_views, loss=_disparity_loss, curve=_disparity_curve,
    curve_metrics=("heldout_bad2", "motorcycle_bad2"), scoring=DISPARITY_SCORING,
    # The SGBM teacher row is stereo's baseline; the motorcycle at the student's width puts SGBM on equal terms.
    baselines=False, sanity=False, motorcycle_at_input=True,
    alignment=("disparity compared unaligned, in pixels of the evaluated image; depth from disparity through the "
               "pair's calibration (f·B/(d + doffs)); fidelity is raw output agreement with the torch fp32 student")))
