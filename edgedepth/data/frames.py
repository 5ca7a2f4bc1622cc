"""A user's video for self-supervised training (`self:video --frames PATH`): a folder of frames taken in sorted
name order or a video file that OpenCV decodes, every K-th frame kept, and the camera's intrinsics (3×3 K, or
fx fy cx cy, in pixels of the frames as stored) from a small text file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgedepth.data.images import read_photo
from edgedepth.errors import EdgeDepthError
from runtime.images import list_images
from runtime.validate import read_text

INTRINSICS_NAME = "intrinsics.txt"  # looked for inside a frames folder when --intrinsics is not given
INTRINSICS_FORMAT = "three lines of the 3×3 K matrix, or one line fx fy cx cy, in pixels of the frames as stored"


def intrinsics_file(frames: str | Path, intrinsics: str | Path | None) -> Path:
    """The intrinsics file to read: `intrinsics` when given, else the frames folder's intrinsics.txt (a video
    file has no folder to hold one, so it must be given)."""
    root = Path(frames)
    if not root.exists():
        raise EdgeDepthError(f"--frames: {root} not found (a folder of frames or a video file)")
    if intrinsics is not None:
        return Path(intrinsics)
    if root.is_dir():
        return root / INTRINSICS_NAME
    raise EdgeDepthError(f"--frames {root} is a video: give its intrinsics with --intrinsics FILE "
                         f"({INTRINSICS_FORMAT})")


def read_intrinsics(path: Path) -> np.ndarray:
    """The 3×3 intrinsics (float64, pixels of the frames as stored) in `path`; one-line errors when the file is
    missing or unreadable, holds neither 9 nor 4 numbers, or gives a focal length that is not positive."""
    if not path.is_file():
        raise EdgeDepthError(f"--frames needs the camera's intrinsics: {path} is missing ({INTRINSICS_FORMAT})")
    try:
        values = [float(v) for v in read_text(path, "intrinsics").replace(",", " ").split()]
    except ValueError as exc:
        raise EdgeDepthError(f"{path}: unreadable intrinsics ({exc}); expected {INTRINSICS_FORMAT}") from None
    if len(values) == 9:
        k = np.asarray(values, np.float64).reshape(3, 3)
        if not np.allclose(k[2], [0.0, 0.0, 1.0]):
            raise EdgeDepthError(f"{path}: the last row of K must be 0 0 1, not {' '.join(f'{v:g}' for v in k[2])}")
    elif len(values) == 4:
        fx, fy, cx, cy = values
        k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    else:
        raise EdgeDepthError(f"{path}: {len(values)} number(s); expected {INTRINSICS_FORMAT}")
    if not np.isfinite(k).all():
        raise EdgeDepthError(f"{path}: the intrinsics must be finite numbers")
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise EdgeDepthError(f"{path}: the focal lengths must be positive (fx {k[0, 0]:g}, fy {k[1, 1]:g})")
    return k


def resized_intrinsics(k: np.ndarray, size: tuple[int, int], height: int, width: int) -> np.ndarray:
    """`k` for frames of `size` (h0, w0) resized to (height, width) (a user's frames and the procedural
    sequences alike): focal lengths scale with the size, and pixel centres map as x' + 0.5 = (x + 0.5)·scale."""
    h0, w0 = size
    out = np.diag([width / w0, height / h0, 1.0]) @ k
    out[0, 2] = (k[0, 2] + 0.5) * width / w0 - 0.5
    out[1, 2] = (k[1, 2] + 0.5) * height / h0 - 0.5
    return out


def _folder_frames(root: Path, step: int) -> Iterator[tuple[str, np.ndarray]]:
    """Every `step`-th image of the folder in sorted name order, as (name, RGB frame)."""
    for name in list_images(root)[::step]:
        yield name, read_photo(root / name)


def _video_frames(path: Path, step: int) -> Iterator[tuple[str, np.ndarray]]:
    """Every `step`-th frame of a video file, as ("frame N", RGB frame); one-line errors when OpenCV cannot open
    it or it yields no frame."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise EdgeDepthError(f"--frames: cannot open {path} as a video (a folder of frames, or a file OpenCV "
                                 "decodes: mp4, avi, ...)")
        index = 0
        while capture.grab():  # skipped frames are grabbed, not converted
            if index % step == 0:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    raise EdgeDepthError(f"--frames: {path}: frame {index} could not be decoded")
                yield f"frame {index}", np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
        if index == 0:
            raise EdgeDepthError(f"--frames: {path} yields no frame (an empty video, or a codec OpenCV lacks)")
    finally:
        capture.release()


def read_frames(path: str | Path, step: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """Every `step`-th frame of a frames folder or a video file, in order, as (name, H×W×3 uint8 RGB frame), each
    decoded once; one-line errors for a missing path, an unreadable video and frames of differing sizes."""
    root = Path(path)
    if step < 1:
        raise EdgeDepthError(f"--frame-step must be at least 1, not {step}")
    if not root.exists():
        raise EdgeDepthError(f"--frames: {root} not found (a folder of frames or a video file)")
    size = None
    for name, frame in _folder_frames(root, step) if root.is_dir() else _video_frames(root, step):
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            raise EdgeDepthError(f"--frames: {name} is {frame.shape[1]}×{frame.shape[0]}, the first frame "
                                 f"{size[1]}×{size[0]}: every frame must have the same size")
        yield name, frame
