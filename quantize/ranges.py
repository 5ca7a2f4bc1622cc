"""The one rule for degenerate activation ranges, shared by the onnxruntime and ai-edge-quantizer int8 paths (NNCF
applies its own minimum range).

A trained network can leave an activation all zeros over the calibration set (a ReLU path it no longer uses).
Its calibrated range is then zero, and the quantizer's epsilon turns that into a scale near 1e-12: the next
layer's int32 bias scale (input scale × weight scale) underflows, and XNNPACK refuses to prepare a convolution
whose requantization scale (input × weight / output scale) is that far out of range. Such a tensor gets a
minimum range instead: a small fraction of the model's typical activation range, enough for sane scales
everywhere and too small to matter for a tensor that carries nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

# A calibrated range (zero included, as quantizers include it) under this fraction of the median activation range
# is raised to it. 1e-3 of the median keeps a requantization scale below 256 for weight scales up to ~0.25.
RELATIVE_FLOOR = 1e-3
# The floor never drops below this absolute width (a model whose activations are all tiny).
ABSOLUTE_FLOOR = 1e-6


def range_width(low: float, high: float) -> float:
    """The width a quantizer covers for [low, high]: the range stretched to include zero."""
    return float(max(high, 0.0) - min(low, 0.0))


def range_floor(widths: Iterable[float]) -> float:
    """The minimum width for one model: RELATIVE_FLOOR of the median of its non-zero activation widths."""
    positive = [w for w in widths if np.isfinite(w) and w > 0]
    if not positive:
        return ABSOLUTE_FLOOR
    return max(float(np.median(positive)) * RELATIVE_FLOOR, ABSOLUTE_FLOOR)


def floored(low: float, high: float, floor: float) -> tuple[float, float] | None:
    """[low, high] widened upward to `floor` (zero included) when narrower, else None (leave it as it is)."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    if high - low >= floor:
        return None
    return low, low + floor


def floor_ranges(ranges: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """{tensor: new (low, high)} for the tensors of `ranges` ({tensor: (low, high)}) whose width is under the
    model's floor; the others are left out."""
    floor = range_floor(range_width(lo, hi) for lo, hi in ranges.values())
    raised = {}
    for name, (low, high) in ranges.items():
        widened = floored(low, high, floor)
        if widened is not None:
            raised[name] = widened
    return raised
