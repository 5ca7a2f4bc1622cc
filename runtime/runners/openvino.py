"""OpenVINO on the CPU: one stream, latency hint, fixed threads, an explicit inference precision. OpenVINO itself is
imported in `load()`."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from runtime.bundle import Bundle, BundleError
from runtime.errors import BundleMismatch
from runtime.runners.base import Runner, shape_matches
from runtime.runners.registry import register_runner


@register_runner
class OpenVINORunner(Runner):
    """Runs OpenVINO IR bundles (model.xml + model.bin) with the CPU plugin.

    The CPU plugin's default `INFERENCE_PRECISION_HINT` is bf16 wherever the CPU has bf16 instructions (AVX512-BF16,
    AMX): every layer then computes in bf16, whatever the bundle's precision, and an fp32 IR drifts from torch by
    about 0.1 of the output range. The runner therefore asks for f32 explicitly: fp32 bundles compute what they
    claim; fp16 bundles hold compressed weights that the plugin decompresses once at compile time, so f32 compute
    keeps the fp16 error to the weights' rounding alone; int8 bundles run their FakeQuantize layers as int8 kernels
    either way, and f32 keeps the float layers between them (and the output head) exact. The hint used is in
    `precision_hint`, the compiled model's own reading of it in `compiled_precision`.
    """

    name = "openvino"
    formats = ("openvino",)
    requires = ("openvino",)
    install_hint = "pip install openvino"
    device = "CPU"
    # INFERENCE_PRECISION_HINT per bundle precision (see the class docstring); other precisions get f32 too.
    PRECISION_HINTS: ClassVar[dict[str, str]] = {"fp32": "f32", "fp16": "f32", "int8": "f32"}

    def __init__(self) -> None:
        self.compiled: Any = None
        self.request: Any = None
        self.bundle: Bundle | None = None
        self.init_ms = 0.0
        self.precision_hint = ""
        self.compiled_precision = ""
        self._inputs: list[tuple[str, int]] = []
        self._outputs: list[tuple[str, int]] = []

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        """Read the IR and compile it for the CPU; the model's I/O names and shapes must match the manifest's."""
        import openvino as ov

        weights = bundle.model_path.with_suffix(".bin")
        if weights.relative_to(bundle.path).as_posix() not in bundle.manifest["files"]:
            raise BundleError(f"bundle {bundle.path}: {weights.name} is not pinned in the manifest's files")
        hint = self.PRECISION_HINTS.get(bundle.precision, "f32")
        config = {
            "INFERENCE_PRECISION_HINT": hint,
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        }
        core = ov.Core()
        model = core.read_model(str(bundle.model_path), str(weights))
        inputs = _match_ports("input", model.inputs, bundle.inputs, bundle)
        outputs = _match_ports("output", model.outputs, bundle.outputs, bundle)
        compiled = core.compile_model(model, self.device, config)
        request = compiled.create_infer_request()
        self.compiled, self.request = compiled, request
        self._inputs, self._outputs = inputs, outputs
        self.precision_hint = hint
        self.compiled_precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the request, return outputs (copies) by manifest name."""
        results = self.request.infer({index: feed[name] for name, index in self._inputs}, share_outputs=False)
        return {name: np.asarray(results[index]) for name, index in self._outputs}

    def close_impl(self) -> None:
        self.request = None
        self.compiled = None


def _match_ports(kind: str, ports: list[Any], specs: list[dict], bundle: Bundle) -> list[tuple[str, int]]:
    """(manifest name, port index) for each manifest entry; ValueError when names or static shapes disagree."""
    if len(ports) != len(specs):
        raise BundleMismatch(f"bundle {bundle.name}: the model has {len(ports)} {kind}s, the manifest {len(specs)}")
    matched = []
    for spec in specs:
        index = next((i for i, port in enumerate(ports) if spec["name"] in port.get_names()), None)
        if index is None:
            names = sorted(name for port in ports for name in port.get_names())
            raise BundleMismatch(f"bundle {bundle.name}: model {kind}s {names} do not include the manifest's "
                             f"'{spec['name']}'")
        shape = ports[index].get_partial_shape()
        if shape.is_static and not shape_matches([int(d) for d in shape.to_shape()], spec["shape"]):
            raise BundleMismatch(f"bundle {bundle.name}: model {kind} '{spec['name']}' has shape "
                             f"{list(shape.to_shape())}, the manifest says {spec['shape']}")
        matched.append((spec["name"], index))
    return matched

