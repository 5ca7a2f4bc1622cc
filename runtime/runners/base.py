"""The Runner interface every backend implements: load a bundle, infer on numpy arrays, close.

`load` and `infer` are templates (the shape of Polygraphy's runners): they check the request and the feed
once for every backend, then call the backend's `load_impl` / `infer_impl`."""

from __future__ import annotations

import importlib
import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from runtime.bundle import Bundle
from runtime.errors import RequestError, first_line
from runtime.threads import capped_threads


class Runner(ABC):
    """A backend that runs bundles of `formats`; `available()` says whether it can run on this machine."""

    name: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()
    # Top-level modules the backend needs; `available()` looks for them without importing anything else.
    requires: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""
    # True for a CPU stand-in that reproduces another backend's numerics but not its speed (its rows say so).
    emulates: ClassVar[bool] = False
    # What an emulation's report rows stand for, in one line (a generic sentence when empty).
    emulation_note: ClassVar[str] = ""
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
                first = first_line(exc)
                return False, f"{module} fails to import: {first}"
        return True, ""

    def check_load(self, bundle: Bundle, threads: int) -> None:
        """One-line ValueError for a bundle of another format or a thread count below 1."""
        if bundle.format not in self.formats:
            raise RequestError(f"{self.name} runs {', '.join(self.formats)} bundles, not {bundle.format}")
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")

    def load(self, bundle: Bundle, threads: int = 1) -> None:
        """Prepare `bundle` for inference on `threads` threads; `init_ms` times the backend's load and compile.
        The template: check the request, `load_impl`, then remember the bundle."""
        self.check_load(bundle, threads)
        self.bundle = None
        start = time.perf_counter_ns()
        self.load_impl(bundle, capped_threads(int(threads)))
        self.init_ms = (time.perf_counter_ns() - start) / 1e6
        self.bundle = bundle

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: {input name: array} → {output name: array}, the feed validated against the manifest first."""
        if self.bundle is None:
            raise RuntimeError("load() a bundle before infer()")
        return self.infer_impl(check_inputs(inputs, self.bundle.inputs))

    @abstractmethod
    def load_impl(self, bundle: Bundle, threads: int) -> None:
        """Open `bundle` in the backend (the request is already checked); bind its I/O to the manifest's."""

    @abstractmethod
    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the backend on a validated feed (manifest names, shapes and dtypes); outputs by manifest name."""

    def device_info(self) -> dict[str, Any]:
        """What the backend ran on beyond `runtime.bench.machine_info` (an accelerator's name, versions, power
        mode); empty for CPU backends."""
        return {}

    def close(self) -> None:
        """Release the backend's session/interpreter (the runner may be loaded again afterwards)."""
        self.bundle = None
        self.close_impl()

    def close_impl(self) -> None:  # noqa: B027 - optional hook, most backends free everything on garbage collection
        """Free what `load_impl` made."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def shape_matches(shape: Sequence[int], expected: Sequence[Any]) -> bool:
    """Whether a concrete shape fits a manifest shape: same rank, and equal sizes wherever the manifest fixes one
    (a dimension that is not a non-negative int, such as None, -1 or "N", is dynamic and fits any size)."""
    return len(shape) == len(expected) and all(
        not isinstance(e, int) or isinstance(e, bool) or e < 0 or int(e) == int(s)
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
        if not shape_matches(array.shape, spec["shape"]):
            got = list(array.shape)
            raise ValueError(f"input '{name}' has shape {got}, the bundle takes {spec['shape']}")
        if array.dtype != np.dtype(spec["dtype"]):
            raise ValueError(f"input '{name}' has dtype {array.dtype}, the bundle takes {spec['dtype']}")
        feed[name] = np.ascontiguousarray(array)
    return feed
