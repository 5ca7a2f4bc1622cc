"""DIODE as downloaded (`val/indoors|outdoor/scene_*/scan_*/`): each `NAME.png` with `NAME_depth.npy` (H×W×1
float32 metres) and `NAME_depth_mask.npy` (H×W, 1 = valid)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgedepth.data.benchmarks.files import (
    Benchmark,
    BenchmarkError,
    make_sample,
    read_npy,
    read_rgb,
    require,
    same_size,
)
from edgedepth.data.sample import StereoSample


@dataclass(frozen=True)
class Scan:
    """One DIODE image and its depth and mask arrays."""

    image: Path
    depth: Path
    mask: Path


def load_scan(scan: Scan) -> StereoSample:
    """An image with its depth, valid where the mask is set and the depth positive."""
    image = read_rgb(scan.image)
    depth = same_size(scan.depth, image, read_npy(scan.depth))
    valid = (same_size(scan.mask, image, read_npy(scan.mask)) > 0) & (depth > 0)
    return make_sample(scan.image.stem, left=image, right=None, valid=valid, depth=depth * valid)


def read_diode(folder: str | Path) -> Benchmark:
    """Every DIODE scan under `folder`, its three files checked."""
    root = Path(folder)
    if not root.is_dir():
        raise BenchmarkError(f"diode folder not found: {root}")
    scans = []
    for depth in sorted(root.rglob("*_depth.npy")):
        stem = depth.name[: -len("_depth.npy")]
        scans.append(Scan(require(depth.with_name(stem + ".png"), "image"), depth,
                          require(depth.with_name(stem + "_depth_mask.npy"), "depth mask")))
    if not scans:
        raise BenchmarkError(f"diode: no NAME_depth.npy in {root}")
    return Benchmark("diode", root, scans, load_scan, ("diode", "diode-10m"))
