"""Atomic writes: a reader (or a crash) never sees a half-written file or bundle directory.

Everything is written to a temporary name in the destination's own directory (same filesystem, so the final
`os.replace` / `os.rename` is atomic), flushed to disk, then renamed over the destination.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runtime.errors import InputError, OverwriteRefused
from runtime.jsonsafe import json_safe


def _temp_sibling(path: Path, kind: str) -> Path:
    """An unused name beside `path` (hidden, keeps the suffix so libraries that look at it still work)."""
    for _ in range(100):
        candidate = path.with_name(f".{path.stem}.{kind}-{secrets.token_hex(4)}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"could not find a free temporary name beside {path}")


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Remove a file or a directory tree, ignoring what is already gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path, "tmp")
    try:
        # os.open with 0o666 honours the umask (mkstemp would leave the final file 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write `obj` as strict JSON atomically; non-finite floats follow `runtime.jsonsafe` ("inf", null)."""
    text = json.dumps(json_safe(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a library that writes by name; renamed over `path` on success.

    The temporary path does not exist yet and keeps `path`'s suffix. On an exception it is removed and the
    exception propagates; if the block wrote nothing, FileNotFoundError is raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path, "tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for {path}")
        if tmp.is_file():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(path.parent)


def _make_temp_dir(final: Path) -> Path:
    """Create a fresh hidden directory beside `final` (os.mkdir honours the umask, unlike mkdtemp's 0700)."""
    for _ in range(100):
        candidate = _temp_sibling(final, "partial")
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"could not create a temporary directory beside {final}")


def _exists_message(final: Path) -> str:
    return f"{final} already exists (use --force to replace it)"


@contextmanager
def atomic_directory(final: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; it becomes `final` only when the block succeeds.

    If `final` exists: OverwriteRefused (checked before and after the block) unless `force`, in which case
    the old one is replaced only once the new one is complete. On failure the temporary directory is removed
    and an existing `final` is left untouched.
    """
    final = Path(final)
    if final.exists() and not force:
        raise OverwriteRefused(_exists_message(final))
    made = [p for p in reversed(final.parents) if not p.exists()]  # removed again if the block fails
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _make_temp_dir(final)
    try:
        yield tmp
        if final.exists() or final.is_symlink():
            if not force:
                raise OverwriteRefused(_exists_message(final))
            old = _temp_sibling(final, "old")
            os.rename(final, old)
            try:
                os.rename(tmp, final)
            except BaseException:
                os.rename(old, final)
                raise
            _remove(old)
        else:
            os.rename(tmp, final)
    except BaseException:
        _remove(tmp)
        for folder in reversed(made):  # nothing half-made: not even the empty folders made for it
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    _fsync_dir(final.parent)


def writable(folder: Path) -> None:
    """Refuse, before any work, a folder where nothing can be written (probed in the nearest one that exists;
    nothing is created)."""
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot write under {parent}: it is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgedepth-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write to {parent}: {exc.strerror or exc}") from None
