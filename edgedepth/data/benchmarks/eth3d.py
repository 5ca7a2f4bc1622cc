"""ETH3D two-view stereo as downloaded (the training set): one folder per scene with `im0.png`, `im1.png`,
`disp0GT.pfm` (+inf = unknown), `mask0nocc.png` (255 = non-occluded) and `calib.txt`, Middlebury's format, so a
scene is read by the Middlebury 2014 reader."""

from __future__ import annotations

from pathlib import Path

from edgedepth.data.benchmarks.files import Benchmark, BenchmarkError, require
from edgedepth.data.benchmarks.middlebury import read_2014_scene, scene_folders
from edgedepth.data.sample import StereoSample

GROUND_TRUTH = ("disp0GT.pfm",)


def _read(folder: Path) -> StereoSample:
    return read_2014_scene(folder, GROUND_TRUTH)


def read_eth3d(folder: str | Path) -> Benchmark:
    """Every ETH3D two-view scene under `folder` (or `folder` itself), each checked for its files now."""
    root = Path(folder)
    scenes = scene_folders(root, "eth3d")
    for scene in scenes:
        if not (scene / "im0.png").is_file():
            raise BenchmarkError(f"{scene}: not an ETH3D two-view scene (im0.png missing)")
        require(scene / GROUND_TRUTH[0], "ground truth")
        require(scene / "calib.txt", "calibration")
    return Benchmark("eth3d", root, scenes, _read, ("eth3d",), layout="two-view")
