"""The Runner interface every backend implements: load a bundle, infer on numpy arrays, close."""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from runtime.bundle import Bundle

# Manifest shape entries that match any size (dynamic dimensions).
_DYNAMIC = (None, -1, "?", "")


class Runner(ABC):
    """A backend that runs bundles of `formats`; `available()` says whether it can run on this machine."""

    name: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()
    # Top-level modules the backend needs; `available()` looks for them without importing anything else.
    requires: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""
    init_ms: float = 0.0
    bundle: Bundle | None = None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """(True, "") when every required module imports here, else (False, a one-line reason)."""
        for module in cls.requires:
            if importlib.util.find_spec(module) is None:
                hint = f" ({cls.install_hint})" if cls.install_hint else ""
                return False, f"{cls.name} needs {module}, which is not installed{hint}"
            try:
                importlib.import_module(module)
            except Exception as exc:  # a broken install (ABI mismatch, missing shared library) says why
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return False, f"{module} fails to import: {first}"
        return True, ""

    def check_load(self, bundle: Bundle, threads: int) -> None:
        """One-line ValueError for a bundle of another format or a thread count below 1 (every `load` calls it)."""
        if bundle.format not in self.formats:
            raise ValueError(f"{self.name} runs {', '.join(self.formats)} bundles, not {bundle.format}")
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")

    @abstractmethod
    def load(self, bundle: Bundle, threads: int = 1) -> None:
        """Prepare `bundle` for inference on `threads` threads; records `init_ms` (load + compile time)."""

    @abstractmethod
    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: {input name: array} → {output name: array}."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends free everything on garbage collection
        """Release the backend's session/interpreter (the runner may be loaded again afterwards)."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _shape_matches(shape: tuple[int, ...], expected: list[Any]) -> bool:
    return len(shape) == len(expected) and all(e in _DYNAMIC or not isinstance(e, int) or int(e) == s
                                               for s, e in zip(shape, expected, strict=True))


def check_inputs(inputs: dict[str, Any], specs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Validate a feed against the manifest's input names, shapes and dtypes; one-line ValueError if off."""
    expected = [spec["name"] for spec in specs]
    unknown = sorted(set(inputs) - set(expected))
    if unknown:
        raise ValueError(f"unexpected input '{unknown[0]}' (the bundle takes: {', '.join(expected)})")
    feed = {}
    for spec in specs:
        name = spec["name"]
        if name not in inputs:
            raise ValueError(f"missing input '{name}' (the bundle takes: {', '.join(expected)})")
        array = np.asarray(inputs[name])
        if not _shape_matches(array.shape, spec["shape"]):
            got = list(array.shape)
            raise ValueError(f"input '{name}' has shape {got}, the bundle takes {spec['shape']}")
        if array.dtype != np.dtype(spec["dtype"]):
            raise ValueError(f"input '{name}' has dtype {array.dtype}, the bundle takes {spec['dtype']}")
        feed[name] = np.ascontiguousarray(array)
    return feed
