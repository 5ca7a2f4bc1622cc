"""What every hostile-input test (`tests/*/test_hostile_inputs.py`) shares: how a refusal is checked, and the
damages done to files.

A refusal is one line on stderr with the documented exit code (2 for bad input, 1 for an operating-system failure
on the way, 1 for `bench` rows that failed), no traceback, no temporary file left behind, and no file that existed
changed (every file under the test's folder is hashed before and after)."""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

from edgedepth.cli import main as edgedepth_main
from runtime.__main__ import main as runtime_main

PROGS = {runtime_main: "python -m runtime", edgedepth_main: "edgedepth"}
TEMPORARY = re.compile(r"\.(tmp|partial|old)-[0-9a-f]{8}|\.edgedepth-probe-")
PROC = "/proc/edgedepth-cannot-write"  # a folder nothing can be written into


# ---------------------------------------------------------------------------------------------- the checks


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256 of a file, or where a link points} of everything under `root` (links not followed)."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            found[rel] = f"-> {os.readlink(path)}" if path.is_symlink() else \
                hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders of the atomic writers (or of a writability probe) under `root`."""
    return sorted(str(p) for p in root.rglob("*") if TEMPORARY.search(p.name))


def run(main, argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of one in-process command (argparse's exit included). A warning counts as stderr:
    outside pytest it would print there."""
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    err = capsys.readouterr().err
    return code, "".join(f"{w.category.__name__}: {w.message}\n" for w in caught) + err


def assert_refused(main, argv, capsys, root: Path, code: int, needle: str) -> str:
    """`argv` fails as documented and leaves every file under `root` as it was."""
    before = snapshot(root)
    got, err = run(main, argv, capsys)
    assert got == code, (got, err)
    assert re.match(rf"{PROGS[main]}( \w+)?: error: ", err) and err.count("\n") == 1, err
    assert "Traceback" not in err and needle in err, err
    assert leftovers(root) == []
    assert snapshot(root) == before
    return err


# ---------------------------------------------------------------------------------------------- damages


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bit_flipped(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    return bytes(flipped)


def zero_length(data: bytes) -> bytes:
    return b""


DAMAGES = {"truncated": truncated, "bit-flipped": bit_flipped, "zero-length": zero_length}
