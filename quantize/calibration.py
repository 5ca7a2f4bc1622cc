"""Calibration sets: drawn from the same data module the distillation used, and fingerprinted."""

from __future__ import annotations

import hashlib

import numpy as np


def calibration_sha256(arrays: list[np.ndarray]) -> str:
    """sha256 over the shapes, dtypes and bytes of every calibration input, in order (recorded in manifests)."""
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
    return digest.hexdigest()
