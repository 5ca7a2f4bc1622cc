"""Strict-JSON conversion: every file this toolkit writes parses in any JSON reader, not only Python's.

Convention (the one place it is decided): +inf → the string "inf", -inf → "-inf", NaN → null. PSNR of two
identical outputs is +inf, so report.json and manifests carry "psnr_db": "inf"; `float("inf")` parses it back.
numpy scalars and arrays become Python numbers and lists, paths and other objects become strings.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """A copy of `obj` that `json.dumps(..., allow_nan=False)` accepts (non-finite floats as above)."""
    if isinstance(obj, dict):
        return {str(key): json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, PurePath):
        return obj.as_posix()
    return str(obj)


def as_float(value: Any) -> float | None:
    """A number read back from JSON ("inf" / "-inf" strings included) as float; None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
