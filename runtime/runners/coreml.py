"""CoreML on macOS, CPU only: runs `model.mlpackage` bundles through coremltools' predictor. coremltools itself is
imported in `load()`; off macOS the runner says it is unavailable (CoreML prediction needs macOS).

The feed is what the manifest says and `runtime.preprocess.prepare_input` makes: for an image input
(`coreml_type: "image"`) a 1×H×W×3 uint8 RGB array, which becomes a PIL image (the normalisation is inside the
model); a multiarray input is passed through as the manifest's dtype.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import numpy as np

from runtime.bundle import Bundle
from runtime.errors import BundleMismatch
from runtime.runners.base import Runner
from runtime.runners.registry import register_runner

MACOS_ONLY = "CoreML prediction needs macOS"


@register_runner
class CoreMLRunner(Runner):
    """Runs CoreML bundles with compute units CPU_ONLY; `threads` is recorded but CoreML has no thread setting
    (the framework schedules its own CPU work), so timings at different `threads` run the same way."""

    name = "coreml"
    formats = ("coreml",)
    requires = ("coremltools", "PIL")
    install_hint = "pip install coremltools pillow (prediction runs on macOS only)"

    def __init__(self) -> None:
        self.model: Any = None
        self.bundle: Bundle | None = None
        self.init_ms = 0.0
        self.threads = 1
        self._image_inputs: set[str] = set()

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if sys.platform != "darwin":
            return False, MACOS_ONLY
        ok, reason = super().available()
        if not ok:
            return ok, reason
        if importlib.util.find_spec("coremltools.libcoremlpython") is None:
            return False, "coremltools has no native predictor (libcoremlpython) in this install"
        return True, ""

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        """Open the package with compute units CPU_ONLY (compilation included)."""
        if sys.platform != "darwin":
            raise RuntimeError(MACOS_ONLY)
        import coremltools as ct

        model = ct.models.MLModel(str(bundle.model_path), compute_units=ct.ComputeUnit.CPU_ONLY)
        description = model.get_spec().description
        inputs = {feature.name: feature.type.WhichOneof("Type") for feature in description.input}
        outputs = [feature.name for feature in description.output]
        for kind, names, specs in (("input", list(inputs), bundle.inputs), ("output", outputs, bundle.outputs)):
            expected = [spec["name"] for spec in specs]
            if sorted(names) != sorted(expected):
                raise BundleMismatch(f"bundle {bundle.name}: model {kind}s {names} differ from the manifest's "
                                     f"{expected}")
        self._image_inputs = {name for name, kind in inputs.items() if kind == "imageType"}
        self.model, self.threads = model, threads

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Turn image inputs into PIL images, predict, return outputs by name."""
        prepared: dict[str, Any] = {}
        for spec in self.bundle.inputs:
            name = spec["name"]
            prepared[name] = _to_image(feed[name], spec) if name in self._image_inputs else feed[name]
        results = self.model.predict(prepared)
        return {spec["name"]: np.asarray(results[spec["name"]]) for spec in self.bundle.outputs}

    def close_impl(self) -> None:
        self.model = None


def _to_image(array: np.ndarray, spec: dict[str, Any]) -> Any:
    """A PIL RGB image from a batch-of-one uint8 array in the manifest's layout."""
    from PIL import Image

    if array.dtype != np.uint8:
        raise ValueError(f"image input '{spec['name']}' takes uint8 pixels, got {array.dtype}")
    pixels = array[0].transpose(1, 2, 0) if spec["layout"] == "NCHW" else array[0]
    return Image.fromarray(np.ascontiguousarray(pixels))
