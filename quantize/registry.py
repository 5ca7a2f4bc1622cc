"""Quantization methods by name: each maps a float bundle plus calibration inputs to a quantized bundle."""

from __future__ import annotations

from collections.abc import Callable

from quantize.onnxruntime_qdq import quantize_bundle as _ort_qdq

METHODS: dict[str, tuple[str, Callable]] = {
    # name: (format it applies to, function(fp32_bundle, calibration, out_dir, name, force=...))
    "ort-qdq": ("onnx", _ort_qdq),
}


def get_method(name: str) -> tuple[str, Callable]:
    """The (format, function) of a quantization method; one-line ValueError for an unknown name."""
    if name not in METHODS:
        raise ValueError(f"unknown quantization method '{name}' (known: {', '.join(sorted(METHODS))})")
    return METHODS[name]


def method_for_format(fmt: str) -> str:
    """The default int8 method for a bundle format."""
    for name, (method_format, _) in METHODS.items():
        if method_format == fmt:
            return name
    raise ValueError(f"no int8 quantization method for format '{fmt}'")
