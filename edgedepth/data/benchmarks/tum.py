"""TUM RGB-D sequences as downloaded: `rgb.txt` and `depth.txt` (lines `timestamp filename`, `#` comments) with
the `rgb/` and `depth/` folders; depth is 16-bit PNG, value / 5000 = metres, 0 = no data. Each depth frame is
paired with the colour frame nearest in time, within 0.02 s, each frame used once (TUM's associate.py). DIR is a
sequence or a folder of sequences."""

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
from edgedepth.data.sample import StereoSample

DEPTH_SCALE = 5000.0
MAX_DIFFERENCE = 0.02  # seconds, associate.py's default


@dataclass(frozen=True)
class Frame:
    """A colour frame and the depth frame associated with it."""

    name: str
    image: Path
    depth: Path


def read_list(path: Path) -> dict[float, str]:
    """timestamp → file name of a TUM list file; one line for a malformed entry."""
    entries = {}
    for number, line in enumerate(require(path, "TUM list").read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.replace(",", " ").split()
        try:
            entries[float(fields[0])] = fields[1]
        except (ValueError, IndexError):
            raise BenchmarkError(f"{path}:{number}: expected 'timestamp filename', got {line.strip()[:60]!r}") from None
    return entries


def associate(first: dict[float, str], second: dict[float, str],
              max_difference: float = MAX_DIFFERENCE) -> list[tuple[float, float]]:
    """Pairs (a, b) of timestamps, |a − b| < max_difference, the closest pairs taken first and each timestamp used
    once; sorted by a (TUM's associate.py)."""
    candidates = sorted((abs(a - b), a, b) for a in first for b in second if abs(a - b) < max_difference)
    used_a, used_b, pairs = set(), set(), []
    for _, a, b in candidates:
        if a not in used_a and b not in used_b:
            used_a.add(a)
            used_b.add(b)
            pairs.append((a, b))
    return sorted(pairs)


def sequence_frames(folder: Path) -> list[Frame]:
    """The associated frames of one sequence, their files checked."""
    rgb, depth = read_list(folder / "rgb.txt"), read_list(folder / "depth.txt")
    frames = []
    for a, b in associate(rgb, depth):
        frames.append(Frame(f"{folder.name}/{a:.6f}", require(folder / rgb[a], "colour frame"),
                            require(folder / depth[b], "depth frame")))
    return frames


def load_frame(frame: Frame) -> StereoSample:
    """A colour frame and its depth (÷ 5000 → metres, 0 = no data)."""
    image = read_rgb(frame.image)
    raw = same_size(frame.depth, image, read_png16(frame.depth))
    return make_sample(frame.name, left=image, right=None, valid=raw > 0, depth=raw.astype(np.float32) / DEPTH_SCALE)


def read_tum(folder: str | Path) -> Benchmark:
    """A TUM RGB-D sequence (DIR holds rgb.txt) or every sequence in DIR's sub-folders."""
    root = Path(folder)
    if not root.is_dir():
        raise BenchmarkError(f"tum folder not found: {root}")
    sequences = [root] if (root / "rgb.txt").is_file() else sorted(
        p for p in root.iterdir() if p.is_dir() and (p / "rgb.txt").is_file())
    if not sequences:
        raise BenchmarkError(f"tum: no sequence in {root} (a sequence folder holds rgb.txt and depth.txt)")
    frames = [frame for sequence in sequences for frame in sequence_frames(sequence)]
    if not frames:
        raise BenchmarkError(f"tum: no colour frame within {MAX_DIFFERENCE} s of a depth frame in {root}")
    return Benchmark("tum", root, frames, load_frame, ("tum",), [f"{len(sequences)} sequence(s)"])
