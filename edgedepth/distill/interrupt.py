"""Ctrl-C (or SIGTERM) during training: finish the step, save a resumable state, then stop with one line and exit
130 (143 for SIGTERM).

The first SIGINT or SIGTERM only raises a flag the loop reads between steps (a step cut in half would leave the
optimizer half-updated); a second one interrupts at once, as usual."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from runtime.signals import Terminated


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C after `step` steps; `saved` is the state written then (None: none written)."""

    def __init__(self, step: int, total: int, saved: Path | None, signum: int = signal.SIGINT) -> None:
        self.step, self.total, self.saved, self.signum = step, total, saved, int(signum)
        where = f"; training state saved to {saved} (continue with --resume)" if saved else ""
        super().__init__(f"interrupted after step {step}/{total}{where}")


class StopFlag:
    """Set by the first SIGINT or SIGTERM of the block; `signum` says which."""

    def __init__(self) -> None:
        self.raised = False
        self.signum = int(signal.SIGINT)

    def __bool__(self) -> bool:
        return self.raised


@contextmanager
def stop_on_sigint(enabled: bool = True) -> Iterator[StopFlag]:
    """For the block: the first SIGINT or SIGTERM sets the flag instead of raising, a second raises
    KeyboardInterrupt (`Terminated` for SIGTERM). Only in the main thread (where Python delivers signals);
    elsewhere, or when not `enabled`, nothing changes."""
    flag = StopFlag()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.raised:
            raise Terminated("terminated") if signum == signal.SIGTERM else KeyboardInterrupt
        flag.raised, flag.signum = True, int(signum)

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
