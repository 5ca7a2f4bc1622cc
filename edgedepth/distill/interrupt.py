"""Ctrl-C during training: finish the step, save a resumable state, then stop with one line and exit 130.

The first SIGINT only raises a flag the loop reads between steps (a step cut in half would leave the optimizer
half-updated); a second one interrupts at once, as usual."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C after `step` steps; `saved` is the state written then (None: none written)."""

    def __init__(self, step: int, total: int, saved: Path | None) -> None:
        self.step, self.total, self.saved = step, total, saved
        where = f"; training state saved to {saved} (continue with --resume)" if saved else ""
        super().__init__(f"interrupted after step {step}/{total}{where}")


class StopFlag:
    """Set by the first SIGINT of the block."""

    def __init__(self) -> None:
        self.raised = False

    def __bool__(self) -> bool:
        return self.raised


@contextmanager
def stop_on_sigint(enabled: bool = True) -> Iterator[StopFlag]:
    """For the block: the first SIGINT sets the flag instead of raising, a second raises KeyboardInterrupt. Only
    in the main thread (where Python delivers signals); elsewhere, or when not `enabled`, nothing changes."""
    flag = StopFlag()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.raised:
            raise KeyboardInterrupt
        flag.raised = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
