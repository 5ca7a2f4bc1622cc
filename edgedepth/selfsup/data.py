"""Training arrays of the self-supervised objective at the student's input size, in 0..1 (the photometric loss
compares raw colours; the student's normalisation is applied per batch): stereo pairs (procedural scenes or a
user's `--pairs` folder) and video clips (procedural sequences or a user's `--frames`: three frames and their
intrinsics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.data.frames import intrinsics_file, read_frames, read_intrinsics, resized_intrinsics
from edgedepth.data.pairs import read_pairs
from edgedepth.data.procedural import scene_seed
from edgedepth.data.registry import procedural_training_samples
from edgedepth.data.sample import StereoSample, _resize_image
from edgedepth.data.sequences import make_sequence
from edgedepth.errors import EdgeDepthError
from edgedepth.progress import progress_bar


@dataclass
class Views:
    """N×V×3×H×W float32 in 0..1 (stereo: left, right; video: previous, target, next frame), the intrinsics of
    video clips (N×3×3, input pixels; None for stereo), and what the checkpoint records about the data. With
    `clip_frames` (N×V frame numbers), `images` holds each frame once (F×3×H×W) and a clip is gathered on use: a
    user's video keeps one copy of every frame, not three."""

    images: np.ndarray
    intrinsics: np.ndarray | None
    record: dict[str, Any]
    clip_frames: np.ndarray | None = None

    def __len__(self) -> int:
        return int((self.images if self.clip_frames is None else self.clip_frames).shape[0])

    def take(self, index: np.ndarray) -> np.ndarray:
        """The views of the examples at `index`, len(index)×V×3×H×W (a new array)."""
        return self.images[index if self.clip_frames is None else self.clip_frames[index]]


def _chw(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """An H×W×3 uint8 image resized to (height, width) as 3×H×W float32 in 0..1."""
    return (_resize_image(image, height, width).astype(np.float32) / 255.0).transpose(2, 0, 1)


def _stack_pairs(samples: Sequence[StereoSample], height: int, width: int, progress: bool) -> np.ndarray:
    """N×2×3×H×W of the pairs' views at the input size."""
    return np.stack([np.stack([_chw(s.left, height, width), _chw(s.right, height, width)])
                     for s in progress_bar(samples, desc="pairs", disable=not progress, unit="pair")])


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
    for i in progress_bar(range(sequences), desc="sequences", disable=not progress, unit="clip"):
        sequence = make_sequence(scene_seed(seed, i), height * scale, width * scale, 3, family).resized(height, width)
        clips.append(np.stack([(f.astype(np.float32) / 255.0).transpose(2, 0, 1) for f in sequence.frames]))
        intrinsics.append(sequence.intrinsics.astype(np.float32))
    record = {"dataset": "procedural-sequences", "sequences": sequences, "seed": seed, "family": family,
              "frames": 3}
    return Views(np.stack(clips), np.stack(intrinsics), record)


def frame_clips(height: int, width: int, path: str, intrinsics: str | None = None, frame_step: int = 1,
                progress: bool = True) -> Views:
    """A user's frames (a folder or a video, every `frame_step`-th kept), each decoded once and shrunk to the
    input, as one clip (previous, target, next) per interior frame, with the intrinsics scaled to the input."""
    k_file = intrinsics_file(path, intrinsics)
    k = read_intrinsics(k_file)  # before decoding: a missing file fails at once
    frames, size = [], (0, 0)
    # Shown after a second (a long video), closed on an error so that the error starts its own line.
    with progress_bar(read_frames(path, frame_step), desc="frames", disable=not progress, unit="frame",
                      delay=1.0) as bar:
        for _, frame in bar:
            size = frame.shape[:2]
            frames.append(_chw(frame, height, width))
    if len(frames) < 3:
        kept = f"{len(frames)} frame(s)" + (f" with --frame-step {frame_step}" if frame_step > 1 else "")
        raise EdgeDepthError(f"--frames {path}: {kept}; a clip needs three (previous, target, next)")
    stacked = np.stack(frames)
    del frames
    clips = np.arange(1, len(stacked) - 1)[:, None] + np.arange(-1, 2)[None, :]
    k_input = resized_intrinsics(k, size, height, width).astype(np.float32)
    record = {"dataset": "frames", "path": str(Path(path).resolve()), "frames": len(stacked), "clips": len(clips),
              "frame_step": frame_step, "frame_size": list(size), "intrinsics_file": str(k_file.resolve()),
              "intrinsics_at_input": k_input.tolist()}
    return Views(stacked, np.repeat(k_input[None], len(clips), axis=0), record, clip_frames=clips)
