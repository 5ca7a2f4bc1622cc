"""Atomic writes: a reader (or a crash) never sees a half-written file or bundle directory.

Everything is written to a temporary name in the destination's own directory (same filesystem, so the final
`os.replace` / `os.rename` is atomic), flushed to disk, then renamed over the destination.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runtime.errors import InputError, OverwriteRefused
from runtime.jsonsafe import json_safe

TEMPORARY_NAME = re.compile(r"^\..*\.(tmp|partial|old)-[0-9a-f]{8}")  # what _temp_sibling names


def is_temporary(name: str) -> bool:
    """Whether a file or folder name is one of an unfinished atomic write's (never a result, never a bundle)."""
    return bool(TEMPORARY_NAME.match(name))


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) the folder's file system takes (255 where it cannot say)."""
    try:
        return int(os.pathconf(folder if folder.exists() else ".", "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _temp_sibling(path: Path, kind: str) -> Path:
    """An unused name beside `path` (hidden, keeps the suffix so libraries that look at it still work); the stem
    is shortened where the longer name would not fit the file system (a name that fits gets a temporary that
    fits)."""
    limit = _name_max(path.parent)
    for _ in range(100):
        tail = f".{kind}-{secrets.token_hex(4)}{path.suffix}"
        stem = path.stem
        while stem and len(f".{stem}{tail}".encode()) > limit:
            stem = stem[:-1]
        candidate = path.with_name(f".{stem}{tail}")
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


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename `tmp` to `path`; without `overwrite`, only if `path` does not exist at that moment (a hard link
    fails on an existing name atomically, so of two writers racing for one name the second is refused)."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OverwriteRefused(f"{path} already exists (written by another run meanwhile? use --force to "
                               "overwrite)") from None
    except OSError:  # a file system without hard links: the check and the rename are two steps there
        if path.exists() or path.is_symlink():
            raise OverwriteRefused(_exists_message(path)) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> None:
    """Write `data` to `path` atomically (temporary file in the same directory, fsync, rename); without
    `overwrite`, an existing `path` (even one another process wrote meanwhile) is refused and kept."""
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
        _publish(tmp, path, overwrite)
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


def _lock(folder: Path, blocking: bool) -> int | None:
    """An exclusive flock on `folder`, held by the returned descriptor until it is closed (or the process dies):
    how a live writer's `.partial` folder is told from one a killed run left. None where it is held elsewhere or
    where locks do not exist (Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def being_written(folder: Path) -> bool:
    """Whether a live atomic write (this process's or another's) holds `folder`'s lock."""
    try:
        import fcntl  # noqa: F401 - where locks do not exist, no folder counts as held
    except ImportError:
        return False
    fd = _lock(folder, blocking=False)
    _unlock(fd)
    return fd is None and folder.is_dir()


def remove_stale_partials(final: Path) -> list[Path]:
    """Remove the `.partial` folders beside `final` that no live writer holds (a run killed with SIGKILL or a
    power cut left them); returns what was removed."""
    removed = []
    prefix = f".{final.stem}"
    try:
        siblings = list(final.parent.iterdir()) if final.parent.is_dir() else []
    except OSError:
        return removed
    for sibling in siblings:
        if not (sibling.name.startswith(prefix) and ".partial-" in sibling.name and is_temporary(sibling.name)):
            continue
        if sibling.is_symlink() or not sibling.is_dir():
            continue
        fd = _lock(sibling, blocking=False)
        if fd is None:
            continue  # a live writer holds it (or locks cannot tell): leave it
        try:
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling)
        finally:
            _unlock(fd)
    return removed


def _make_temp_dir(final: Path) -> tuple[Path, int | None]:
    """Create a fresh hidden directory beside `final` (os.mkdir honours the umask, unlike mkdtemp's 0700), locked
    for as long as this process writes it."""
    for _ in range(100):
        candidate = _temp_sibling(final, "partial")
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate, _lock(candidate, blocking=True)
    raise FileExistsError(f"could not create a temporary directory beside {final}")


def _exists_message(final: Path) -> str:
    return f"{final} already exists (use --force to replace it)"


@contextmanager
def atomic_directory(final: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; it becomes `final` only when the block succeeds.

    If `final` exists: OverwriteRefused (checked before and after the block) unless `force`, in which case
    the old one is replaced only once the new one is complete. On failure (Ctrl-C and SIGTERM included) the
    temporary directory is removed and an existing `final` is left untouched; one a killed run left beside
    `final` is removed first.
    """
    final = Path(final)
    if final.exists() and not force:
        raise OverwriteRefused(_exists_message(final))
    made = [p for p in reversed(final.parents) if not p.exists()]  # removed again if the block fails
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final)
    tmp, lock = _make_temp_dir(final)
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
    finally:
        _unlock(lock)
    _fsync_dir(final.parent)


BUNDLE_MANIFEST = "manifest.json"  # runtime.bundle.MANIFEST (named here too: bundle.py imports this module)


def enclosing_bundle(folder: Path) -> Path | None:
    """The bundle `folder` lies in (itself or a folder above it holding a manifest.json), or None."""
    for candidate in (folder.resolve(), *folder.resolve().parents):
        if (candidate / BUNDLE_MANIFEST).is_file():
            return candidate
    return None


def writable(folder: Path) -> None:
    """Refuse, before any work, a folder where nothing can be written (probed in the nearest one that exists;
    nothing is created), or one inside a bundle (a bundle holds what its manifest lists, nothing else)."""
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot write under {parent}: it is not a folder")
    bundle = enclosing_bundle(parent)
    if bundle is not None:
        raise InputError(f"{folder} is inside the bundle {bundle}: outputs never go into a bundle")
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgedepth-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write to {parent}: {exc.strerror or exc}") from None
