"""Where a command will write, checked before it does any work: a bad --out must cost a second, not a trained
model."""

from __future__ import annotations

from pathlib import Path

from edgedepth.errors import EdgeDepthError
from runtime.atomic import writable


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
    writable(path if directory and path.is_dir() else path.parent)
