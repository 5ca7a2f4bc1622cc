"""An mlpackage read without Core ML: its spec (coremltools' protobuf classes, model not loaded), its weight
files, its declared inputs and outputs, and `predict` through the numpy MIL interpreter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.runners.coreml_mil.blob import WeightFile
from runtime.runners.coreml_mil.errors import MILError
from runtime.runners.coreml_mil.program import MILProgram


@dataclass(frozen=True)
class Feature:
    """One model input or output as the spec describes it: an image (with its colour space) or a multiarray."""

    name: str
    kind: str  # "image" | "multiarray"
    color: str = ""  # "RGB" | "BGR" | "GRAYSCALE" … for images


def read_spec(package: Path) -> tuple[Any, Path]:
    """The model spec and the weights folder of an .mlpackage (or a bare .mlmodel), the model never compiled."""
    import coremltools as ct

    try:
        model = ct.models.MLModel(str(package), skip_model_load=True)
    except Exception as exc:  # coremltools raises several types for a broken package
        raise MILError(f"{Path(package).name} does not load as a Core ML model: {exc}") from exc
    return model.get_spec(), Path(model.weights_dir or package)


def _feature(feature: Any) -> Feature:
    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        image = feature.type.imageType
        return Feature(feature.name, "image", type(image).ColorSpace.Name(image.colorSpace))
    return Feature(feature.name, "multiarray")


class MLPackageInterpreter:
    """Core ML's prediction for an mlprogram package, emulated in numpy: `predict({input: array})` with an image
    input given as 1×H×W×C uint8 pixels in the image's colour order (what Core ML receives as a picture)."""

    def __init__(self, package: Path) -> None:
        spec, weights_dir = read_spec(Path(package))
        if spec.WhichOneof("Type") != "mlProgram":
            raise MILError(f"expected an mlprogram, the package holds a {spec.WhichOneof('Type')}")
        files: dict[str, WeightFile] = {}

        def weights(name: str) -> WeightFile:
            base = name.split("/")[-1]
            if base not in files:
                files[base] = WeightFile(weights_dir / base)
            return files[base]

        self.program = MILProgram(spec.mlProgram, weights)
        self.inputs = [_feature(f) for f in spec.description.input]
        self.outputs = [_feature(f) for f in spec.description.output]

    def predict(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name; image inputs become the program's N×C×H×W float tensor of 0–255 pixel values."""
        prepared = {}
        for feature in self.inputs:
            if feature.name not in feeds:
                raise MILError(f"missing input '{feature.name}'")
            value = np.asarray(feeds[feature.name])
            prepared[feature.name] = image_tensor(value, feature.color) if feature.kind == "image" else value
        results = self.program.run(prepared)
        return {f.name: results[f.name] for f in self.outputs}


def image_tensor(pixels: np.ndarray, color: str) -> np.ndarray:
    """1×H×W×C uint8 pixels (C = 3, or 1 for grayscale) as the 1×C×H×W float32 tensor a program's image input
    receives; Core ML hands a program the channels in the image input's colour order."""
    if pixels.dtype != np.uint8 or pixels.ndim != 4:
        raise MILError(f"an image input takes 1×H×W×C uint8 pixels, got {pixels.dtype} {list(pixels.shape)}")
    if color.startswith("GRAYSCALE") and pixels.shape[-1] != 1:
        raise MILError(f"a {color} image input takes one channel, got {pixels.shape[-1]}")
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2), dtype=np.float32)
