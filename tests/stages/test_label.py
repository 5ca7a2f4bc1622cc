"""`edgedepth label`: processes filling one teacher-output cache at once leave every entry whole and none lost,
and shards together cover a folder once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgedepth.cli import main
from edgedepth.data.images import ImageFolder
from edgedepth.stages.label import my_share, parse_shard
from edgedepth.teachers.cache import CachedTeacher
from edgedepth.teachers.registry import create_teacher
from tests.helpers import tiny_onnx_model, write_photos

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("label")
    model = folder / "teacher.onnx"
    onnx.save(tiny_onnx_model(), str(model))
    photos = write_photos(folder / "photos", count=12)
    return photos, ["--teacher", f"onnx:{model}", "--teacher-arg", "kind=relative_inverse_depth"]


def _entries_complete(cache: Path, photos: Path, teacher: list[str]) -> None:
    """Every photo's entry is in the cache and reads back (no teacher call), and no temporary file is left."""
    spec = create_teacher(teacher[1], kind="relative_inverse_depth")
    cached = CachedTeacher(spec, cache)
    folder = ImageFolder(photos)
    for i in range(len(folder)):
        prediction = cached.predict(folder[i])
        assert np.isfinite(prediction.value).all()
    assert cached.misses == 0 and cached.hits == len(folder)
    entries = list(cached.folder.rglob("*.npz"))
    assert len(entries) == len(folder) and not [p for p in cached.folder.rglob(".*")]


@pytest.mark.slow  # two processes, each starting torch: seconds
def test_two_processes_filling_one_cache_at_once(tmp_path, setup):
    photos, teacher = setup
    cache = tmp_path / "cache"
    command = [sys.executable, "-m", "edgedepth", "label", *teacher, "--images", str(photos), "--cache", str(cache)]
    runs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # both label every photo: they race on each entry
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        assert "12 of 12 images labelled" in out
    _entries_complete(cache, photos, teacher)


def test_shards_cover_the_folder_once(tmp_path, setup, capsys):
    photos, teacher = setup
    cache = tmp_path / "cache"
    for shard in ("0/2", "1/2"):
        assert main(["label", *teacher, "--images", str(photos), "--cache", str(cache), "--shard", shard]) == 0
    assert "6 of 12 images labelled (6 computed, 0 already cached)" in capsys.readouterr().out
    _entries_complete(cache, photos, teacher)
    assert list(my_share(5, (1, 2))) == [1, 3] and parse_shard("2/3") == (2, 3)
    assert main(["label", *teacher, "--images", str(photos), "--cache", str(cache), "--shard", "2/2"]) == 2
    assert "--shard takes K/N with 0 <= K < N" in capsys.readouterr().err
