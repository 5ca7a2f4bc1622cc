"""LiteRT (TensorFlow Lite) on the CPU with its default XNNPACK delegate: `ai_edge_litert.interpreter`, or the
older `tflite_runtime.interpreter` where that is what a device has (same Interpreter API). Imported in `load()`.

Tensors are matched to the manifest by the model's signature names; a model without matching names is accepted
only when it has exactly one input and one output, like the manifest. Integer I/O (fully int8 models) is
quantized and dequantized here with each tensor's scale and zero point, so the manifest's float feed still works.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np

from runtime.bundle import Bundle
from runtime.errors import BundleMismatch, first_line
from runtime.runners.base import Runner, shape_matches
from runtime.runners.registry import register_runner

# Interpreter modules in order of preference.
_BACKENDS = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")
_INTEGER = (np.int8, np.uint8, np.int16)


def _interpreter_module() -> tuple[Any, str]:
    """(the first interpreter module that imports, its name); ImportError naming why each one failed."""
    reasons = []
    for module in _BACKENDS:
        top = module.split(".")[0]
        if importlib.util.find_spec(top) is None:
            reasons.append(f"{top} is not installed")
            continue
        try:
            return importlib.import_module(module), module
        except Exception as exc:  # a broken install (ABI mismatch, missing shared library) says why
            first = first_line(exc)
            reasons.append(f"{module} fails to import: {first}")
    raise ImportError("; ".join(reasons))


class _Tensor:
    """One model I/O tensor bound to its manifest entry: index, model dtype, quantization, manifest shape."""

    def __init__(self, detail: dict[str, Any], spec: dict[str, Any]) -> None:
        self.index = int(detail["index"])
        self.dtype = np.dtype(detail["dtype"])
        self.shape = [int(d) for d in detail["shape"]]
        scale, zero_point = detail.get("quantization", (0.0, 0))
        self.scale, self.zero_point = float(scale), int(zero_point)
        self.name = spec["name"]
        self.manifest_dtype = np.dtype(spec["dtype"])
        self.manifest_shape = spec["shape"]
        self.static = all(isinstance(d, int) and d >= 0 for d in spec["shape"])
        if self.dtype.type in _INTEGER and self.manifest_dtype.kind == "f" and self.scale <= 0:
            raise ValueError(f"'{self.name}' is {self.dtype} in the model but has no quantization scale")

    def to_model(self, array: np.ndarray) -> np.ndarray:
        """A manifest-typed array as the model's tensor type (quantized when the model takes integers)."""
        if self.dtype == array.dtype:
            return array
        if self.dtype.type in _INTEGER and array.dtype.kind == "f":
            info = np.iinfo(self.dtype)
            q = np.round(array / self.scale) + self.zero_point
            return np.clip(q, info.min, info.max).astype(self.dtype)
        return array.astype(self.dtype)

    def from_model(self, array: np.ndarray) -> np.ndarray:
        """A model output as the manifest's dtype (dequantized) and shape."""
        if self.dtype.type in _INTEGER and self.manifest_dtype.kind == "f":
            array = (array.astype(np.float32) - self.zero_point) * np.float32(self.scale)
        array = array.astype(self.manifest_dtype, copy=False)
        return array.reshape(self.manifest_shape) if self.static else array


def _bind(kind: str, details: dict[str, dict[str, Any]], specs: list[dict[str, Any]], bundle: Bundle) -> list[_Tensor]:
    """Match model tensors {name: detail} to manifest entries: by name, or 1:1 when each side has a single one."""
    names = [spec["name"] for spec in specs]
    if sorted(details) == sorted(names):
        pairs = [(details[name], spec) for name, spec in zip(names, specs, strict=True)]
    elif len(details) == 1 and len(specs) == 1:
        pairs = [(next(iter(details.values())), specs[0])]
    else:
        raise BundleMismatch(f"bundle {bundle.name}: model {kind}s {sorted(details)} differ from the manifest's "
                             f"{names}")
    bound = [_Tensor(detail, spec) for detail, spec in pairs]
    for tensor in bound:
        expected = tensor.manifest_shape
        if kind == "input" and not shape_matches(tensor.shape, expected):
            raise BundleMismatch(f"bundle {bundle.name}: model input '{tensor.name}' is {tensor.shape}, "
                             f"the manifest says {expected}")
        if kind == "output" and tensor.static and int(np.prod(tensor.shape)) != int(np.prod(expected)):
            raise BundleMismatch(f"bundle {bundle.name}: model output '{tensor.name}' is {tensor.shape}, "
                             f"which does not reshape to the manifest's {expected}")
    return bound


