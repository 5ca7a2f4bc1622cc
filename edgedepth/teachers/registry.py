"""Teachers built by name: `create_teacher("sgbm", block_size=5)`, the same way models are built."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from edgedepth.errors import EdgeDepthError
from edgedepth.teachers.base import Teacher

_REGISTRY: dict[str, Callable[..., Teacher]] = {}


class TeacherConfigError(EdgeDepthError, ValueError):
    """An unknown teacher spec or a keyword it does not take (one line, listing what would work)."""


def register_teacher(name: str, factory: Callable[..., Teacher]) -> None:
    """Make `factory` buildable as `create_teacher(name, **kwargs)`."""
    if name in _REGISTRY:
        raise ValueError(f"teacher {name!r} is registered twice")
    _REGISTRY[name] = factory


def list_teachers() -> list[str]:
    """Specs `create_teacher` accepts, sorted."""
    return sorted(_REGISTRY)


def create_teacher(spec: str, **kwargs: Any) -> Teacher:
    """Build the teacher registered under `spec` with keyword parameters."""
    if spec not in _REGISTRY:
        raise TeacherConfigError(f"unknown teacher {spec!r}; available: {', '.join(list_teachers())}")
    factory = _REGISTRY[spec]
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        accepted = ", ".join(inspect.signature(factory).parameters) or "no keywords"
        raise TeacherConfigError(f"{spec}: {exc}; it takes {accepted}") from None
    return factory(**kwargs)
