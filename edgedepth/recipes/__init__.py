"""Recipes: named settings for a whole run, as YAML files in this folder (demo, long, phone, jetson) or any YAML
file of the same shape. `--recipe NAME|FILE` chooses one for distill, export and demo; flags given on the command
line win over it.

A recipe has a `description`, `train` (per task: distillation config fields) and `export` (`formats`: format →
precisions, `all` for every precision a format writes; `layout`: NCHW or NHWC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedepth.errors import EdgeDepthError
from runtime.bundle import LAYOUTS

FOLDER = Path(__file__).parent
DEFAULT = "demo"
_KEYS = {"description", "train", "export"}
_EXPORT_KEYS = {"formats", "layout"}


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: what to train per task and what to export."""

    name: str
    description: str = ""
    train: dict[str, dict[str, Any]] = field(default_factory=dict)
    exports: dict[str, list[str]] = field(default_factory=dict)  # format → precisions; {} = the command's defaults
    layout: str | None = None

    def train_fields(self, task: str) -> dict[str, Any]:
        """The config fields this recipe sets for `task` (a copy; {} when it sets none)."""
        return dict(self.train.get(task) or {})


def recipe_names() -> list[str]:
    """The recipes shipped with edgedepth, sorted."""
    return sorted(path.stem for path in FOLDER.glob("*.yaml"))


def load_recipe(name_or_file: str | Path) -> Recipe:
    """A shipped recipe by name, or a YAML file by path; a one-line error for an unknown name or a bad file."""
    text = str(name_or_file)
    path = FOLDER / f"{text}.yaml" if text in recipe_names() else Path(text)
    if not path.exists():  # a folder or a special file is the reader's to refuse, in its words
        raise EdgeDepthError(f"unknown recipe '{text}' (known: {', '.join(recipe_names())}, or a YAML file)")
    from edgedepth.settings import load_yaml

    data = load_yaml(path, "recipe")  # a regular file under 1 MB, no alias bomb, bounded nesting
    return _parse(path.stem if path.parent == FOLDER else str(path), data)


def _parse(name: str, data: Any) -> Recipe:
    """Check a recipe's shape (unknown keys are errors, not silently ignored) and build the Recipe."""
    if not isinstance(data, dict):
        raise EdgeDepthError(f"recipe {name}: expected a mapping at the top level")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise EdgeDepthError(f"recipe {name}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    train = data.get("train") or {}
    if not isinstance(train, dict) or not all(isinstance(v, dict | type(None)) for v in train.values()):
        raise EdgeDepthError(f"recipe {name}: train must map each task to its config fields")
    export = data.get("export") or {}
    if not isinstance(export, dict) or set(export) - _EXPORT_KEYS:
        raise EdgeDepthError(f"recipe {name}: export takes {', '.join(sorted(_EXPORT_KEYS))}")
    formats = export.get("formats") or {}
    if not isinstance(formats, dict) or not all(isinstance(v, list) and v for v in formats.values()):
        raise EdgeDepthError(f"recipe {name}: export.formats must map each format to a list of precisions")
    from edgedepth.settings import TRAIN

    for task, values in train.items():  # the same checks as the command line's flags, before any work
        TRAIN.check(values or {}, f"recipe {name}: train.{task}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise EdgeDepthError(f"recipe {name}: description must be text")
    layout = export.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise EdgeDepthError(f"recipe {name}: layout must be one of {', '.join(LAYOUTS)}, not {layout}")
    return Recipe(name, description, {task: dict(v or {}) for task, v in train.items()},
                  {fmt: [str(p) for p in precisions] for fmt, precisions in formats.items()}, layout)
