"""Quantizers by name: the only map from a method name to the code that lowers a float artifact's precision.

Every method has one calling convention, `quantize_file(src, dst, calibration, input_names) -> manifest entry`:
it reads the float model file `src` of its format, writes the quantized one to `dst`, and returns the manifest's
"quantization" entry. Exporters name a method in their precision table; `quantize_bundle` derives a quantized
bundle from an fp32 one (the `edgedepth quantize` verb) with the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantize import litert_int8, nncf_int8, onnx_fp16, onnxruntime_qdq
from quantize.calibration import CalibrationItem
from runtime.bundle import Bundle
from runtime.errors import RequestError
from runtime.host.tensorrt_build import finish_bundle as finish_tensorrt
from runtime.registry import Registry


@dataclass(frozen=True)
class Method:
    """A quantizer: its name, the format of the float model file it reads and writes, the precision it produces
    (the one place a quantized precision is spelled: exporters' tables read it), whether it needs calibration
    inputs, how its large weights are stored, and the function with the fixed keyword `options` it is called
    with. `finish` (called with the bundle directory and its manifest) writes what the format keeps beside the
    model file, when a derived bundle needs it. Each quantizer module imports its library on first call, so
    this table is cheap."""

    name: str
    format: str
    precision: str
    target: Callable[..., dict[str, Any]]
    calibrated: bool = True
    weight_storage: str = "int8"
    options: tuple[tuple[str, Any], ...] = field(default=())
    finish: Callable[[Path, dict[str, Any]], Any] | None = None

    def quantize_file(self, src: Path, dst: Path, calibration: list[CalibrationItem] | None,
                      input_names: list[str]) -> dict[str, Any]:
        """Quantize the float model file `src` into `dst`; returns the manifest's "quantization" entry.
        `calibration` holds inputs in the model's own layout (needed when `calibrated`)."""
        if self.calibrated and not calibration:
            raise ValueError(f"{self.format} {self.precision} needs calibration inputs")
        return self.target(Path(src), Path(dst), list(calibration or []), list(input_names), **dict(self.options))

    def quantize_bundle(self, fp32: Bundle, calibration: list[CalibrationItem], out_dir: Path, name: str,
                        force: bool = False) -> Bundle:
        """An fp32 bundle of this method's format → the bundle `out_dir/name` at this method's precision."""
        from quantize.derive import derive_bundle, require_fp32

        require_fp32(fp32, self.format, f"{self.format} {self.precision}")
        names = [spec["name"] for spec in fp32.inputs]
        used = calibration if self.calibrated else []
        return derive_bundle(fp32, out_dir, name, self.precision, used, lambda tmp: self.quantize_file(
            fp32.model_path, tmp / fp32.model_path.name, used, names), force=force, finish=self.finish)


# The first method registered for a format is its default for `edgedepth quantize`.
METHODS: Registry[Method] = Registry("quantization method", key=lambda method: method.name)
for _method in (
    Method("ort-qdq", "onnx", "int8", onnxruntime_qdq.quantize_file),
    Method("nncf", "onnx", "int8-nncf", nncf_int8.quantize_file),
    Method("ort-fp16", "onnx", "fp16", onnx_fp16.quantize_file, calibrated=False, weight_storage="fp16"),
    Method("litert", "tflite", "int8", litert_int8.quantize_file, options=(("recipe", litert_int8.STATIC_INT8),)),
    Method("litert-dynamic", "tflite", "int8-dynamic", litert_int8.quantize_file, calibrated=False,
           options=(("recipe", litert_int8.DYNAMIC_INT8),)),
    Method("litert-fp16", "tflite", "fp16", litert_int8.quantize_file, calibrated=False, weight_storage="fp16",
           options=(("recipe", litert_int8.FLOAT16),)),
    Method("trt-qdq", "tensorrt", "int8", onnxruntime_qdq.quantize_file_tensorrt, finish=finish_tensorrt),
    Method("trt-fp16", "tensorrt", "fp16", onnx_fp16.quantize_file, calibrated=False, weight_storage="fp16",
           finish=finish_tensorrt),
):
    METHODS.register(_method)


def get_method(name: str) -> Method:
    """The method registered as `name`; one-line RequestError for an unknown name."""
    return METHODS.get(name)


def method_for_format(fmt: str) -> str:
    """The default method for a bundle format (its static int8)."""
    for name, method in METHODS.items():
        if method.format == fmt:
            return name
    raise RequestError(f"no quantization method for format '{fmt}' (methods: "
                     f"{', '.join(f'{n} ({m.format})' for n, m in METHODS.items())})")


def describe_methods() -> str:
    """"name (format precision)" for every method, for help texts."""
    return ", ".join(f"{name} ({m.format} {m.precision})" for name, m in METHODS.items())
