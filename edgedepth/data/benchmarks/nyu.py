"""NYU Depth v2 as downloaded: the labeled `nyu_depth_v2_labeled.mat` (MATLAB v7.3, an HDF5 file: `images`
stored as N×3×W×H uint8 and `depths` as N×W×H float metres, both transposed from MATLAB's H×W order), with the
official test split from `splits.mat` (`testNdxs`, 1-based) when it lies beside it; or the common folder export:
RGB images beside 16-bit PNG depth in millimetres (`rgb_00045.jpg` + `sync_depth_00045.png`, or
`00045_colors.png` + `00045_depth.png`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedepth.data.benchmarks.files import Benchmark, BenchmarkError, make_sample, read_png16, read_rgb, same_size
from edgedepth.data.sample import StereoSample
from runtime.errors import first_line

MAT_NAME = "nyu_depth_v2_labeled.mat"
PROTOCOLS = ("nyu-eigen", "nyu-full")
# (depth file pattern, the image names that go with its number), the export conventions in use.
EXPORTS = ((re.compile(r"^sync_depth_(\d+)\.png$"), ("rgb_{}.jpg", "rgb_{}.png")),
           (re.compile(r"^(\d+)_depth\.png$"), ("{}_colors.png", "{}_colors.jpg")))


@dataclass(frozen=True)
class MatImage:
    """Image `index` (0-based) of a labeled .mat."""

    path: Path
    index: int


def _open_mat(path: Path):
    """The .mat as an h5py File with `images` and `depths` checked; one line for anything else."""
    import h5py

    if not h5py.is_hdf5(path):
        raise BenchmarkError(f"{path} is not a MATLAB v7.3 (HDF5) file; NYU's labeled .mat is v7.3")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise BenchmarkError(f"cannot read {path} ({first_line(exc)})") from None
    images, depths = handle.get("images"), handle.get("depths")
    ok = (images is not None and depths is not None and len(images.shape) == 4 and images.shape[1] == 3
          and len(depths.shape) == 3 and depths.shape[0] == images.shape[0] and depths.shape[1:] == images.shape[2:])
    if not ok:
        handle.close()
        raise BenchmarkError(f"{path}: expected datasets images (N×3×W×H) and depths (N×W×H) of the same N, W, H")
    return handle


def load_mat_image(entry: MatImage) -> StereoSample:
    """One labeled image: RGB and depth transposed back to H×W, depth > 0 valid."""
    with _open_mat(entry.path) as handle:
        image = np.ascontiguousarray(np.transpose(handle["images"][entry.index], (2, 1, 0))).astype(np.uint8)
        depth = np.ascontiguousarray(np.asarray(handle["depths"][entry.index], dtype=np.float32).T)
    valid = np.isfinite(depth) & (depth > 0)
    return make_sample(f"nyu-{entry.index + 1:04d}", left=image, right=None, valid=valid,
                       depth=np.where(valid, depth, 0.0).astype(np.float32))


def split_indices(splits: Path, count: int) -> list[int]:
    """0-based indices of the official test split (`testNdxs` in splits.mat, 1-based)."""
    from scipy.io import loadmat

    try:
        values = np.asarray(loadmat(splits)["testNdxs"]).reshape(-1).astype(int)
    except (OSError, ValueError, KeyError, NotImplementedError) as exc:
        raise BenchmarkError(f"cannot read testNdxs from {splits} ({first_line(exc)})") from None
    if values.size == 0 or values.min() < 1 or values.max() > count:
        raise BenchmarkError(f"{splits}: testNdxs out of the range 1–{count}")
    return [int(v) - 1 for v in values]


def read_mat(path: Path) -> Benchmark:
    """The labeled .mat's test images (or all of them without splits.mat)."""
    with _open_mat(path) as handle:
        count = int(handle["images"].shape[0])
    splits = path.parent / "splits.mat"
    if splits.is_file():
        indices, notes = split_indices(splits, count), [f"official test split ({splits.name})"]
    else:
        indices, notes = list(range(count)), [f"all {count} images (no splits.mat beside the .mat: no test split)"]
    return Benchmark("nyu", path.parent, [MatImage(path, i) for i in indices], load_mat_image, PROTOCOLS, notes,
                     layout="labeled .mat (v7.3)")


@dataclass(frozen=True)
class ExportedImage:
    """One exported image and its millimetre depth PNG."""

    image: Path
    depth: Path


def load_exported(entry: ExportedImage) -> StereoSample:
    """An exported image with its depth (mm → m, 0 = no data)."""
    image = read_rgb(entry.image)
    raw = same_size(entry.depth, image, read_png16(entry.depth))
    return make_sample(entry.depth.stem, left=image, right=None, valid=raw > 0,
                       depth=raw.astype(np.float32) / 1000.0)


def read_export(root: Path) -> Benchmark:
    """Every depth PNG under `root` that follows an export convention, with its image (one line when missing)."""
    entries = []
    for depth in sorted(root.rglob("*.png")):
        for pattern, image_names in EXPORTS:
            found = pattern.match(depth.name)
            if found:
                image = next((depth.parent / n.format(found.group(1)) for n in image_names
                              if (depth.parent / n.format(found.group(1))).is_file()), None)
                if image is None:
                    expected = image_names[0].format(found.group(1))
                    raise BenchmarkError(f"image missing for {depth} (expected {expected})")
                entries.append(ExportedImage(image, depth))
    if not entries:
        raise BenchmarkError(f"nyu: neither {MAT_NAME} nor exported depth PNGs (sync_depth_NNNNN.png, "
                             f"NNNNN_depth.png) in {root}")
    return Benchmark("nyu", root, entries, load_exported, PROTOCOLS, layout="folder export (16-bit mm PNG)")


def read_nyu(folder: str | Path) -> Benchmark:
    """NYU Depth v2 from the labeled .mat (DIR itself or inside DIR) or from a folder export."""
    path = Path(folder)
    if path.is_file():
        return read_mat(path)
    if not path.is_dir():
        raise BenchmarkError(f"nyu folder not found: {path}")
    if (path / MAT_NAME).is_file():
        return read_mat(path / MAT_NAME)
    return read_export(path)
