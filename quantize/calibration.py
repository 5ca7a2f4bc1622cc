"""Calibration sets: drawn from the same data module the distillation used, and fingerprinted.

One calibration item feeds the model once: an array for a one-input model, or a tuple of arrays (one per
input, in the manifest's order) for a stereo pair.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

CalibrationItem = np.ndarray | tuple[np.ndarray, ...]


def item_arrays(item: CalibrationItem) -> tuple[np.ndarray, ...]:
    """The arrays of one calibration item, in input order."""
    return tuple(item) if isinstance(item, tuple | list) else (item,)


def as_feeds(calibration: Sequence[CalibrationItem], names: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """{input name: float32 array} per calibration item; ValueError when an item has the wrong input count."""
    names = [names] if isinstance(names, str) else list(names)
    feeds = []
    for item in calibration:
        arrays = item_arrays(item)
        if len(arrays) != len(names):
            raise ValueError(f"a calibration item holds {len(arrays)} input(s), the model takes {len(names)}")
        feeds.append({n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(names, arrays, strict=True)})
    return feeds


def calibration_sha256(calibration: Sequence[CalibrationItem]) -> str:
    """sha256 over the shapes, dtypes and bytes of every calibration array, in order (recorded in manifests)."""
    digest = hashlib.sha256()
    for item in calibration:
        for array in item_arrays(item):
            contiguous = np.ascontiguousarray(array)
            digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
            digest.update(contiguous.tobytes())
    return digest.hexdigest()
