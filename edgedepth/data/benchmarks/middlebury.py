"""Middlebury stereo folders as downloaded: one sub-folder per scene (or DIR itself one scene), its layout told
apart by the files present.

- 2014 / 2021 (and MiddEval3): `im0.png`, `im1.png`, `disp0.pfm` (or `disp0GT.pfm`; +inf = unknown), `calib.txt`
  (cam0, doffs, baseline in mm, width, ndisp), optional `mask0nocc.png` (255 = non-occluded).
- 2001–2006: 8-bit ground truth (PNG, PGM or 24-bit BMP) holding disparity × the scene's scale factor, 0 =
  unknown: Tsukuba 16 (`truedisp.row3.col3.pgm`), 2001 scenes 8 (`im2.ppm`, `im6.ppm`, `disp2.pgm`), 2003
  quarter size 4 (`im2.png`, `im6.png`, `disp2.png`), 2005/2006 `view1.png`, `view5.png`, `disp1.png` at third
  size 3, half size 2, full size 1 (told by the width); optional `nonocc.png` and `disc.png` masks. No
  calibration ships with them, so they have disparity but no depth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedepth.data.benchmarks.files import (
    Benchmark,
    BenchmarkError,
    first_existing,
    make_sample,
    read_grey8,
    read_pfm_map,
    read_rgb,
    require,
    same_size,
)
from edgedepth.data.middlebury import middlebury_sample
from edgedepth.data.sample import Calibration, StereoSample
from runtime.errors import InputError, first_line
from runtime.pointcloud import read_middlebury_calib

GROUND_TRUTH_2014 = ("disp0.pfm", "disp0GT.pfm")
GREY_SUFFIXES = (".png", ".pgm", ".bmp")


@dataclass(frozen=True)
class ClassicLayout:
    """A 2001–2006 scene: left and right image names, the ground truth's stem, and its scale (None: by width)."""

    era: str
    left: str
    right: str
    truth: str
    scale: int | None


CLASSIC = (
    ClassicLayout("2001 (Tsukuba)", "scene1.row3.col3.ppm", "scene1.row3.col4.ppm", "truedisp.row3.col3", 16),
    ClassicLayout("2001", "im2.ppm", "im6.ppm", "disp2", 8),
    ClassicLayout("2003", "im2.png", "im6.png", "disp2", 4),
    ClassicLayout("2005/2006", "view1.png", "view5.png", "disp1", None),
)


def scale_by_width(width: int) -> int:
    """The 2005/2006 disparity scale of an image `width` wide: third size (≈ 410–465 px) 3, half size (≈ 620–700)
    2, full size (≈ 1240–1400) 1."""
    return 3 if width < 560 else 2 if width < 1000 else 1


def read_calib(path: Path, image_width: int) -> Calibration:
    """A Middlebury / ETH3D calib.txt as the pair's Calibration at `image_width` (with `ndisp` when given)."""
    require(path, "calibration")
    try:
        camera = read_middlebury_calib(path)
    except InputError as exc:
        raise BenchmarkError(first_line(exc)) from None
    if camera.fx <= 0 or not camera.baseline or camera.baseline <= 0 or not camera.width:
        raise BenchmarkError(f"{path}: focal, width and baseline must be positive")
    found = re.search(r"^\s*ndisp\s*=\s*([0-9.eE+-]+)\s*$", path.read_text(), flags=re.M)
    ndisp = float(found.group(1)) if found else None
    return Calibration(camera.fx, camera.baseline, camera.doffs, ndisp).scaled(image_width / camera.width)


def nonoccluded_mask(path: Path | None, image: np.ndarray) -> np.ndarray | None:
    """Middlebury's / ETH3D's `mask0nocc.png` as a boolean mask (255 = non-occluded), or None without one."""
    if path is None:
        return None
    return same_size(path, image, read_grey8(path)) == 255


