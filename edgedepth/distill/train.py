"""The one training path, for every objective and task: its training state, the student, the objective's
prepared run, the optimisation loop with the head linear, and the checkpoint (with its learning curve)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgedepth.checkpoint import StudentInfo, save_student
from edgedepth.distill.distributed import World, split_batch
from edgedepth.distill.monitor import write_curve
from edgedepth.distill.objectives import Objective, objective_of
from edgedepth.distill.resume import start_run
from edgedepth.distill.run import fit
from edgedepth.specs import input_spec
from edgedepth.tasks import Task
from runtime.bundle import RELATIVE


def train(config: Any, out_path: Path, force: bool = False, progress: bool = True) -> Path:
    """Train the student `config` describes with the objective its class belongs to, and save the checkpoint;
    where the objective shares batches, under torchrun every rank trains on its share and rank 0 alone writes."""
    objective, task = objective_of(config)
    objective.check(config, task)
    with objective.world(config) as world:
        return _train(objective, task, config, Path(out_path), force, progress and world.main, world)


def _train(objective: Objective, task: Task, config: Any, out_path: Path, force: bool, progress: bool,
           world: World) -> Path:
    """`train` on one rank of `world`."""
    split_batch(config.batch_size, world.size, getattr(config, "micro_batches", 1))
    state = start_run(config, out_path)
    student = objective.student(config, task)
    info = StudentInfo(config=dict(student.config), input_size=tuple(config.input_size),
                       mean=list(student.input_mean), std=list(student.input_std),
                       output_kind=task.output_kind or RELATIVE, task=task.name)
    run = objective.prepare(student, input_spec(info), config, task, progress)
    log = {**run.log, **fit(student, run, config, progress, state, world)}
    info.output_kind, info.teacher = run.output_kind, run.teacher
    info.training = {"objective": objective.name, "config": {**asdict(config), "input_size": list(config.input_size)},
                     "log": log, **run.record}
    if not world.main:
        return out_path
    saved = save_student(out_path, student, info, force=force)
    state.clear()
    if run.monitor is not None:
        write_curve(saved, run.monitor.rows, task.curve_metrics, run.monitor.evaluator.baselines)
    return saved

