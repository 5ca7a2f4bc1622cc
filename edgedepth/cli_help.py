"""Help text filled from the registries and config dataclasses when it is printed, never restated by hand.

Help strings hold placeholders such as `{formats}` or `{default:steps}`; `RegistryHelp` replaces them only when
argparse formats the help, so building the parser (every command) imports neither torch nor the exporters."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import fields

_PLACEHOLDER = re.compile(r"\{(\w+)(?::(\w+))?\}")


def _formats() -> str:
    from export.registry import list_formats

    return ", ".join(list_formats())


def _precisions() -> str:
    from export.registry import get_exporter, list_formats

    return "; ".join(f"{fmt}: {', '.join(get_exporter(fmt).precisions)}" for fmt in list_formats())


def _teachers() -> str:
    from edgedepth.teachers import list_teachers

    return ", ".join(list_teachers())


def _models() -> str:
    from edgedepth.models import list_models

    return ", ".join(list_models())


def _originals() -> str:
    from edgedepth.originals import exportable_specs

    return ", ".join(f"{name}:..." for name in exportable_specs())


def _objectives() -> str:
    from edgedepth.distill.objectives import get_objective, list_objectives

    return "; ".join(f"{name} ({get_objective(name).summary})" for name in list_objectives())


def _objective_names() -> str:
    from edgedepth.distill.objectives import list_objectives

    return ", ".join(list_objectives())


def _recipes() -> str:
    from edgedepth.recipes import load_recipe, recipe_names

    return "; ".join(f"{name}: {load_recipe(name).description}" for name in recipe_names())


def _shown(value: object) -> str:
    """A default as a user types it: 128x192 for a size, 0.004 as 4e-3."""
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return "x".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float) and abs(value) < 0.01:
        return f"{value:.0e}".replace("e-0", "e-")
    return str(value)


def task_default(name: str) -> str:
    """The default of training field `name` per task, from each task's distillation config and the default recipe:
    "1200 mono, 1600 stereo", or one value when every task agrees; a field only another objective has (--hints,
    --frame-step), from that objective's config."""
    from edgedepth.recipes import DEFAULT, load_recipe
    from edgedepth.tasks import get_task, list_tasks

    recipe = load_recipe(DEFAULT)
    values: dict[str, str] = {}
    for task in list_tasks():
        config = get_task(task).config
        if name not in {f.name for f in fields(config)}:
            continue
        values[task] = _shown(recipe.train_fields(task).get(name, getattr(config(), name)))
    if not values:
        return _objective_default(name)
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{value} {task}" for task, value in values.items())


def _objective_default(name: str) -> str:
    """The default of field `name` in the first objective config that has it ("" when none has)."""
    from edgedepth.distill.objectives import get_objective, list_objectives
    from edgedepth.tasks import get_task

    for objective in map(get_objective, list_objectives()):
        for config in (objective.config_class(get_task(task)) for task in objective.tasks):
            if name in {f.name for f in fields(config)}:
                return _shown(getattr(config(), name))
    return ""


def _quick_steps() -> str:
    from edgedepth.stages.demo import QUICK_TRAINING

    return str(QUICK_TRAINING["steps"])


SOURCES: dict[str, Callable[[], str]] = {"formats": _formats, "precisions": _precisions, "teachers": _teachers,
                                         "models": _models, "originals": _originals, "recipes": _recipes,
                                         "quick_steps": _quick_steps,
                                         "objectives": _objectives, "objective_names": _objective_names}


def fill(text: str, percent: bool = False) -> str:
    """`text` with every known placeholder replaced; others (and text without any) unchanged. `percent`: the
    result goes through argparse's %-formatting, so a filled-in '%' is doubled."""
    def replace(match: re.Match) -> str:
        key, arg = match.group(1), match.group(2)
        if key == "default" and arg:
            value = task_default(arg)
        elif key in SOURCES and arg is None:
            value = SOURCES[key]()
        else:
            return match.group(0)
        return value.replace("%", "%%") if percent else value

    return _PLACEHOLDER.sub(replace, text)


class RegistryHelp(argparse.HelpFormatter):
    """Argparse's help, with placeholders filled at print time."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        return fill(text, percent=True) if text else text

    def _format_text(self, text: str) -> str:
        return super()._format_text(fill(text))
