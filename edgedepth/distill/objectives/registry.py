"""Training objectives by name: the `Objective` interface (it prepares a `Run` for the one training path,
`edgedepth.distill.train`) and the registry (`@register_objective` on the class, as exporters and models
register).

An objective owns its config (one dataclass; per task where the tasks differ), its refusals (a field its config
lacks is refused for it, a value that does not fit by `check`), its data and the loss of one batch."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from torch import nn

from edgedepth.checkpoint import init_weights
from edgedepth.distill.distributed import World, process_group
from edgedepth.distill.run import Run
from edgedepth.errors import ConfigError
from edgedepth.models import create_model
from edgedepth.tasks import Task, get_task
from runtime.bundle import MONO
from runtime.registry import Registry


class Objective:
    """A way to train a student, registered by `name`: its config, its refusals, its data and the loss of one
    batch (`prepare`); the training path around it is shared (`edgedepth.distill.train`)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for the CLI's help
    config: ClassVar[type | None] = None  # its config dataclass, when it is the same for every task it trains
    tasks: ClassVar[tuple[str, ...]] = (MONO,)  # the tasks whose students it trains
    distributed: ClassVar[bool] = False  # whether torchrun ranks share its batches (else one process on the CPU)

    def config_class(self, task: Task) -> type:
        """The config dataclass of this objective for `task` (a task it does not train is a one-line error)."""
        if task.name not in self.tasks:
            raise ConfigError(f"--objective {self.name} trains {' and '.join(self.tasks)} students; use it with "
                              f"--task {self.tasks[0]}")
        return self._config_class(task)

    def _config_class(self, task: Task) -> type:
        """The config for a task it trains: `config`, unless the objective's config differs by task."""
        if self.config is None:
            raise NotImplementedError(f"objective {self.name} names no config")
        return self.config

    def check(self, config: Any, task: Task) -> None:
        """One-line refusal of a value that does not fit (before anything is built); fields the objective has no
        use for are not in its config, so it never refuses them here."""

    def check_student(self, model: nn.Module, config: Any) -> None:
        """One-line refusal of a student this objective cannot train (beyond what its task refuses)."""

    def student(self, config: Any, task: Task) -> nn.Module:
        """The student `config` names, refused if it does not fit, started from `config.init` when it has one."""
        model = create_model(config.model, **config.model_kwargs)
        task.check_student(model, config.model, tuple(config.input_size))
        self.check_student(model, config)
        init = getattr(config, "init", None)
        if init is not None:
            init_weights(model, Path(init), config.trust_pickle, source=f"--init {init}")
        return model

    def world(self, config: Any) -> AbstractContextManager[World]:
        """The processes that share the run: torchrun's ranks for a distributed objective, else this one."""
        return process_group(config.device) if self.distributed else nullcontext(World())

    def prepare(self, student: nn.Module, spec: dict, config: Any, task: Task, progress: bool) -> Run:
        """Build the training data and everything the loop needs for `student` (inputs as `spec` says)."""
        raise NotImplementedError


OBJECTIVES: Registry[Objective] = Registry("objective", key=lambda objective: objective.name, error=ConfigError)
DEFAULT_OBJECTIVE = "distill"  # what `edgedepth distill` trains by unless told otherwise: a teacher's predictions

ObjectiveClass = TypeVar("ObjectiveClass", bound=type[Objective])


def register_objective(cls: ObjectiveClass) -> ObjectiveClass:
    """Class decorator: make an objective reachable by its `name`; a name is registered once."""
    if cls.name in OBJECTIVES.names():
        raise ValueError(f"objective {cls.name!r} is registered twice")
    OBJECTIVES.register(cls())
    return cls


def get_objective(name: str) -> Objective:
    """The objective registered as `name`; a one-line error for an unknown one."""
    return OBJECTIVES.get(name)


def list_objectives() -> list[str]:
    """Registered objective names: the default first, then the others in registration order."""
    return sorted(OBJECTIVES.names(), key=lambda name: name != DEFAULT_OBJECTIVE)


def objective_of(config: Any) -> tuple[Objective, Task]:
    """The objective and the task a config belongs to (each config class belongs to one)."""
    for objective in OBJECTIVES.values():
        for name in objective.tasks:
            task = get_task(name)
            if objective.config_class(task) is type(config):
                return objective, task
    raise ConfigError(f"no objective trains a {type(config).__name__}")


def has_field(objective: Objective, task: Task, name: str) -> bool:
    """Whether the objective's config for `task` has a field `name`."""
    return name in {f.name for f in fields(objective.config_class(task))}


def unavailable(flag: str, name: str, objective: Objective, task: Task) -> str:
    """The one-line refusal of `flag` (config field `name`) for an objective and task whose config lacks it: which
    task or objective it is not for, and the objectives that take it."""
    for_task = any(has_field(objective, get_task(other), name) for other in objective.tasks)
    where = f"--task {task.name}" if for_task else f"--objective {objective.name}"
    takers = [other.name for other in OBJECTIVES.values() if other is not objective
              and any(has_field(other, get_task(t), name) for t in other.tasks)]
    return f"{flag}: not available with {where}" + (f"; use it with --objective {' or '.join(takers)}"
                                                     if takers else "")
