"""Training arrays of the self-supervised objective at the student's input size, in 0..1 (the photometric loss
compares raw colours; the student's normalisation is applied per batch): stereo pairs (procedural scenes or a
user's `--pairs` folder) and video clips (procedural sequences: three frames and their intrinsics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from edgedepth.data.pairs import read_pairs
from edgedepth.data.procedural import scene_seed
from edgedepth.data.registry import procedural_training_samples
from edgedepth.data.sample import StereoSample, _resize_image
from edgedepth.data.sequences import make_sequence


@dataclass
class Views:
    """N×V×3×H×W float32 in 0..1 (stereo: left, right; video: previous, target, next frame), the intrinsics of
    video clips (N×3×3, input pixels; None for stereo), and what the checkpoint records about the data."""

    images: np.ndarray
    intrinsics: np.ndarray | None
    record: dict[str, Any]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _chw(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """An H×W×3 uint8 image resized to (height, width) as 3×H×W float32 in 0..1."""
    return (_resize_image(image, height, width).astype(np.float32) / 255.0).transpose(2, 0, 1)


def _stack_pairs(samples: Sequence[StereoSample], height: int, width: int, progress: bool) -> np.ndarray:
    """N×2×3×H×W of the pairs' views at the input size."""
    return np.stack([np.stack([_chw(s.left, height, width), _chw(s.right, height, width)])
                     for s in tqdm(samples, desc="pairs", disable=not progress, unit="pair")])


def stereo_views(height: int, width: int, scenes: int, seed: int, scale: int, family: str,
                 pairs: str | None = None, progress: bool = True) -> Views:
    """Procedural pairs rendered at `scale`× the input and shrunk to it, or the `pairs` folder's pairs."""
    if pairs is not None:
        samples = read_pairs(pairs)
        calib = samples[0].calib
        record = {"dataset": "pairs", "folder": pairs, "pairs": len(samples),
                  "focal_baseline_px_m_at_input": None if calib is None else
                  calib.focal_px * calib.baseline_m * width / samples[0].left.shape[1]}
        return Views(_stack_pairs(samples, height, width, progress), None, record)
    samples = procedural_training_samples(scenes, seed, height, width, scale, family)
    record = {"dataset": "procedural", "scenes": scenes, "seed": seed, "family": family,
              "focal_baseline_px_m_at_input": width / 6.0}  # every procedural rig: d = width/6 at 1 m
    return Views(_stack_pairs(samples, height, width, progress), None, record)


def video_clips(height: int, width: int, sequences: int, seed: int, scale: int, family: str,
                progress: bool = True) -> Views:
    """Procedural sequences of three frames rendered at `scale`× the input and shrunk to it, with intrinsics."""
    clips, intrinsics = [], []
    for i in tqdm(range(sequences), desc="sequences", disable=not progress, unit="clip"):
        sequence = make_sequence(scene_seed(seed, i), height * scale, width * scale, 3, family).resized(height, width)
        clips.append(np.stack([(f.astype(np.float32) / 255.0).transpose(2, 0, 1) for f in sequence.frames]))
        intrinsics.append(sequence.intrinsics.astype(np.float32))
    record = {"dataset": "procedural-sequences", "sequences": sequences, "seed": seed, "family": family,
              "frames": 3}
    return Views(np.stack(clips), np.stack(intrinsics), record)
