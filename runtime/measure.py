"""Measure an artifact in one pass: load its runner once, evaluate it, time it on one feed, close it.

The device CLI (`python -m runtime bench`), the host's measuring stage and the benchmarks all go through
`measure_bundle` (or `measure_loaded` for a runner already loaded), so a bundle is opened once however many
numbers are taken from it, and every latency is summarised the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.bench import time_callable
from runtime.bundle import Bundle
from runtime.errors import one_line
from runtime.runners.base import Runner

Feed = dict[str, np.ndarray]


def size_mb(path: Path) -> float:
    """Size on disk in MiB of a model file, or of a model directory (a CoreML .mlpackage) with all it holds."""
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 3)


@dataclass
class Timing:
    """How latency is taken: `warmup` untimed calls, then at least `iters` timed calls and `min_seconds`."""

    warmup: int = 10
    iters: int = 50
    min_seconds: float = 0.0


@dataclass
class Measurement:
    """One artifact's measuring pass: status, the backend that ran it, what `evaluate` returned (outputs, metrics)
    and the latency of the timed feed (`runtime.bench.latency_stats`) with the backend's load time."""

    name: str
    backend: str = ""
    status: str = "ok"  # "ok" | "skipped" | "failed"
    reason: str = ""
    result: Any = None
    latency: dict | None = None
    init_ms: float | None = None
    device: dict | None = None  # the runner's `device_info()`: an accelerator, its versions and power mode

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def latency_fields(self) -> dict[str, Any]:
        """The report's latency columns: p50/p90/p99 (and mean/min/max) in ms, FPS, timed runs, init ms."""
        if self.latency is None:
            return {}
        stats = self.latency
        fields: dict[str, Any] = {"latency_ms": {k: round(stats[k], 4) for k in ("p50", "p90", "p99", "mean", "min",
                                                                                   "max")},
                                  "fps": round(stats["fps"], 2), "timed_runs": stats["n"]}
        if self.init_ms is not None:
            fields["init_ms"] = round(self.init_ms, 2)
        return fields

    def status_fields(self) -> dict[str, str]:
        """{"status", "reason"} for a row, the reason only when there is one."""
        return {"status": self.status, **({"reason": self.reason} if self.reason else {})}


def measure_loaded(runner: Any, name: str, evaluate: Callable[[Any], Any] | None = None,
                   feed: Callable[[Bundle], Feed] | None = None, timing: Timing | None = None) -> Measurement:
    """Evaluate and time a runner that is already loaded (its `bundle` set): `evaluate(runner)` first, then
    `feed(runner.bundle)` timed under `timing`; either may be None. Exceptions propagate."""
    device_info = getattr(runner, "device_info", None)
    measured = Measurement(name, backend=getattr(runner, "name", type(runner).__name__),
                           init_ms=getattr(runner, "init_ms", None), device=device_info() if device_info else None)
    if evaluate is not None:
        measured.result = evaluate(runner)
    if feed is not None:
        inputs = feed(runner.bundle)
        timing = timing or Timing()
        measured.latency = time_callable(lambda: runner.infer(inputs), timing.warmup, timing.iters,
                                         timing.min_seconds)
    return measured


def measure_bundle(bundle: Bundle, threads: int, evaluate: Callable[[Any], Any] | None = None,
                   feed: Callable[[Bundle], Feed] | None = None, timing: Timing | None = None,
                   name: str | None = None, runner_cls: type[Runner] | None = None) -> Measurement:
    """Load `bundle` in its format's runner (or `runner_cls`) once at `threads` threads, evaluate and time it
    (`measure_loaded`), close it. A format with no runner here, or a runner whose library is missing, is
    `skipped` with the reason; any error while loading or running is `failed` with its first line: one artifact
    never stops the others."""
    from runtime.runners.registry import runner_for_format

    name = name or bundle.name
    try:
        runner_cls = runner_cls or runner_for_format(bundle.format)
    except ValueError as exc:
        return Measurement(name, status="skipped", reason=str(exc))
    ok, reason = runner_cls.available()
    if not ok:
        return Measurement(name, backend=runner_cls.name, status="skipped", reason=reason)
    try:
        with runner_cls() as runner:
            runner.load(bundle, threads)
            return measure_loaded(runner, name, evaluate, feed, timing)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one failing artifact must not hide the others' numbers
        return Measurement(name, backend=runner_cls.name, status="failed", reason=one_line(exc))
