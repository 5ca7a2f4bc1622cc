"""The teacher-output cache: computed once per (pixels, teacher identity), read back bit for bit, rebuilt when
an entry is damaged, and never shared between teachers or between views."""

from __future__ import annotations

import numpy as np
import pytest

from edgedepth.data import StereoSample, get_dataset
from edgedepth.teachers import Prediction, Teacher
from edgedepth.teachers.cache import CachedTeacher, default_cache_dir, image_key


class CountingTeacher(Teacher):
    """Inverse brightness as 'depth'; counts its calls so the tests can see what the cache saved."""

    name = "counting"
    kind = "relative_inverse_depth"

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain
        self.calls = 0

    def params(self) -> dict:
        return {"gain": self.gain}

    def predict(self, sample: StereoSample) -> Prediction:
        self.calls += 1
        value = self.gain * sample.left.mean(axis=2).astype(np.float32) / 255.0 + 0.1
        valid = value > 0.3
        return Prediction(np.where(valid, value, 0.0).astype(np.float32), self.kind, valid)


@pytest.fixture(scope="module")
def scenes() -> list[StereoSample]:
    return list(get_dataset("procedural", n=3, seed=3, height=48, width=64))


def test_second_pass_reads_identical_predictions_from_disk(tmp_path, scenes):
    teacher = CountingTeacher()
    cached = CachedTeacher(teacher, tmp_path)
    first = [cached.predict(s) for s in scenes]
    again = CachedTeacher(CountingTeacher(), tmp_path)  # a new run, same teacher identity
    second = [again.predict(s) for s in scenes]
    assert teacher.calls == 3 and again.teacher.calls == 0 and again.stats()["hits"] == 3
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.value, b.value) and np.array_equal(a.valid, b.valid) and b.kind == a.kind
    assert (cached.folder / "identity.json").is_file()
    assert cached.identity() == teacher.identity() and cached.name == "counting"


def test_another_teacher_or_other_pixels_miss(tmp_path, scenes):
    CachedTeacher(CountingTeacher(1.0), tmp_path).predict(scenes[0])
    other = CachedTeacher(CountingTeacher(2.0), tmp_path)
    assert not np.array_equal(other.predict(scenes[0]).value, CountingTeacher(1.0).predict(scenes[0]).value)
    assert other.teacher.calls == 1
    single = StereoSample(name="photo", left=scenes[0].left, right=None)
    assert image_key(single) != image_key(scenes[0])  # a pair's key covers its right view too


def test_a_damaged_entry_is_recomputed_and_replaced(tmp_path, scenes):
    cached = CachedTeacher(CountingTeacher(), tmp_path)
    expected = cached.predict(scenes[1])
    entry = next(cached.folder.rglob("*.npz"))
    entry.write_bytes(b"truncated")
    again = CachedTeacher(CountingTeacher(), tmp_path)
    assert np.array_equal(again.predict(scenes[1]).value, expected.value) and again.teacher.calls == 1
    assert CachedTeacher(CountingTeacher(), tmp_path).predict(scenes[1]) is not None
    assert np.load(entry, allow_pickle=False)["value"].shape == scenes[1].shape


def test_default_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEDEPTH_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("EDGEDEPTH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "edgedepth" / "teachers"
