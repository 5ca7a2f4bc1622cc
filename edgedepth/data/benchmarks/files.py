"""What every benchmark reader shares: one-line errors for a missing or malformed file, the readers of the
files benchmarks ship (RGB images, 8- and 16-bit ground-truth PNG/PGM/BMP, PFM, .npy), and `Benchmark`, the
lazy sequence of samples a reader returns (files are listed and checked when it is built, decoded when a sample
is asked for)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from runtime.depth_io import read_pfm
from runtime.errors import InputError, first_line
from runtime.images import read_image


class BenchmarkError(EdgeDepthError):
    """A benchmark folder that does not hold what its layout needs: a missing or malformed file (one line)."""


def require(path: Path, what: str) -> Path:
    """`path` when it is a file; a one-line BenchmarkError naming `what` is missing otherwise."""
    if not path.is_file():
        raise BenchmarkError(f"{what} missing: {path}")
    return path


def first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of `names` that is a file in `folder`, or None."""
    return next((folder / name for name in names if (folder / name).is_file()), None)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as H×W×3 uint8 RGB (grey images repeated to three channels); one line when unreadable."""
    try:
        return read_image(path)
    except InputError as exc:
        raise BenchmarkError(first_line(exc)) from None


def _open_grey(path: Path) -> Any:
    """A Pillow image of `path`, loaded; one line when it is missing or not an image."""
    from PIL import Image

    require(path, "ground-truth file")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (OSError, ValueError, SyntaxError) as exc:
        raise BenchmarkError(f"cannot read {path} ({first_line(exc)})") from None


def read_png16(path: Path) -> np.ndarray:
    """A 16-bit single-channel PNG (KITTI, NYU and TUM depth, KITTI disparity) as uint16 H×W."""
    image = _open_grey(path)
    if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
        raise BenchmarkError(f"{path} is not a 16-bit single-channel PNG (mode {image.mode})")
    return np.asarray(image, dtype=np.int64).astype(np.uint16)


def read_grey8(path: Path) -> np.ndarray:
    """An 8-bit ground-truth map or mask (PNG, PGM, or a 24-bit BMP whose channels agree) as uint8 H×W."""
    image = _open_grey(path)
    if image.mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if image.mode == "RGB":
        values = np.asarray(image, dtype=np.uint8)
        if not (np.array_equal(values[..., 0], values[..., 1]) and np.array_equal(values[..., 0], values[..., 2])):
            raise BenchmarkError(f"{path} is a colour image, not an 8-bit grey map")
        return np.ascontiguousarray(values[..., 0])
    raise BenchmarkError(f"{path} is not an 8-bit grey map (mode {image.mode})")


def read_pfm_map(path: Path) -> np.ndarray:
    """A PFM disparity map as float32 H×W, top row first; one line when missing or malformed."""
    require(path, "disparity file")
    try:
        return read_pfm(path)
    except (OSError, ValueError) as exc:
        raise BenchmarkError(first_line(exc)) from None


def read_npy(path: Path) -> np.ndarray:
    """A .npy array (never a pickle) as H×W float32, a trailing channel of one dropped."""
    require(path, "array file")
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"cannot read {path} ({first_line(exc)})") from None
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.ndim != 2 or not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise BenchmarkError(f"{path} holds a {values.dtype} array of shape {list(values.shape)}, not an H×W map")
    return values.astype(np.float32)


def same_size(path: Path, image: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`values` when it is the image's H×W; a one-line BenchmarkError naming the file otherwise."""
    if values.shape != image.shape[:2]:
        raise BenchmarkError(f"{path} is {values.shape[1]}×{values.shape[0]}, its image "
                             f"{image.shape[1]}×{image.shape[0]}")
    return values


def make_sample(name: str, **fields: Any) -> StereoSample:
    """A StereoSample, its own shape checks turned into a one-line BenchmarkError."""
    try:
        return StereoSample(name=name, **fields)
    except ValueError as exc:
        raise BenchmarkError(first_line(exc)) from None


class Benchmark(Sequence[StereoSample]):
    """A benchmark's samples in a fixed order, each read from disk when indexed. `protocols` lists the protocols
    (runtime.protocols) that score it, the default first; `notes` say what was left out and why."""

    def __init__(self, name: str, root: Path, entries: list, load: Callable[[Any], StereoSample],
                 protocols: tuple[str, ...], notes: Sequence[str] = (), layout: str = "") -> None:
        if not entries:
            raise BenchmarkError(f"{name}: no sample found in {root}")
        self.name, self.root, self.entries, self.load = name, Path(root), list(entries), load
        self.protocols, self.notes, self.layout = tuple(protocols), list(notes), layout

    def __len__(self) -> int:
        return len(self.entries)

    @overload
    def __getitem__(self, index: int) -> StereoSample: ...

    @overload
    def __getitem__(self, index: slice) -> Benchmark: ...

    def __getitem__(self, index: int | slice) -> StereoSample | Benchmark:
        if isinstance(index, slice):
            return Benchmark(self.name, self.root, self.entries[index], self.load, self.protocols, self.notes,
                             self.layout)
        return self.load(self.entries[index])

    def limited(self, limit: int | None) -> Benchmark:
        """The first `limit` samples (all when None), noted."""
        if limit is None or limit >= len(self):
            return self
        part = self[:limit]
        part.notes = [*self.notes, f"first {limit} of {len(self)} samples (--limit)"]
        return part
