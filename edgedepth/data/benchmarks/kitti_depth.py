"""KITTI depth as downloaded: the raw drives' left colour images
(`<date>/<drive>/image_02/data/<frame>.png`, or .jpg as Monodepth2 converts them) and the depth maps of the
KITTI depth benchmark (`<drive>/proj_depth/groundtruth/image_02/<frame>.png`, the annotated maps, or
`velodyne_raw`, the projected scans): 16-bit PNG, value / 256 = metres, 0 = no data.

Which frames: an Eigen test list (`eigen_test_files.txt` lines `date/drive/image_02/data/frame.png …`, or
Monodepth2's `date/drive frame l`) given as DIR itself or found in DIR; else every frame with both files. A listed
frame without a depth map is left out and counted (652 of the 697 Eigen frames have annotated depth)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedepth.data.benchmarks.files import Benchmark, BenchmarkError, make_sample, read_png16, read_rgb, same_size
from edgedepth.data.sample import StereoSample

LIST_NAMES = ("eigen_test_files.txt", "test_files.txt")
DEPTH_KINDS = ("groundtruth", "velodyne_raw")  # preferred first
IMAGE_SUFFIXES = (".png", ".jpg")


@dataclass(frozen=True)
class Frame:
    """One frame: its drive and number, the left image and the depth map."""

    drive: str
    frame: str
    image: Path
    depth: Path


def depth_index(root: Path) -> dict[tuple[str, str], Path]:
    """(drive, frame) → depth PNG under `root`, the annotated map preferred over the projected scan."""
    found: dict[tuple[str, str], tuple[int, Path]] = {}
    for folder, _, files in os.walk(root):
        parts = Path(folder).parts
        if len(parts) < 4 or parts[-1] != "image_02" or parts[-3] != "proj_depth" or parts[-2] not in DEPTH_KINDS:
            continue
        rank, drive = DEPTH_KINDS.index(parts[-2]), parts[-4]
        for name in files:
            if name.endswith(".png"):
                key = (drive, name[:-4])
                if key not in found or rank < found[key][0]:
                    found[key] = (rank, Path(folder) / name)
    return {key: path for key, (_, path) in found.items()}


def parse_list_line(line: str, where: str) -> tuple[str, str, str]:
    """(date, drive, frame) of one test-list line, in either style; one line for a malformed one."""
    tokens = line.split()
    parts = Path(tokens[0]).parts if tokens else ()
    if len(parts) >= 5 and parts[-2] == "data" and parts[-3].startswith("image_0"):
        return parts[-5], parts[-4], Path(parts[-1]).stem
    if len(tokens) >= 2 and len(parts) == 2 and tokens[1].isdigit():
        return parts[0], parts[1], tokens[1].zfill(10)
    raise BenchmarkError(f"{where}: not a KITTI test-list line ({line.strip()[:80]!r}; expected "
                         "'date/drive/image_02/data/frame.png' or 'date/drive frame l')")


def find_image(root: Path, date: str, drive: str, frame: str) -> Path | None:
    """The left image of a frame under `root/date/drive` or `root/drive`."""
    for base in (root / date / drive, root / drive):
        for suffix in IMAGE_SUFFIXES:
            path = base / "image_02" / "data" / (frame + suffix)
            if path.is_file():
                return path
    return None


def _listed_frames(root: Path, listing: Path, depths: dict) -> tuple[list[Frame], int]:
    """The frames a test list names that have depth (missing images are an error), and how many had none."""
    frames, without = [], 0
    lines = [line for line in listing.read_text().splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        date, drive, frame = parse_list_line(line, f"{listing}:{number}")
        image = find_image(root, date, drive, frame)
        if image is None:
            raise BenchmarkError(f"image missing: {date}/{drive}/image_02/data/{frame}.png (listed in {listing}, "
                                 f"line {number})")
        depth = depths.get((drive, frame))
        if depth is None:
            without += 1
        else:
            frames.append(Frame(drive, frame, image, depth))
    return frames, without


def _all_frames(root: Path, depths: dict) -> list[Frame]:
    """Every frame under `root` with both a left image and a depth map."""
    frames = []
    for folder, _, files in os.walk(root):
        path = Path(folder)
        if path.name != "data" or path.parent.name != "image_02":
            continue
        drive = path.parent.parent.name
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            if suffix in IMAGE_SUFFIXES and (drive, stem) in depths:
                frames.append(Frame(drive, stem, path / name, depths[(drive, stem)]))
    return sorted(frames, key=lambda f: (f.drive, f.frame))


def load_frame(frame: Frame) -> StereoSample:
    """A frame's image and metric depth (value / 256, 0 = no data)."""
    image = read_rgb(frame.image)
    raw = same_size(frame.depth, image, read_png16(frame.depth))
    valid = raw > 0
    return make_sample(f"{frame.drive}/{frame.frame}", left=image, right=None, valid=valid,
                       depth=(raw.astype(np.float32) / 256.0))


def read_kitti_depth(folder: str | Path) -> Benchmark:
    """KITTI depth frames of `folder` (a KITTI root, or a test list inside one)."""
    path = Path(folder)
    listing = path if path.is_file() else next((path / n for n in LIST_NAMES if (path / n).is_file()), None)
    root = path.parent if path.is_file() else path
    if not root.is_dir():
        raise BenchmarkError(f"kitti-depth folder not found: {root}")
    depths = depth_index(root)
    if not depths:
        raise BenchmarkError(f"kitti-depth: no depth map in {root} (expected <drive>/proj_depth/groundtruth/"
                             "image_02/<frame>.png or velodyne_raw)")
    notes = []
    if listing is None:
        frames = _all_frames(root, depths)
        notes.append("every frame with a depth map (no eigen_test_files.txt)")
    else:
        frames, without = _listed_frames(root, listing, depths)
        notes.append(f"frames of {listing.name}" + (f"; {without} listed frame(s) without a depth map left out"
                                                    if without else ""))
    kind = "annotated" if any("groundtruth" in str(f.depth) for f in frames) else "velodyne"
    return Benchmark("kitti-depth", root, frames, load_frame,
                     ("kitti-garg", "kitti-eigen", "kitti-garg-50m", "kitti-eigen-50m"), notes, layout=kind)