def read_2014_scene(folder: Path, truth_names: tuple[str, ...] = GROUND_TRUTH_2014) -> StereoSample:
    """One 2014/2021-layout scene (also ETH3D's two-view layout): images, PFM disparity, calib.txt, mask."""
    left = read_rgb(require(folder / "im0.png", "left image"))
    right = read_rgb(require(folder / "im1.png", "right image"))
    truth = first_existing(folder, truth_names)
    if truth is None:
        raise BenchmarkError(f"ground truth missing: {folder} has none of {', '.join(truth_names)}")
    disparity = same_size(truth, left, read_pfm_map(truth))
    calib = read_calib(folder / "calib.txt", left.shape[1])
    mask = nonoccluded_mask(first_existing(folder, ("mask0nocc.png",)), left)
    if right.shape != left.shape:
        raise BenchmarkError(f"{folder}: im0.png and im1.png differ in size")
    return middlebury_sample(folder.name, left, right, disparity, calib, mask)


def classic_layout(folder: Path) -> ClassicLayout | None:
    """The 2001–2006 layout whose images are in `folder`, or None."""
    return next((layout for layout in CLASSIC if (folder / layout.left).is_file()), None)


def read_classic_scene(folder: Path, layout: ClassicLayout) -> StereoSample:
    """One 2001–2006 scene: 8-bit ground truth ÷ the scale factor, 0 = unknown; masks where present."""
    left = read_rgb(folder / layout.left)
    right = read_rgb(require(folder / layout.right, "right image"))
    truth = first_existing(folder, [layout.truth + suffix for suffix in GREY_SUFFIXES])
    if truth is None:
        raise BenchmarkError(f"ground truth missing: {folder / layout.truth}(.png, .pgm or .bmp)")
    raw = same_size(truth, left, read_grey8(truth))
    scale = layout.scale or scale_by_width(left.shape[1])
    valid = raw > 0
    masks = {}
    for name in ("nonocc", "disc"):
        path = first_existing(folder, [name + suffix for suffix in GREY_SUFFIXES])
        masks[name] = None if path is None else same_size(path, left, read_grey8(path)) > 0
    return make_sample(folder.name, left=left, right=right, disparity=np.where(valid, raw / scale, 0.0).astype(
        np.float32), valid=valid, nonoccluded=None if masks["nonocc"] is None else masks["nonocc"] & valid)


def _scene_kind(folder: Path) -> str | None:
    """'2014' or '2001-2006' by the files in `folder`, or None when it holds no scene."""
    if (folder / "im0.png").is_file() and (folder / "im1.png").is_file():
        return "2014"
    return "2001-2006" if classic_layout(folder) is not None else None


def read_scene(folder: Path) -> StereoSample:
    """A scene of either layout."""
    if _scene_kind(folder) == "2014":
        return read_2014_scene(folder)
    layout = classic_layout(folder)
    if layout is None:
        raise BenchmarkError(f"{folder} holds no Middlebury scene")
    return read_classic_scene(folder, layout)


def scene_folders(root: Path, what: str) -> list[Path]:
    """`root` itself when it is a scene, else its sub-folders that are, sorted; one line when there are none."""
    if not root.is_dir():
        raise BenchmarkError(f"{what} folder not found: {root}")
    if _scene_kind(root) is not None:
        return [root]
    scenes = sorted(p for p in root.iterdir() if p.is_dir() and _scene_kind(p) is not None)
    if not scenes:
        raise BenchmarkError(f"{what}: no scene in {root} (a scene folder holds im0.png and im1.png, or a "
                             "2001–2006 pair such as im2.png and im6.png)")
    return scenes


def read_middlebury(folder: str | Path) -> Benchmark:
    """A Middlebury folder's scenes (2014/2021 and 2001–2006 layouts may be mixed), each checked for its
    ground truth now and read when used."""
    root = Path(folder)
    scenes = scene_folders(root, "middlebury")
    for scene in scenes:
        if _scene_kind(scene) == "2014":
            if first_existing(scene, GROUND_TRUTH_2014) is None:
                raise BenchmarkError(f"ground truth missing: {scene} has none of {', '.join(GROUND_TRUTH_2014)}")
            require(scene / "calib.txt", "calibration")
    layouts = sorted({_scene_kind(scene) or "" for scene in scenes})
    return Benchmark("middlebury", root, scenes, read_scene, ("middlebury",), layout=", ".join(layouts))
