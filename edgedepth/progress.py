"""Progress reporting that suits where it goes: a live tqdm bar on a terminal, and on anything else (a log
file, a pipe) a plain line every tenth of the way or every ten seconds, whichever comes first, and one at the
end; a log then holds a dozen lines rather than every `\\r` refresh of a bar."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TextIO, TypeVar

if TYPE_CHECKING:
    from tqdm import tqdm

T = TypeVar("T")

SHARES = 10  # a log line each time another tenth (1/SHARES) of the total is done...
EVERY_SECONDS = 10.0  # ...or when this long has passed since the last one


def progress_bar(iterable: Iterable[T] | None = None, *, desc: str, unit: str, total: int | None = None,
                 initial: int = 0, disable: bool = False, delay: float = 0.0,
                 file: TextIO | None = None) -> tqdm | LogProgress[T]:
    """A progress bar over `iterable` (or driven by `update()`) writing to `file` (default stderr): tqdm when
    that stream is a terminal, else a `LogProgress` with the same interface that writes plain lines."""
    stream = sys.stderr if file is None else file
    if _is_terminal(stream):
        from tqdm import tqdm

        return tqdm(iterable, desc=desc, unit=unit, total=total, initial=initial, disable=disable, delay=delay,
                    file=stream)
    return LogProgress(iterable, desc=desc, unit=unit, total=total, initial=initial, disable=disable, delay=delay,
                       file=stream)


def quiet_library_bars(stream: TextIO | None = None) -> None:
    """Off a terminal, turn off the tqdm bars that libraries draw (coremltools' conversion passes, ai-edge-quantizer's
    calibration): a log then holds edgedepth's own lines, not thousands of refreshes. tqdm reads TQDM_DISABLE when it
    is first imported, so this runs before anything imports it; a TQDM_DISABLE the user set wins."""
    if not _is_terminal(sys.stderr if stream is None else stream):
        os.environ.setdefault("TQDM_DISABLE", "1")


def _is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal (a closed or odd stream counts as not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class LogProgress(Generic[T]):
    """The part of tqdm's interface the callers use (iteration, `update`, `set_postfix`, `close`, `with`),
    written as whole lines `desc: N/total unit (P%) elapsed Xs[, postfix]` for a log rather than a terminal."""

    def __init__(self, iterable: Iterable[T] | None = None, *, desc: str, unit: str, total: int | None = None,
                 initial: int = 0, disable: bool = False, delay: float = 0.0, file: TextIO | None = None) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.desc, self.unit, self.total = iterable, desc, unit, total
        self.n, self.disable, self.delay, self.file = initial, disable, delay, file
        self.postfix = ""
        self.start = self._last_time = time.monotonic()
        self._last_n = initial
        self._closed = False

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("LogProgress has no iterable; drive it with update()")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> LogProgress[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count `n` more done; write a line when another tenth is done or EVERY_SECONDS have passed."""
        before, self.n = self.n, self.n + n
        if self.disable or self._closed:
            return
        now = time.monotonic()
        share = bool(self.total) and self.n * SHARES // self.total > before * SHARES // self.total
        if (share or now - self._last_time >= EVERY_SECONDS) and now - self.start >= self.delay:
            self._write(now)

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Show `key=value` pairs after the count on the next line (as tqdm does after its bar)."""
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Show `s` after the count on the next line."""
        self.postfix = s

    def close(self) -> None:
        """Write the final line (unless the last line already said it, or `delay` had not passed); idempotent."""
        if self._closed:
            return
        self._closed = True
        now = time.monotonic()
        if not self.disable and self.n != self._last_n and now - self.start >= self.delay:
            self._write(now)

    def _write(self, now: float) -> None:
        """One line of the current state."""
        count = f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)" if self.total else \
            f"{self.n} {self.unit}"
        postfix = f", {self.postfix}" if self.postfix else ""
        stream = sys.stderr if self.file is None else self.file
        stream.write(f"{self.desc}: {count} elapsed {now - self.start:.1f}s{postfix}\n")
        stream.flush()
        self._last_n, self._last_time = self.n, now
