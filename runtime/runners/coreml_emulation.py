"""Core ML's numerics without Core ML: the bundle's MIL program evaluated in numpy (`runtime.runners.coreml_mil`),
each op in the precision the program declares, the compressed weights decompressed as the program says.

Where Core ML cannot run (off macOS), the measuring pass gives every CoreML bundle a second, untimed row through
this runner: fidelity against the fp32 student and accuracy, never speed (a Mac fills latency in through
`report --merge`). An op the interpreter does not know fails the row with the op's name."""

from __future__ import annotations

import numpy as np

from runtime.bundle import Bundle
from runtime.errors import BundleMismatch
from runtime.runners.base import Runner
from runtime.runners.registry import register_runner


@register_runner
class CoreMLMILRunner(Runner):
    """Runs CoreML bundles' model.mlpackage through the numpy MIL interpreter (see the module docstring)."""

    name = "coreml-mil"
    formats = ("coreml",)
    emulates = True
    requires = ("coremltools",)  # the spec's protobuf classes; the model is never compiled or loaded by Core ML
    install_hint = "pip install coremltools"
    emulation_note = ("the package's MIL program evaluated op by op in numpy, each op in its declared precision, "
                      "not by Core ML; accuracy and fidelity only, never its speed (latency comes from a Mac or an "
                      "iPhone through report --merge)")

    def __init__(self) -> None:
        self.interpreter = None

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        """Read the package's program and weights (constants decompressed once); I/O must match the manifest."""
        from runtime.runners.coreml_mil import MLPackageInterpreter

        interpreter = MLPackageInterpreter(bundle.model_path)
        for kind, features, specs in (("input", interpreter.inputs, bundle.inputs),
                                      ("output", interpreter.outputs, bundle.outputs)):
            names, expected = [f.name for f in features], [spec["name"] for spec in specs]
            if sorted(names) != sorted(expected):
                raise BundleMismatch(f"bundle {bundle.name}: model {kind}s {names} differ from the manifest's "
                                     f"{expected}")
        self.interpreter = interpreter

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Image inputs as 1×H×W×C pixels (an NCHW manifest layout is transposed), then the program."""
        prepared = {}
        for spec in self.bundle.inputs:
            value = feed[spec["name"]]
            prepared[spec["name"]] = value.transpose(0, 2, 3, 1) if spec.get("layout") == "NCHW" and \
                spec.get("coreml_type") == "image" else value
        results = self.interpreter.predict(prepared)
        return {spec["name"]: np.asarray(results[spec["name"]]) for spec in self.bundle.outputs}

    def close_impl(self) -> None:
        self.interpreter = None
