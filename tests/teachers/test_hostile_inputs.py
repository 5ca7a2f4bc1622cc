"""Hostile inputs to the teacher-output cache, generated from a table: an entry cut short, a bit flipped, emptied,
not a zip, claiming encryption, an unknown version or compression, or an extra field running off the end is
computed again and replaced by a whole entry, with no temporary file left behind."""

from __future__ import annotations

import numpy as np
import pytest

from edgedepth.teachers.base import Prediction, Teacher
from tests.hostile import DAMAGES, leftovers


class RedTeacher(Teacher):
    """A teacher whose prediction is the red channel."""

    name, kind = "red", "relative_inverse_depth"

    def params(self):
        return {}

    def predict(self, sample):
        value = sample.left[..., 0].astype(np.float32) / 255
        return Prediction(value, self.kind, np.ones(value.shape, bool))


def _zip_field(offset_in_entry: int, signature: bytes, bit: int):
    """Damage: flip `bit` of the byte `offset_in_entry` into the first zip record with `signature`."""
    def damage(data: bytes) -> bytes:
        at = data.index(signature) + offset_in_entry
        flipped = bytearray(data)
        flipped[at] ^= 1 << bit
        return bytes(flipped)
    return damage


LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"
CACHE_DAMAGES = {
    **DAMAGES,
    "not a zip": lambda data: b"x" * len(data),
    "claims encryption": _zip_field(8, CENTRAL, 0),  # general-purpose flag bit 0
    "unknown version": _zip_field(6, CENTRAL, 7),  # version needed to extract
    "unknown compression": _zip_field(10, CENTRAL, 0),  # compression method
    "extra field runs off the end": _zip_field(29, LOCAL, 0),  # extra-field length, high byte
}


@pytest.mark.parametrize("damage", CACHE_DAMAGES)
def test_a_damaged_teacher_cache_entry_is_recomputed_and_replaced(damage, tmp_path):
    from edgedepth.data.sample import StereoSample
    from edgedepth.teachers.cache import CachedTeacher

    rng = np.random.default_rng(0)
    sample = StereoSample("s", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), None)
    cached = CachedTeacher(RedTeacher(), tmp_path / "cache")
    fresh = cached.predict(sample)
    (entry,) = (tmp_path / "cache").rglob("*.npz")
    entry.write_bytes(CACHE_DAMAGES[damage](entry.read_bytes()))
    again = cached.predict(sample)
    assert cached.misses == 2 and np.array_equal(again.value, fresh.value) and np.array_equal(again.valid, fresh.valid)
    with np.load(entry, allow_pickle=False) as stored:  # replaced by a whole entry
        assert np.array_equal(stored["value"], fresh.value) and np.array_equal(stored["valid"], fresh.valid)
    assert leftovers(tmp_path) == []
    read_back = cached.predict(sample)
    assert cached.hits == 1 and cached.misses == 2 and np.array_equal(read_back.value, fresh.value)
