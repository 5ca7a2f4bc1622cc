"""Synthetic inputs that match a bundle's manifest, for timing where no real data is at hand."""

from __future__ import annotations

from typing import Any

import numpy as np

from runtime.bundle import Bundle
from runtime.preprocess import input_hwc, prepare_input


def random_input(spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """One input: image-shaped specs get a random RGB picture through `prepare_input` (realistic value range);
    anything else gets standard-normal values of the spec's shape (dynamic dims as 1) and dtype."""
    shape = spec["shape"]
    if len(shape) == 4 and spec.get("layout") in ("NCHW", "NHWC") and all(isinstance(d, int) for d in shape):
        height, width, channels = input_hwc(spec)
        if channels in (1, 3):
            image = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
            return prepare_input(image if channels == 3 else image[..., 0], spec)
    dims = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
    values = rng.standard_normal(dims)
    dtype = np.dtype(spec["dtype"])
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=dims).astype(dtype)
    return values.astype(dtype)


def random_inputs(bundle: Bundle, seed: int = 0) -> dict[str, np.ndarray]:
    """{input name: array} for every input of `bundle`, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return {spec["name"]: random_input(spec, rng) for spec in bundle.inputs}
