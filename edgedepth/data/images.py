"""A folder of photos as single-view samples, read on access: distillation data for users who have images but no
stereo pairs or ground truth. Which files count is `runtime.images.list_images`, the rule predict follows too;
the last files in its sorted order are held out for `verify`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import cv2
import numpy as np

from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from runtime.errors import InputError
from runtime.images import list_images, read_image

SMALLEST_USEFUL = 32  # a side below this many pixels: a warning, not a refusal


def read_photo(path: Path, max_side: int | None = None) -> np.ndarray:
    """A training photo: `runtime.images.read_image`'s RGB uint8 H×W×3 array, its longer side shrunk to `max_side`
    by area averaging when larger, a warning for a photo too small to carry depth cues; one-line EdgeDepthError for
    an unreadable file."""
    try:
        image = read_image(path, max_side)  # the declared size is checked before decoding; JPEGs decode reduced
    except InputError as exc:
        raise EdgeDepthError(str(exc)) from None
    if min(image.shape[:2]) < SMALLEST_USEFUL:
        print(f"edgedepth: warning: {path} is {image.shape[1]}×{image.shape[0]}; photos under {SMALLEST_USEFUL} px "
              "a side carry almost no depth cues", file=sys.stderr)
    longest = max(image.shape[:2])
    if max_side is not None and longest > max_side:
        scale = max_side / longest
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def holdout_count(total: int, requested: int | None = None) -> int:
    """Images kept out of training: `requested`, else 10 % (at least 1); training must keep at least one."""
    count = max(1, round(0.1 * total)) if requested is None else requested
    if count < 0 or count >= total:
        raise EdgeDepthError(f"cannot hold out {count} of {total} image(s): training needs at least one "
                             "and verify at least one (add images or change --holdout)")
    return count


class ImageFolder(Sequence[StereoSample]):
    """The images of a folder as samples with no right view and no ground truth, each read when indexed."""

    def __init__(self, folder: str | Path, files: list[str] | None = None, max_side: int | None = 1024) -> None:
        self.folder = Path(folder)
        self.files = list_images(folder) if files is None else list(files)
        self.max_side = max_side

    def __len__(self) -> int:
        return len(self.files)

    @overload
    def __getitem__(self, index: int) -> StereoSample: ...

    @overload
    def __getitem__(self, index: slice) -> ImageFolder: ...

    def __getitem__(self, index: int | slice) -> StereoSample | ImageFolder:
        if isinstance(index, slice):
            return ImageFolder(self.folder, self.files[index], self.max_side)
        name = self.files[index]
        return StereoSample(name=name, left=read_photo(self.folder / name, self.max_side), right=None)

    def split(self, holdout: int | None = None) -> tuple[ImageFolder, ImageFolder]:
        """(training images, held-out images): the last `holdout_count` files in sorted order are held out."""
        count = holdout_count(len(self), holdout)
        cut = len(self) - count
        return self[:cut], self[cut:]
