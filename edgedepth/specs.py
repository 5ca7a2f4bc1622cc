"""Manifest input/output entries for a student: the one place the model's I/O contract is spelled out.

A mono student takes one image ("image") and returns "depth" (its output kind says relative or metric); a
stereo student takes the rectified pair ("left", "right"), both prepared the same way, and returns "disparity".
"""

from __future__ import annotations

from typing import Any

from edgedepth.checkpoint import StudentInfo
from edgedepth.tasks import get_task
from runtime.bundle import DISPARITY

INPUT_NAME = "image"
OUTPUT_NAME = "depth"
DISPARITY_NAME = "disparity"


def input_names(info: StudentInfo) -> tuple[str, ...]:
    """The model's input names in call order, as its task names them (("image",) mono, ("left", "right") stereo)."""
    return get_task(info.task).input_names


def input_spec(info: StudentInfo, layout: str = "NCHW", name: str | None = None) -> dict[str, Any]:
    """Manifest `inputs` entry: RGB scaled by 1/255, ImageNet-normalised, fixed size, batch 1."""
    height, width = info.input_size
    shape = [1, 3, height, width] if layout == "NCHW" else [1, height, width, 3]
    return {
        "name": name or input_names(info)[0],
        "shape": shape,
        "dtype": "float32",
        "layout": layout,
        "color": "RGB",
        "normalization": {"mean": list(info.mean), "std": list(info.std), "scale": 1.0 / 255.0},
    }


def input_specs(info: StudentInfo, layout: str = "NCHW") -> list[dict[str, Any]]:
    """Every input entry, in the order the model takes them."""
    return [input_spec(info, layout, name) for name in input_names(info)]


def output_spec(info: StudentInfo) -> dict[str, Any]:
    """Manifest `outputs` entry: one N×H×W map of the student's output kind at the input resolution."""
    height, width = info.input_size
    name = DISPARITY_NAME if info.output_kind == DISPARITY else OUTPUT_NAME
    return {"name": name, "shape": [1, height, width], "dtype": "float32", "kind": info.output_kind}


def with_resize(spec: dict[str, Any], resize_filter: str) -> dict[str, Any]:
    """An input or output entry naming the resize filter of its model's reference pipeline (runtime.resize); the
    entry as it is for the default filter, which needs no mention."""
    from runtime.resize import DEFAULT_FILTER

    return spec if resize_filter == DEFAULT_FILTER else {**spec, "resize": {"filter": resize_filter}}
