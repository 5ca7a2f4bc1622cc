"""Manifest input/output entries for a student: the one place the model's I/O contract is spelled out."""

from __future__ import annotations

from typing import Any

from edgedepth.checkpoint import StudentInfo

INPUT_NAME = "image"
OUTPUT_NAME = "depth"


def input_spec(info: StudentInfo, layout: str = "NCHW") -> dict[str, Any]:
    """Manifest `inputs` entry: RGB scaled by 1/255, ImageNet-normalised, fixed size, batch 1."""
    height, width = info.input_size
    shape = [1, 3, height, width] if layout == "NCHW" else [1, height, width, 3]
    return {
        "name": INPUT_NAME,
        "shape": shape,
        "dtype": "float32",
        "layout": layout,
        "color": "RGB",
        "normalization": {"mean": list(info.mean), "std": list(info.std), "scale": 1.0 / 255.0},
    }


def output_spec(info: StudentInfo) -> dict[str, Any]:
    """Manifest `outputs` entry: one N×H×W map of the student's output kind at the input resolution."""
    height, width = info.input_size
    return {"name": OUTPUT_NAME, "shape": [1, height, width], "dtype": "float32", "kind": info.output_kind}
