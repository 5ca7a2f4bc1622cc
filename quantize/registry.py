"""Quantization methods by name: each maps an fp32 bundle plus calibration inputs to a quantized bundle."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """A method: the bundle format it starts from, the precision it writes, and where its function lives."""

    format: str
    precision: str
    module: str

    def function(self) -> Callable:
        """`quantize_bundle(fp32_bundle, calibration, out_dir, name, force=...)` of the method's module."""
        return importlib.import_module(self.module).quantize_bundle


# The first method listed for a format is its default.
METHODS: dict[str, Method] = {
    "ort-qdq": Method("onnx", "int8", "quantize.onnxruntime_qdq"),
    "nncf": Method("onnx", "int8-nncf", "quantize.nncf_int8"),
    "litert": Method("tflite", "int8", "quantize.litert_int8"),
}


def get_method(name: str) -> Method:
    """The method registered as `name`; one-line ValueError for an unknown name."""
    if name not in METHODS:
        raise ValueError(f"unknown quantization method '{name}' (known: {', '.join(sorted(METHODS))})")
    return METHODS[name]


def method_for_format(fmt: str) -> str:
    """The default int8 method for a bundle format."""
    for name, method in METHODS.items():
        if method.format == fmt:
            return name
    raise ValueError(f"no int8 quantization method for format '{fmt}' (methods: "
                     f"{', '.join(f'{n} ({m.format})' for n, m in METHODS.items())})")
