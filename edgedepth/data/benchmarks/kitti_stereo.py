"""KITTI 2012 / 2015 stereo as downloaded (the `training` folder, or its parent): left and right colour images
(`image_2` / `image_3` for 2015, `colored_0` / `colored_1` for 2012), ground-truth disparity as 16-bit PNG
(value / 256 px, 0 = no data) in `disp_occ_0` (all pixels) and `disp_noc_0` (non-occluded; 2012: `disp_occ`,
`disp_noc`), and the calibration (`calib_cam_to_cam/NNNNNN.txt` with P_rect_02 / P_rect_03, 2012: `calib/NNNNNN.txt`
with P2 / P3) that turns disparity into depth. Only the `_10` frames have ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedepth.data.benchmarks.files import (
    Benchmark,
    BenchmarkError,
    make_sample,
    read_png16,
    read_rgb,
    require,
    same_size,
)
from edgedepth.data.sample import Calibration, StereoSample


@dataclass(frozen=True)
class Layout:
    """One KITTI stereo release's folder and key names."""

    year: str
    left: str
    right: str
    occ: tuple[str, ...]
    noc: tuple[str, ...]
    calib: str
    keys: tuple[str, str]


LAYOUTS = (
    Layout("2015", "image_2", "image_3", ("disp_occ_0",), ("disp_noc_0",), "calib_cam_to_cam",
           ("P_rect_02", "P_rect_03")),
    Layout("2012", "colored_0", "colored_1", ("disp_occ", "disp_occ_0"), ("disp_noc", "disp_noc_0"), "calib",
           ("P2", "P3")),
)


@dataclass(frozen=True)
class Pair:
    """One frame's files (noc and calib may be absent)."""

    name: str
    left: Path
    right: Path
    occ: Path
    noc: Path | None
    calib: Path | None
    keys: tuple[str, str]


def read_kitti_calib(path: Path, keys: tuple[str, str]) -> Calibration:
    """f, baseline and doffs of the left/right rectified cameras from their 3×4 projection matrices
    (P[0, 3] = −f·x of the camera, so B = (P_left[0, 3] − P_right[0, 3]) / f; doffs = cx_right − cx_left)."""
    matrices = {}
    for line in require(path, "calibration").read_text().splitlines():
        key, sep, values = line.partition(":")
        if sep and key.strip() in keys:
            try:
                matrices[key.strip()] = np.array([float(v) for v in values.split()], dtype=np.float64)
            except ValueError:
                raise BenchmarkError(f"{path}: {key.strip()} is not 12 numbers") from None
    for key in keys:
        if key not in matrices or matrices[key].size != 12:
            raise BenchmarkError(f"{path}: {key} (12 numbers) missing or malformed")
    left, right = (matrices[k].reshape(3, 4) for k in keys)
    focal = left[0, 0]
    baseline = (left[0, 3] - right[0, 3]) / focal if focal > 0 else 0.0
    if focal <= 0 or baseline <= 0:
        raise BenchmarkError(f"{path}: focal {focal:g} and baseline {baseline:g} must be positive")
    return Calibration(float(focal), float(baseline), float(right[0, 2] - left[0, 2]))


def _first_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def _pairs(root: Path, layout: Layout) -> list[Pair]:
    """Every `_10` frame of `layout` under `root`, its files checked."""
    occ_dir, noc_dir = _first_dir(root, layout.occ), _first_dir(root, layout.noc)
    if occ_dir is None:
        raise BenchmarkError(f"kitti-stereo: ground truth missing: {root / layout.occ[0]} (the test set has none)")
    pairs = []
    for left in sorted((root / layout.left).glob("*_10.png")):
        frame = left.stem[:-3]
        noc = None if noc_dir is None else noc_dir / left.name
        calib = root / layout.calib / f"{frame}.txt"
        pairs.append(Pair(left.stem, left, require(root / layout.right / left.name, "right image"),
                          require(occ_dir / left.name, "ground-truth disparity"),
                          noc if noc is not None and noc.is_file() else None,
                          calib if calib.is_file() else None, layout.keys))
    return pairs


def load_pair(pair: Pair) -> StereoSample:
    """A frame's views, disparity (÷ 256, 0 = no data), the non-occluded mask and, with calibration, depth."""
    left, right = read_rgb(pair.left), read_rgb(pair.right)
    occ = same_size(pair.occ, left, read_png16(pair.occ))
    valid = occ > 0
    disparity = np.where(valid, occ / 256.0, 0.0).astype(np.float32)
    nonoccluded = None if pair.noc is None else (same_size(pair.noc, left, read_png16(pair.noc)) > 0) & valid
    calib = None if pair.calib is None else read_kitti_calib(pair.calib, pair.keys)
    depth = None if calib is None else calib.depth_from_disparity(disparity, valid)
    return make_sample(pair.name, left=left, right=right, disparity=disparity, valid=valid, nonoccluded=nonoccluded,
                       depth=depth, calib=calib)


def read_kitti_stereo(folder: str | Path) -> Benchmark:
    """The KITTI 2015 or 2012 training pairs under `folder` (told apart by their folder names)."""
    root = Path(folder)
    if (root / "training").is_dir():
        root = root / "training"
    if not root.is_dir():
        raise BenchmarkError(f"kitti-stereo folder not found: {root}")
    layout = next((lay for lay in LAYOUTS if (root / lay.left).is_dir()), None)
    if layout is None:
        raise BenchmarkError(f"kitti-stereo: {root} holds neither image_2/ (2015) nor colored_0/ (2012)")
    pairs = _pairs(root, layout)
    notes = [] if all(p.calib for p in pairs) else ["some frames lack calibration: no depth for them"]
    protocols = ("kitti-2015", "kitti-2012") if layout.year == "2015" else ("kitti-2012", "kitti-2015")
    return Benchmark("kitti-stereo", root, pairs, load_pair, protocols, notes, layout=f"KITTI {layout.year}")
