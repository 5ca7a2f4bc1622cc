"""What the MIL interpreter raises: one line each, so a report row can carry it as its reason."""

from __future__ import annotations


class MILError(RuntimeError):
    """A program the interpreter cannot read or evaluate (a malformed package, a shape that disagrees)."""


class UnsupportedOp(MILError):
    """An operation the interpreter has no kernel for: named, never guessed at."""
