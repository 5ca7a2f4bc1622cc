"""Runners by backend name and by bundle format; each registers itself and imports its library lazily."""

from __future__ import annotations

from runtime.errors import RequestError
from runtime.registry import Registry
from runtime.runners.base import Runner

# The runners shipped with runtime (their modules register them; importing one does not import its backend).
RUNNERS: Registry[type[Runner]] = Registry("runner", key=lambda cls: cls.name, builtin=(
    "runtime.runners.onnxruntime",
    "runtime.runners.coreml",
    "runtime.runners.coreml_emulation",
    "runtime.runners.litert",
    "runtime.runners.openvino",
    "runtime.runners.tensorrt",
    "runtime.runners.tensorrt_emulation",
))


def register_runner(cls: type[Runner]) -> type[Runner]:
    """Class decorator: make `cls` reachable by its `name` and its `formats`."""
    if not cls.name or not cls.formats:
        raise ValueError(f"runner {cls.__name__} must set `name` and `formats`")
    return RUNNERS.register(cls)


def get_runner(name: str) -> type[Runner]:
    """The runner class registered as `name`; one-line RequestError for an unknown name."""
    return RUNNERS.get(name)


def list_runners() -> list[str]:
    """Every registered runner name, sorted."""
    return RUNNERS.names()


def runner_for_format(fmt: str) -> type[Runner]:
    """The runner for bundles of format `fmt` (the first available one if several can run it). Emulations are
    never chosen here: a row names the real backend, skipped where it cannot run (see `emulation_for_format`)."""
    candidates = [cls for cls in RUNNERS.values() if fmt in cls.formats and not cls.emulates]
    if not candidates:
        known = sorted({f for cls in RUNNERS.values() for f in cls.formats})
        raise RequestError(f"no runner for bundle format '{fmt}' (known formats: {', '.join(known)})")
    if len(candidates) > 1:
        for cls in candidates:
            if cls.available()[0]:
                return cls
    return candidates[0]


def emulation_for_format(fmt: str) -> type[Runner] | None:
    """A runner that reproduces the numerics (not the speed) of format `fmt`'s backend on this machine's CPU, for
    when the real one cannot run here; None when the format has none."""
    return next((cls for cls in RUNNERS.values() if fmt in cls.formats and cls.emulates), None)


def runner_here(fmt: str) -> tuple[type[Runner] | None, str]:
    """The runner that can run a `fmt` bundle on this machine, for checks that need numbers rather than a timed
    row: the real backend, else its CPU emulation; (None, why not) when neither can."""
    real = runner_for_format(fmt)
    ok, reason = real.available()
    if ok:
        return real, ""
    emulation = emulation_for_format(fmt)
    if emulation is not None and emulation.available()[0]:
        return emulation, ""
    return None, reason
