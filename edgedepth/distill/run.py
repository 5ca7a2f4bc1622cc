"""A prepared training run (what an objective hands the training path) and `fit`, which runs its loop: the
optimiser on the run's module with the student's head linear, between the run's own first and last steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from edgedepth.distill.distributed import World
from edgedepth.distill.head import linear_head
from edgedepth.distill.loop import optimise
from edgedepth.distill.resume import TrainingState


@dataclass
class Run:
    """What an objective hands the training path: the module the optimiser steps, the loss of one random batch, what
    the student predicts once trained and what its checkpoint records, and hooks around the loop."""

    net: nn.Module  # the student, or the student with training-only parts that are not saved
    batch_loss: Callable[..., Any]  # (rng, net=..., part=slice) → one random batch's loss (see `loop.optimise`)
    output_kind: str  # what the trained student predicts
    teacher: dict[str, Any] = field(default_factory=dict)  # a teacher's identity, or what reports compare with
    record: dict[str, Any] = field(default_factory=dict)  # training record beside config and log: data, loss, ...
    log: dict[str, Any] = field(default_factory=dict)  # log entries known before the loop
    start: Callable[[], dict[str, Any]] | None = None  # just before the loop, the head linear: log entries
    finish: Callable[[], dict[str, Any]] | None = None  # after the loop, the head restored: log entries
    monitor: Any = None  # a `CurveMonitor` measuring held-out accuracy between steps
    desc: str = "train"  # the progress bar's label



def fit(student: nn.Module, run: Run, config: Any, progress: bool = True, state: TrainingState | None = None,
        world: World | None = None) -> dict[str, Any]:
    """Optimise `run.net` in place with the student's head linear (`run.start` just before the loop), then
    `run.finish` with the head restored; returns the log (with the learning curve's rows when monitored)."""
    log: dict[str, Any] = {}
    with linear_head(student):
        if run.start is not None:
            log.update(run.start())
        log.update(optimise(run.net, run.batch_loss, config, run.desc, progress, run.monitor, state, world))
    if run.finish is not None:
        log.update(run.finish())
    if run.monitor is not None:
        log["curve"] = {"rows": run.monitor.rows, "baselines": run.monitor.evaluator.baselines}
    return log
