"""Runners by backend name and by bundle format; each registers itself and imports its library lazily."""

from __future__ import annotations

import importlib

from runtime.errors import RequestError
from runtime.runners.base import Runner

_RUNNERS: dict[str, type[Runner]] = {}
# Modules that register the runners shipped with runtime; importing them does not import the backend library.
# Named, not imported: each imports this registry to register itself, so importing them here when this module
# loads would be a file cycle; they are imported on the first lookup instead.
_BUILTIN_MODULES = (
    "runtime.runners.onnxruntime",
    "runtime.runners.coreml",
    "runtime.runners.litert",
    "runtime.runners.openvino",
    "runtime.runners.tensorrt",
    "runtime.runners.tensorrt_emulation",
)


def register_runner(cls: type[Runner]) -> type[Runner]:
    """Class decorator: make `cls` reachable by its `name` and its `formats`."""
    if not cls.name or not cls.formats:
        raise ValueError(f"runner {cls.__name__} must set `name` and `formats`")
    existing = _RUNNERS.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"runner name '{cls.name}' is taken by {existing.__qualname__}")
    _RUNNERS[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def get_runner(name: str) -> type[Runner]:
    """The runner class registered as `name`; one-line RequestError for an unknown name."""
    _load_builtins()
    if name not in _RUNNERS:
        raise RequestError(f"unknown runner '{name}' (known: {', '.join(sorted(_RUNNERS))})")
    return _RUNNERS[name]


def list_runners() -> list[str]:
    """Every registered runner name, sorted."""
    _load_builtins()
    return sorted(_RUNNERS)


def runner_for_format(fmt: str) -> type[Runner]:
    """The runner for bundles of format `fmt` (the first available one if several can run it). Emulations are
    never chosen here: a row names the real backend, skipped where it cannot run (see `emulation_for_format`)."""
    _load_builtins()
    candidates = [cls for cls in _RUNNERS.values() if fmt in cls.formats and not cls.emulates]
    if not candidates:
        known = sorted({f for cls in _RUNNERS.values() for f in cls.formats})
        raise RequestError(f"no runner for bundle format '{fmt}' (known formats: {', '.join(known)})")
    if len(candidates) > 1:
        for cls in candidates:
            if cls.available()[0]:
                return cls
    return candidates[0]


def emulation_for_format(fmt: str) -> type[Runner] | None:
    """A runner that reproduces the numerics (not the speed) of format `fmt`'s backend on this machine's CPU, for
    when the real one cannot run here; None when the format has none."""
    _load_builtins()
    return next((cls for cls in _RUNNERS.values() if fmt in cls.formats and cls.emulates), None)
