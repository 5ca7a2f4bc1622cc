"""Where a command will write, checked before it does any work: a bad --out must cost a second, not a trained
model."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgedepth.errors import EdgeDepthError


def check_writable(path: Path, force: bool = False, directory: bool = False) -> None:
    """Refuse, in one line, an output that exists without `force`, a file target that is a directory (or the
    reverse), or a place where nothing can be written. Creates nothing: the nearest existing folder is probed."""
    path = Path(path)
    if path.exists() and not force and not directory:
        raise EdgeDepthError(f"{path} already exists (use --force to overwrite)")
    if path.is_dir() and not directory:
        raise EdgeDepthError(f"{path} is a directory; --out names the file to write")
    if path.exists() and directory and not path.is_dir():
        raise EdgeDepthError(f"{path} is a file; --out names a directory here")
    parent = path if directory and path.is_dir() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise EdgeDepthError(f"cannot write under {parent}: it is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgedepth-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EdgeDepthError(f"cannot write to {parent}: {exc.strerror or exc}") from None
