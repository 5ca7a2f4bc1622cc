"""One machine-wide cap on thread counts: `EDGEDEPTH_MAX_THREADS`.

Several jobs sharing one machine (label shards, parallel test workers, a benchmark beside a training run) each
ask for their usual thread count; together they ask for more threads than there are cores, and thread pools
that spin while waiting then slow every job down several times over. With the cap set, every backend (torch,
onnxruntime, LiteRT, OpenVINO, the quantizers' calibration) takes at most that many threads, and reports the
count it really used.

Without the variable, the cap is a few threads per usable core (`default_cap`): hundreds of threads on a few
cores only spin (500 took 45× longer than 2 on a small photo), and tens of thousands crash a backend. A thread
count on the command line is at most MAX_THREADS."""

from __future__ import annotations

import os

from runtime.errors import RequestError

MAX_THREADS_ENV = "EDGEDEPTH_MAX_THREADS"
MAX_THREADS = 1024  # the most any --threads or EDGEDEPTH_MAX_THREADS may say
THREADS_PER_CORE = 4  # the default cap: this many threads per usable core (at least 4 in all)


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_cap() -> int:
    """The thread cap when $EDGEDEPTH_MAX_THREADS is unset."""
    return max(4, THREADS_PER_CORE * usable_cores())


def thread_cap() -> int | None:
    """The cap from $EDGEDEPTH_MAX_THREADS (None when unset or empty); a one-line error for a bad value."""
    text = os.environ.get(MAX_THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        cap = int(text)
    except ValueError:
        cap = 0
    if not 1 <= cap <= MAX_THREADS:
        raise RequestError(f"{MAX_THREADS_ENV} must be a whole number of at least 1 and at most {MAX_THREADS}, "
                           f"got {text!r}")
    return cap


def capped_threads(requested: int) -> int:
    """`requested` threads, or fewer where $EDGEDEPTH_MAX_THREADS (else `default_cap`) says so."""
    cap = thread_cap()
    return min(int(requested), default_cap() if cap is None else cap)
