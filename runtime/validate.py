"""One validation layer for every value that reaches edgedepth from outside: the command line, recipes, checkpoint
metadata, bundle manifests, device results, calibration files and the environment all go through these checks,
so a value the command line refuses is refused from a file too, in one line (an `Invalid`, exit 2), before any
work.

Files are read as a server reads them: a regular file (not /dev/zero, a FIFO or a folder), under a size cap,
decoded with an explicit encoding; JSON and YAML trees are bounded in nesting depth and in node count (a YAML
alias bomb expands lazily into more nodes than the cap long before it fills memory).

A small typed validator of our own rather than pydantic: the device kit must run with the standard library and
numpy alone (it is copied to a phone or a Jetson), pydantic is no dependency of the project, and the schemas here
are a few dozen fields whose one-line messages the command lines print as they are."""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import InputError

MAX_TEXT_BYTES = 1 << 20  # a recipe, calib.txt, an intrinsics file: text a person writes
MAX_JSON_BYTES = 64 << 20  # a manifest, a report, a device's results
MAX_DEPTH = 32  # nesting of any JSON or YAML document edgedepth reads (its own go 6 deep)
MAX_NODES = 1_000_000  # values in one document, aliases expanded


class Invalid(InputError):
    """A value or a file that fails its check: one line naming where it came from and what was expected."""


# ---------------------------------------------------------------------------------------------- files


def _regular_size(path: Path, what: str) -> int:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise Invalid(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise Invalid(f"cannot read {what} {path} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise Invalid(f"{what} {path} is {kind}")
    return info.st_size


def read_bytes(path: str | os.PathLike, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is one `Invalid` line, before reading."""
    path = Path(path)
    if _regular_size(path, what) > limit:
        raise Invalid(f"{what} {path} is over the {limit:,}-byte limit")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)  # a file that grows while read is still capped
    except OSError as exc:
        raise Invalid(f"cannot read {what} {path} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise Invalid(f"{what} {path} is over the {limit:,}-byte limit")
    return data


def read_text(path: str | os.PathLike, what: str, limit: int = MAX_TEXT_BYTES, encoding: str = "utf-8") -> str:
    """A regular text file under `limit` bytes, decoded as `encoding` (a byte it cannot decode is one line)."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Invalid(f"{what} {path} is not {encoding} text (byte 0x{data[exc.start]:02x} at offset "
                      f"{exc.start})") from None


def check_tree(data: Any, what: str, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """`data` (parsed JSON or YAML) when it nests at most `max_depth` deep and holds at most `max_nodes` values,
    counted as a reader would see them (a YAML alias counts each time it is used); walked without recursion and
    stopped at the cap, so a bomb costs no more than the cap."""
    stack, nodes = [(data, 0)], 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise Invalid(f"{what} holds over {max_nodes:,} values")
        if depth > max_depth:
            raise Invalid(f"{what} nests over {max_depth} levels deep")
        if isinstance(value, Mapping):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1) for item in value)
    return data


def parse_json(text: str, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """JSON text parsed and bounded (`check_tree`); one `Invalid` line for bad JSON or a too-deep tree."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise Invalid(f"{what} nests over {max_depth} levels deep") from None
    except ValueError as exc:
        raise Invalid(f"{what} is not valid JSON ({str(exc).splitlines()[0]})") from None
    return check_tree(data, what, max_depth)


def load_json(path: str | os.PathLike, what: str, limit: int = MAX_JSON_BYTES) -> Any:
    """A JSON file read under `limit` bytes as UTF-8, parsed and bounded."""
    return parse_json(read_text(path, what, limit), f"{what} {path}")


# ---------------------------------------------------------------------------------------------- values

Check = Callable[[Any, str], Any]  # (value, where it came from) → the value, or Invalid


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def number(low: float | None = None, high: float | None = None, *, integer: bool = False,
           above: float | None = None, nonzero: bool = False) -> Check:
    """A check for one finite number (a whole one with `integer`) in [low, high], or > `above`; booleans and
    strings are refused (a recipe's "4" is text, not a step count)."""
    span = []
    if above is not None:
        span.append(f"> {above:g}")
    if low is not None:
        span.append(f"≥ {low:,}" if integer else f"≥ {low:g}")
    if high is not None:
        span.append(f"≤ {high:,}" if integer else f"≤ {high:g}")
    expected = ("a whole number" if integer else "a finite number") + (" " + " and ".join(span) if span else "")
    expected += ", not 0" if nonzero else ""

    def check(value: Any, where: str) -> Any:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and integer and isinstance(value, float):
            ok = value.is_integer()
            value = int(value) if ok else value
        if ok and isinstance(value, float):
            ok = math.isfinite(value)
        if ok:
            try:
                ok = ((low is None or value >= low) and (high is None or value <= high)
                      and (above is None or value > above) and not (nonzero and value == 0))
            except OverflowError:
                ok = False
        if not ok:
            raise Invalid(f"{where}: expected {expected}, got {_show(value)}")
        return value

    return check


def choice(*allowed: str) -> Check:
    """A check for one of `allowed` names."""
    def check(value: Any, where: str) -> Any:
        if value not in allowed:
            raise Invalid(f"{where}: expected one of {', '.join(allowed)}, got {_show(value)}")
        return value

    return check


def text(max_length: int = 4096) -> Check:
    """A check for a string of at most `max_length` characters."""
    def check(value: Any, where: str) -> Any:
        if not isinstance(value, str) or len(value) > max_length:
            raise Invalid(f"{where}: expected text of at most {max_length} characters, got {_show(value)}")
        return value

    return check


def flag(value: Any, where: str) -> bool:
    """A check for true or false."""
    if not isinstance(value, bool):
        raise Invalid(f"{where}: expected true or false, got {_show(value)}")
    return value


def optional(inner: Check) -> Check:
    """`inner`, or None."""
    return lambda value, where: None if value is None else inner(value, where)


def numbers(item: Check, lengths: tuple[int, ...]) -> Check:
    """A check for a list (or tuple) of `lengths` items, each passing `item`."""
    def check(value: Any, where: str) -> Any:
        if not isinstance(value, (list, tuple)) or len(value) not in lengths:
            raise Invalid(f"{where}: expected a list of {' or '.join(map(str, lengths))} values, got {_show(value)}")
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return check


@dataclass(frozen=True)
class Schema:
    """Checks per field of one kind of thing; fields it does not name pass unchecked (the owner decides whether
    they are known), unless `closed`."""

    checks: Mapping[str, Check]
    closed: bool = False

    def check(self, data: Any, where: str) -> dict[str, Any]:
        """The checked fields of `data` (a mapping), in one pass; the first bad field is one `Invalid` line."""
        if not isinstance(data, Mapping):
            raise Invalid(f"{where}: expected a mapping of fields, got {_show(data)}")
        if self.closed:
            unknown = sorted(str(k) for k in data if k not in self.checks)
            if unknown:
                raise Invalid(f"{where}: unknown field {', '.join(unknown)} (known: {', '.join(self.checks)})")
        return {key: self.checks[key](value, f"{where}.{key}") if key in self.checks else value
                for key, value in data.items()}


def as_argument(check: Check) -> Callable[[str], Any]:
    """An argparse type from a check: the text read as a number (or kept as text), then checked; a refusal is
    argparse's one usage line."""
    import argparse

    def parse(raw: str) -> Any:
        value: Any = raw
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except (TypeError, ValueError):
                continue
        try:
            return check(value, "value")
        except Invalid as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None

    return parse
