"""onnxruntime on the CPU: fixed intra-op threads, one inter-op thread, sequential execution, all graph
optimisations, the way a single-camera device loop runs it. onnxruntime itself is imported in `load()`."""

from __future__ import annotations

from typing import Any

import numpy as np

from runtime.bundle import Bundle
from runtime.errors import BundleMismatch
from runtime.runners.base import Runner
from runtime.runners.registry import register_runner


@register_runner
class OnnxRuntimeRunner(Runner):
    """Runs ONNX bundles with onnxruntime's CPUExecutionProvider."""

    name = "onnxruntime"
    formats = ("onnx",)
    requires = ("onnxruntime",)
    install_hint = "pip install onnxruntime"
    provider = "CPUExecutionProvider"
    # Session config entries (onnxruntime's `add_session_config_entry`) a subclass may set.
    session_config: tuple[tuple[str, str], ...] = ()

    def __init__(self) -> None:
        self.session: Any = None
        self.bundle: Bundle | None = None
        self.init_ms = 0.0
        self._output_names: list[str] = []

    @classmethod
    def available(cls) -> tuple[bool, str]:
        ok, reason = super().available()
        if not ok:
            return ok, reason
        import onnxruntime

        if cls.provider not in onnxruntime.get_available_providers():
            return False, f"onnxruntime {onnxruntime.__version__} has no {cls.provider}"
        return True, ""

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        """Create the session; the model's I/O names must match the manifest's."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        for key, value in self.session_config:
            options.add_session_config_entry(key, value)
        session = ort.InferenceSession(str(bundle.model_path), sess_options=options,
                                       providers=[self.provider])
        _check_names("input", [i.name for i in session.get_inputs()], bundle.inputs, bundle)
        _check_names("output", [o.name for o in session.get_outputs()], bundle.outputs, bundle)
        _check_shapes(session.get_inputs(), bundle.inputs, bundle)
        self.session = session
        self._output_names = [spec["name"] for spec in bundle.outputs]

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the session, return outputs by manifest name."""
        results = self.session.run(self._output_names, feed)
        return dict(zip(self._output_names, results, strict=True))

    def close_impl(self) -> None:
        self.session = None


def _check_shapes(model_inputs: list, specs: list[dict], bundle: Bundle) -> None:
    """Where both the model and the manifest fix a dimension, they must agree (a lying manifest fails at load,
    not as a backend error at the first inference)."""
    declared = {spec["name"]: spec["shape"] for spec in specs}
    for item in model_inputs:
        model_shape = [d if isinstance(d, int) and d >= 0 else -1 for d in item.shape]  # -1: dynamic
        fixed = declared[item.name]
        if len(model_shape) != len(fixed) or not all(
                m < 0 or not isinstance(f, int) or f < 0 or m == f for m, f in zip(model_shape, fixed, strict=True)):
            raise BundleMismatch(f"bundle {bundle.name}: model input '{item.name}' is {item.shape}, the manifest "
                                 f"declares {declared[item.name]}")


def _check_names(kind: str, model: list[str], specs: list[dict], bundle: Bundle) -> None:
    """The manifest must name the model's inputs/outputs exactly (a stale manifest is caught at load time)."""
    manifest = [spec["name"] for spec in specs]
    if sorted(model) != sorted(manifest):
        raise BundleMismatch(f"bundle {bundle.name}: model {kind}s {model} differ from the manifest's {manifest}")
