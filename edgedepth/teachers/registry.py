"""Teachers built from a spec: `create_teacher("sgbm", block_size=5)`, or `create_teacher("hf:/models/dpt")`
where the part after the colon is the teacher's location (a folder, a file), as the CLI's `--teacher` takes it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgedepth.errors import ConfigError
from edgedepth.teachers.base import Teacher, TeacherConfigError
from runtime.registry import Registry


@dataclass(frozen=True)
class _Entry:
    name: str
    factory: Callable[..., Teacher]
    location: str | None  # the keyword that receives the text after "name:", if the teacher takes one


TEACHERS: Registry[_Entry] = Registry("teacher", key=lambda entry: entry.name, error=TeacherConfigError)


def register_teacher(name: str, factory: Callable[..., Teacher], location: str | None = None) -> None:
    """Make `factory` buildable as `create_teacher(name, **kwargs)`, and as `create_teacher("name:X")` giving
    X as the keyword `location` when the teacher is found at a path."""
    if ":" in name:
        raise ValueError(f"teacher names cannot hold ':' ({name!r})")
    if location is not None and location not in inspect.signature(factory).parameters:
        raise ValueError(f"teacher {name!r}: {location!r} is not a parameter of its factory")
    if name in TEACHERS.names():
        raise ValueError(f"teacher {name!r} is registered twice")
    TEACHERS.register(_Entry(name, factory, location))


def list_teachers() -> list[str]:
    """Teacher specs `create_teacher` accepts, sorted: "name" or "name:LOCATION"."""
    return sorted(name if entry.location is None else f"{name}:{entry.location.upper()}"
                  for name, entry in TEACHERS.items())


def parse_teacher_spec(spec: str) -> tuple[str, str | None]:
    """("hf", "/models/dpt") for "hf:/models/dpt", ("sgbm", None) for "sgbm"; unknown names fail in one line."""
    name, sep, location = spec.partition(":")
    if name not in TEACHERS:
        raise TeacherConfigError(f"unknown teacher {spec!r} (known: {', '.join(list_teachers())})")
    entry = TEACHERS.get(name)
    if sep and entry.location is None:
        raise TeacherConfigError(f"teacher {name!r} takes no location (got {spec!r})")
    if sep and not location:
        raise TeacherConfigError(f"teacher spec {spec!r} names no {entry.location}")
    return name, location if sep else None


def create_teacher(spec: str, **kwargs: Any) -> Teacher:
    """Build the teacher `spec` names ("name" or "name:LOCATION") with keyword parameters."""
    name, location = parse_teacher_spec(spec)
    entry = TEACHERS.get(name)
    if location is not None:
        if entry.location in kwargs:
            raise TeacherConfigError(f"{spec}: {entry.location} is given twice (in the spec and as a keyword)")
        kwargs = {entry.location: location, **kwargs}
    signature = inspect.signature(entry.factory)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        accepted = ", ".join(signature.parameters) or "no keywords"
        raise TeacherConfigError(f"{name}: {exc}; it takes {accepted}") from None
    try:
        return entry.factory(**kwargs)
    except ValueError as exc:  # the factory's check of a keyword's value
        if isinstance(exc, ConfigError):
            raise
        raise TeacherConfigError(f"{name}: {str(exc).splitlines()[0]}") from exc
