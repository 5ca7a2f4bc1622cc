"""Named training recipes per task: `demo` (the config defaults, minutes on 2 cores) and `long` (≤ 60 minutes on
2 cores, with a learning curve written next to the checkpoint). Flags given on the command line win."""

from __future__ import annotations

from typing import Any

from edgedepth.errors import EdgeDepthError

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "mono": {
        "demo": {},
        # ~8 min of scene rendering and labelling, ~50 min of training at ~4 steps/s on 2 cores.
        "long": {"scenes": 2400, "steps": 12000, "eval_every": 500},
    },
    "stereo": {
        "demo": {},
        # ~6 min of scenes and SGBM, ~50 min of training at ~3.5 steps/s (batch 4) on 2 cores.
        "long": {"scenes": 1600, "steps": 10000, "eval_every": 500},
    },
}


def recipe_names() -> list[str]:
    """Recipe names every task has."""
    return sorted(set.intersection(*(set(r) for r in RECIPES.values())))


def recipe(task: str, name: str) -> dict[str, Any]:
    """The config fields recipe `name` sets for `task` (a copy); a one-line error for an unknown one."""
    if task not in RECIPES:
        raise EdgeDepthError(f"no recipes for task '{task}' (known: {', '.join(RECIPES)})")
    if name not in RECIPES[task]:
        raise EdgeDepthError(f"unknown recipe '{name}' (known: {', '.join(sorted(RECIPES[task]))})")
    return dict(RECIPES[task][name])
