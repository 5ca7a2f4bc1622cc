"""Teacher-output cache: each prediction is computed once per (image content, teacher identity) and then read
back from disk, across epochs and runs. A big teacher on a CPU is the slowest step of distillation.

Layout: `<root>/<teacher key>/identity.json` (what the key stands for) and `<root>/<teacher key>/<aa>/<image
key>.npz` (value float32, valid bool; read with allow_pickle=False). The teacher key hashes the teacher's full
identity (weights sha256 included), the image key the pixels the teacher sees (both views for a pair). Files
are written atomically; an unreadable entry is recomputed and replaced.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.data.sample import StereoSample
from edgedepth.teachers.base import Prediction, Teacher
from runtime.atomic import atomic_write_bytes, atomic_write_json


def default_cache_dir() -> Path:
    """$EDGEDEPTH_CACHE, else $XDG_CACHE_HOME/edgedepth/teachers, else ~/.cache/edgedepth/teachers."""
    if os.environ.get("EDGEDEPTH_CACHE"):
        return Path(os.environ["EDGEDEPTH_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "edgedepth" / "teachers"


def teacher_key(identity: dict[str, Any]) -> str:
    """A short stable hash of a teacher identity (sorted-key JSON)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def image_key(sample: StereoSample) -> str:
    """The sha256 of the pixels a teacher sees: shape and bytes of the left view, and of the right one if any."""
    digest = hashlib.sha256()
    for view in (sample.left, sample.right):
        if view is not None:
            digest.update(repr((view.shape, str(view.dtype))).encode())
            digest.update(np.ascontiguousarray(view).tobytes())
    return digest.hexdigest()


class CachedTeacher(Teacher):
    """Wraps a teacher: same name, kind and identity, predictions served from `directory` when already known."""

    def __init__(self, teacher: Teacher, directory: str | Path | None = None) -> None:
        self.teacher = teacher
        self.name = teacher.name
        self.kind = teacher.kind
        self.backend = teacher.backend
        self.root = Path(directory) if directory is not None else default_cache_dir()
        self.folder = self.root / teacher_key(teacher.identity())
        self.hits = 0
        self.misses = 0

    def params(self) -> dict[str, Any]:
        return self.teacher.params()

    def identity(self) -> dict[str, Any]:
        return self.teacher.identity()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def _read(self, path: Path) -> Prediction | None:
        """The stored prediction, or None when absent or unreadable (then it is recomputed)."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                return Prediction(stored["value"].astype(np.float32), self.kind, stored["valid"].astype(bool))
        except (OSError, ValueError, KeyError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile):
            return None  # a damaged zip can also claim encryption, an unknown version or method, or end early

    def predict(self, sample: StereoSample) -> Prediction:
        """The cached prediction for these pixels, else the teacher's (stored before it is returned)."""
        path = self._path(image_key(sample))
        cached = self._read(path)
        if cached is not None and cached.value.shape == sample.shape:
            self.hits += 1
            return cached
        prediction = self.teacher.predict(sample)
        self.misses += 1
        if not (self.folder / "identity.json").is_file():
            atomic_write_json(self.folder / "identity.json", self.teacher.identity())
        buffer = io.BytesIO()
        np.savez(buffer, value=prediction.value.astype(np.float32), valid=prediction.valid.astype(bool))
        atomic_write_bytes(path, buffer.getvalue())
        return prediction

    def stats(self) -> dict[str, Any]:
        """Hits, misses and where the entries live: for the training log."""
        return {"directory": str(self.folder), "hits": self.hits, "misses": self.misses}


def build_teacher(spec: str, kwargs: dict[str, Any] | None = None, cache: str | Path | None = None) -> Teacher:
    """The teacher a spec names, behind the output cache when a cache directory is given."""
    from edgedepth.teachers.registry import create_teacher

    teacher = create_teacher(spec, **(kwargs or {}))
    return CachedTeacher(teacher, cache) if cache is not None else teacher
