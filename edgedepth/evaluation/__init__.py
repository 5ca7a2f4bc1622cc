"""Evaluation: what every artifact is scored on, and how.

- `items`: the evaluation data (held-out procedural scenes, the Middlebury motorcycle, held-out photos) with the
  teacher's predictions on it, the baselines, the sanity checks and the teacher's reference row;
- `scoring`: how a report row scores one artifact's outputs, per task (numpy only; the task table imports it);
- `pictures`: the report's depth-map panels.

This package was once the module `edgedepth.evaluation`; its names (`EvalItem`, `sample_feed`, …) still resolve
here, from `items`, loaded on first use so that importing `scoring` (and so the task table) loads no torch."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import edgedepth.evaluation.items as items

    try:
        return getattr(items, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
