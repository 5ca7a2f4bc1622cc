"""Latency measurement the way a device loop sees it: warm-up runs never timed, then per-call wall time,
summarised by percentiles (the median, not the mean, defines FPS), plus a description of the machine."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from runtime.threads import capped_threads

# Environment variables that thread pools read when their library is imported.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                   "NUMEXPR_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
# Distribution names of the backends whose version is worth recording, when installed.
BACKEND_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "tflite-runtime", "openvino",
                         "coremltools", "tensorrt", "torch")


def latency_stats(times_ms: list[float]) -> dict[str, float]:
    """p50/p90/p99 (linear-interpolated percentiles), mean, min, max, std in ms; n; fps = 1000 / p50."""
    times = np.asarray(times_ms, dtype=np.float64)
    if times.size == 0:
        raise ValueError("no timings to summarise")
    p50, p90, p99 = (float(v) for v in np.percentile(times, [50, 90, 99]))
    return {
        "p50": p50, "p90": p90, "p99": p99,
        "mean": float(times.mean()), "min": float(times.min()), "max": float(times.max()),
        "std": float(times.std()), "n": int(times.size),
        "fps": 1000.0 / p50 if p50 > 0 else float("inf"),
    }


def time_callable(fn: Callable[[], Any], warmup: int = 10, iters: int = 50, min_seconds: float = 0.0) -> dict:
    """Call `fn` `warmup` times untimed, then time each call (perf_counter_ns) until `iters` calls have run
    and at least `min_seconds` have passed; returns `latency_stats` plus `warmup` and `total_s`."""
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    for _ in range(max(0, warmup)):
        fn()
    times: list[float] = []
    begin = time.perf_counter_ns()
    limit_ns = int(min_seconds * 1e9)
    while len(times) < iters or time.perf_counter_ns() - begin < limit_ns:
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / 1e6)
    stats = latency_stats(times)
    stats.update(warmup=max(0, warmup), total_s=(time.perf_counter_ns() - begin) / 1e9)
    return stats


def set_thread_env(threads: int) -> dict[str, str]:
    """Set OMP_NUM_THREADS and friends for libraries that read them at import; returns what was set."""
    if int(threads) < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    values = {name: str(capped_threads(int(threads))) for name in THREAD_ENV_VARS}
    os.environ.update(values)
    return values


def _cpuinfo() -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per processor block (empty where the file does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return []
    blocks = []
    for block in text.split("\n\n"):
        entries = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entries[key.strip().lower()] = value.strip()
        if entries:
            blocks.append(entries)
    return blocks


def _read_first(*paths: str) -> str | None:
    for path in paths:
        try:
            text = Path(path).read_text(errors="replace").strip("\x00 \n")
        except OSError:
            continue
        if text:
            return text
    return None


def cpu_model() -> str:
    """CPU model: /proc/cpuinfo (x86 "model name", ARM "model"/"hardware"), sysctl on macOS, else platform."""
    for block in _cpuinfo():
        for key in ("model name", "cpu model", "model", "hardware"):
            if key in block and not block[key].isdigit():
                return block[key]
    if sys.platform == "darwin":
        import subprocess

        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=5, check=False).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; None where that is not reported (most ARM)."""
    pairs = {(b.get("physical id", "0"), b["core id"]) for b in _cpuinfo() if "core id" in b}
    return len(pairs) or None


def backend_versions() -> dict[str, str]:
    """Installed versions of known inference backends (package metadata only: nothing is imported)."""
    versions = {}
    for name in BACKEND_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_info(threads: int) -> dict[str, Any]:
    """Where numbers were measured: cpu, cores (physical), logical and usable cores, threads, OS, versions."""
    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": physical_cores() or logical,
        "logical_cores": logical,
        "usable_cores": usable,
        "threads": capped_threads(int(threads)),
        "arch": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "backends": backend_versions(),
    }
    board = _read_first("/sys/firmware/devicetree/base/model", "/proc/device-tree/model")
    if board:
        info["board"] = board
    if hasattr(os, "getloadavg"):
        # Other work on the machine skews every latency (a 2-thread torch run on 2 busy cores slows ~100×):
        # the 1-minute load average says whether the numbers were taken on a quiet machine.
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    return info
