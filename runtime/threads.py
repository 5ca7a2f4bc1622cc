"""One machine-wide cap on thread counts: `EDGEDEPTH_MAX_THREADS`.

Several jobs sharing one machine (label shards, parallel test workers, a benchmark beside a training run) each
ask for their usual thread count; together they ask for more threads than there are cores, and thread pools
that spin while waiting then slow every job down several times over. With the cap set, every backend (torch,
onnxruntime, LiteRT, OpenVINO, the quantizers' calibration) takes at most that many threads, and reports the
count it really used."""

from __future__ import annotations

import os

from runtime.errors import RequestError

MAX_THREADS_ENV = "EDGEDEPTH_MAX_THREADS"


def thread_cap() -> int | None:
    """The cap from $EDGEDEPTH_MAX_THREADS (None when unset or empty); a one-line error for a bad value."""
    text = os.environ.get(MAX_THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        cap = int(text)
    except ValueError:
        cap = 0
    if cap < 1:
        raise RequestError(f"{MAX_THREADS_ENV} must be a whole number of at least 1, got {text!r}")
    return cap


def capped_threads(requested: int) -> int:
    """`requested` threads, or fewer where $EDGEDEPTH_MAX_THREADS says so."""
    cap = thread_cap()
    return int(requested) if cap is None else min(int(requested), cap)
