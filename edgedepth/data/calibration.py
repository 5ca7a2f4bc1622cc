"""A student's calibration set: representative inputs for activation ranges, drawn from the data the student was
distilled on (seeded procedural scenes, or photos of its training folder), prepared as its bundle's inputs are."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgedepth.data import get_dataset
from edgedepth.data.images import ImageFolder
from edgedepth.evaluation.items import sample_feed
from runtime.images import list_images


def calibration_inputs(specs: dict | list[dict], count: int, seed: int, images: str | None = None,
                       files: list[str] | None = None) -> list:
    """Calibration inputs from the data the student was distilled on: procedural scenes (seeded), or `count`
    photos spread evenly over `files` of the folder `images`; prepared for the input spec(s), one array per
    sample for one input, a tuple (in spec order) for a stereo pair."""
    specs = [specs] if isinstance(specs, dict) else list(specs)
    spec = specs[0]
    if images is not None:
        folder = ImageFolder(images, files)
        picks = np.unique(np.linspace(0, len(folder) - 1, num=min(count, len(folder))).round().astype(int))
        samples = [folder[int(i)] for i in picks]
    else:
        height, width = (spec["shape"][2], spec["shape"][3]) if spec["layout"] == "NCHW" else spec["shape"][1:3]
        samples = get_dataset("procedural", n=count, seed=seed, height=height * 2, width=width * 2)
    feeds = [sample_feed(s, specs) for s in samples]
    if len(specs) == 1:
        return [feed[spec["name"]] for feed in feeds]
    return [tuple(feed[item["name"]] for item in specs) for feed in feeds]


def training_images(info: Any) -> tuple[str | None, list[str] | None]:
    """(folder, its training files) when the student was distilled on photos, else (None, None)."""
    record = (info.training or {}).get("data", {})
    if record.get("dataset") != "images":
        return None, None
    held_out = set(record.get("holdout", []))
    return record["folder"], [f for f in list_images(record["folder"]) if f not in held_out]