def _io_details(interpreter: Any) -> tuple[dict[str, dict], dict[str, dict]]:
    """({input name: detail}, {output name: detail}) from the only signature, else from the raw tensor names."""
    plain = ({d["name"]: d for d in interpreter.get_input_details()},
             {d["name"]: d for d in interpreter.get_output_details()})
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        return plain
    runner = interpreter.get_signature_runner(next(iter(signatures)))
    named = runner.get_input_details(), runner.get_output_details()
    # set_tensor/get_tensor address the main subgraph: use the signature only when it is that subgraph's I/O.
    for by_name, main in zip(named, plain, strict=True):
        if sorted(d["index"] for d in by_name.values()) != sorted(d["index"] for d in main.values()):
            return plain
    return named


def delegate_partitions(interpreter: Any) -> int | None:
    """How many parts of the graph a delegate took over: the interpreter lists one DELEGATE node per part (the
    default op resolver applies XNNPACK; 0 means LiteRT's built-in kernels run everything). None when this
    interpreter build cannot list its nodes."""
    try:
        return sum(1 for op in interpreter._get_ops_details() if op.get("op_name") == "DELEGATE")
    except Exception:  # the op listing is experimental API: an older build may lack it
        return None


@register_runner
class LiteRTRunner(Runner):
    """Runs .tflite bundles with the LiteRT interpreter (XNNPACK, `threads` threads)."""

    name = "litert"
    formats = ("tflite",)
    requires = ("ai_edge_litert",)
    install_hint = "pip install ai-edge-litert"

    def __init__(self) -> None:
        self.interpreter: Any = None
        self.bundle: Bundle | None = None
        self.backend = ""
        self.init_ms = 0.0
        self._inputs: list[_Tensor] = []
        self._outputs: list[_Tensor] = []
        self._partitions: int | None = None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """ai_edge_litert, or tflite_runtime where only that is installed."""
        try:
            _interpreter_module()
        except ImportError as exc:
            return False, f"{cls.name} needs ai_edge_litert or tflite_runtime ({exc}; {cls.install_hint})"
        return True, ""

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        """Create the interpreter and allocate its tensors; bind I/O to the manifest."""
        module, self.backend = _interpreter_module()
        interpreter = module.Interpreter(model_path=str(bundle.model_path), num_threads=threads)
        interpreter.allocate_tensors()
        inputs, outputs = _io_details(interpreter)
        self._inputs = _bind("input", inputs, bundle.inputs, bundle)
        self._outputs = _bind("output", outputs, bundle.outputs, bundle)
        self.interpreter = interpreter
        self._partitions = delegate_partitions(interpreter)

    def device_info(self) -> dict[str, Any]:
        """Which kernels run the model: the default XNNPACK delegate (and in how many partitions of the graph),
        or LiteRT's built-in kernels alone, where the delegate took nothing."""
        if self._partitions is None:
            return {"delegate": "unknown (this interpreter does not list its nodes)"}
        if self._partitions:
            return {"delegate": "XNNPACK", "delegate_partitions": self._partitions}
        return {"delegate": "none (built-in kernels)"}

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once, return outputs by manifest name and shape."""
        for tensor in self._inputs:
            self.interpreter.set_tensor(tensor.index, tensor.to_model(feed[tensor.name]))
        self.interpreter.invoke()
        return {t.name: t.from_model(self.interpreter.get_tensor(t.index)) for t in self._outputs}

    def close_impl(self) -> None:
        self.interpreter = None
