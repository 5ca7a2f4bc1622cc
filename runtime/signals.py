"""SIGTERM handled as Ctrl-C is: raised where the program is, as a KeyboardInterrupt, so every cleanup that runs on
Ctrl-C (temporary files, `.partial` folders, a training state saved) runs on `kill` and on a job scheduler's stop
too; the command then exits 143 (128 + SIGTERM) instead of 130."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: a KeyboardInterrupt, so the code that cleans up after Ctrl-C cleans up after it too."""


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    """The SIGTERM handler: raise Terminated where the main thread is. Further SIGTERMs are ignored from then on,
    so a second `kill` cannot cut the cleanup short (SIGKILL still can)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated("terminated")


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """For the block, SIGTERM raises `Terminated` (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted(prog: str, exc: BaseException) -> int:
    """Print the one line of an interrupted command and return its exit code (143 for SIGTERM, else 130)."""
    import sys

    terminated = isinstance(exc, Terminated) or getattr(exc, "signum", None) == signal.SIGTERM
    print(f"{prog}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
