"""Tasks: what a student learns and how it is judged. One registered `Task` per kind of student (mono: depth from
one image; stereo: disparity from a rectified pair); the CLI, the demo, the specs and the measuring stage ask the
task instead of testing its name. Export, quantize and runtime stay task-agnostic (they read input specs).

Importing this module imports no torch: a task names its config, distillation and row metrics by dotted path
and loads them on first use."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedepth.errors import EdgeDepthError
from runtime.bundle import MONO, STEREO


def _resolve(path: str) -> Any:
    """`package.module:attribute` → the attribute (imported on first use)."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Task:
    """A kind of student and everything that differs by kind; registered by `name` (a manifest's `task`)."""

    name: str
    summary: str  # one line for the CLI's help
    input_names: tuple[str, ...]  # the model's inputs in call order (manifest names)
    config: str  # the distillation config dataclass, as a dotted path
    distiller: str  # distill(config, out_path, force=False, progress=True) -> Path, as a dotted path
    metrics: str  # row metrics(raw, reference_raw, items, output_kind) -> dict, as a dotted path
    baselines: bool  # score maps that ignore the image (constant, gradient) next to the student
    sanity: bool  # measure input dependence and mirror equivariance on held-out scenes
    motorcycle_at_input: bool  # also evaluate on the motorcycle pair at the student's input width
    alignment: str | None = None  # how rows are compared, when it does not depend on the output kind

    def config_class(self) -> type:
        """The task's distillation config dataclass (its defaults are the demo recipe)."""
        return _resolve(self.config)

    def distill(self, config: Any, out_path: Path, force: bool = False, progress: bool = True) -> Path:
        """Train a student of this task with `config` and save its checkpoint at `out_path`."""
        return _resolve(self.distiller)(config, out_path, force=force, progress=progress)

    def row_metrics(self, raw: list, reference_raw: list | None, items: list, output_kind: str) -> dict:
        """A report row's metrics (fidelity, vs_teacher, accuracy) from one artifact's raw outputs on `items`."""
        return _resolve(self.metrics)(raw, reference_raw, items, output_kind)


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make `task` reachable by its name; a name is registered once."""
    if task.name in _TASKS and _TASKS[task.name] != task:
        raise ValueError(f"task name '{task.name}' is taken")
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The task registered as `name`; a one-line error for an unknown one."""
    if name not in _TASKS:
        raise EdgeDepthError(f"unknown task '{name}' (known: {', '.join(_TASKS)})")
    return _TASKS[name]


def list_tasks() -> list[str]:
    """Registered task names, in registration order (the first is the default)."""
    return list(_TASKS)


register_task(Task(
    name=MONO, summary="relative or metric depth from one image (a MiDaS-small student)",
    input_names=("image",), config="edgedepth.distill.config:DistillConfig", distiller="edgedepth.distill.mono:distill",
    metrics="edgedepth.evaluation:student_row_metrics", baselines=True, sanity=True, motorcycle_at_input=False))
register_task(Task(
    name=STEREO, summary="disparity from a rectified pair (the stereo_small student)",
    input_names=("left", "right"), config="edgedepth.distill.config:StereoDistillConfig",
    distiller="edgedepth.distill.stereo:distill_stereo", metrics="edgedepth.evaluation:stereo_row_metrics",
    # The SGBM teacher row is stereo's baseline; the motorcycle at the student's width puts SGBM on equal terms.
    baselines=False, sanity=False, motorcycle_at_input=True,
    alignment=("disparity compared unaligned, in pixels of the evaluated image; depth from disparity through the "
               "pair's calibration (f·B/(d + doffs)); fidelity is raw output agreement with the torch fp32 student")))
