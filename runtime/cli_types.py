"""What the command lines (`python -m runtime`, `edgedepth`) share: a parser whose usage errors are one line,
and argument types for which a bad number is one usage line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from runtime.threads import MAX_THREADS
from runtime.validate import as_argument, number


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (and exit code 2), pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message.splitlines()[0]} (see {self.prog} --help)\n")


def _bounded(parse: Callable[[str], float], low: float, what: str) -> Callable[[str], float]:
    def check(text: str) -> float:
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not value >= low or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'")
        return value

    return check


positive_int = _bounded(int, 1, "a positive integer")
count = _bounded(int, 0, "a whole number ≥ 0")
non_negative = _bounded(float, 0.0, "a number ≥ 0")  # NaN fails `value >= low`, inf is refused below
# The checks every file's copy of the same setting goes through too (runtime.validate):
thread_count = as_argument(number(1, MAX_THREADS, integer=True))
finite_float = as_argument(number())
positive_float = as_argument(number(above=0.0))
