"""MiDaS v2.1 small as a mono teacher: the official `midas_v21_small_256.pt` in the project's `midas_small`.

Preprocessing is the official small transform (isl-org/MiDaS `hubconf.py` `small_transform`, and
`midas/model_loader.py` for "midas_v21_small_256"): RGB / 255, then `Resize(256, 256, keep_aspect_ratio=True,
ensure_multiple_of=32, resize_method="upper_bound", image_interpolation_method=cv2.INTER_CUBIC)` (the image is
scaled to fit inside size × size, each side then rounded to a multiple of 32 and floored where rounding would
exceed size), then ImageNet mean/std. The inverse-depth map is resized back to the image bilinearly.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from edgedepth.checkpoint import checkpoint_sha256, init_weights
from edgedepth.data.sample import StereoSample
from edgedepth.models import create_model
from edgedepth.models.midas_small import IMAGENET_MEAN, IMAGENET_STD
from edgedepth.teachers.base import Prediction, Teacher, dense_prediction, network_identity
from edgedepth.teachers.registry import TeacherConfigError
from edgedepth.threads import torch_threads
from runtime.bundle import RELATIVE

MULTIPLE = 32


def network_size(height: int, width: int, size: int = 256, multiple: int = MULTIPLE) -> tuple[int, int]:
    """(h, w) the official upper-bound, keep-aspect resize gives for an image of height × width (never below
    one `multiple`, where the official transform would give an empty side for extreme aspect ratios)."""
    scale = min(size / height, size / width)

    def constrain(x: float) -> int:
        y = int(np.round(x / multiple) * multiple)
        if y > size:
            y = int(math.floor(x / multiple) * multiple)
        return max(y, multiple)

    return constrain(scale * height), constrain(scale * width)


def preprocess(image: np.ndarray, size: int = 256) -> np.ndarray:
    """1 × 3 × h × w float32 network input from a uint8 RGB image, as the official small transform makes it."""
    height, width = image.shape[:2]
    net_h, net_w = network_size(height, width, size)
    pixels = np.asarray(image, np.float64) / 255.0
    resized = cv2.resize(pixels, (net_w, net_h), interpolation=cv2.INTER_CUBIC)
    normalised = (resized - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None]).astype(np.float32)


class MidasV21SmallTeacher(Teacher):
    """Relative inverse depth from the official MiDaS v2.1 small checkpoint (CPU, float32).

    `size` is the official transform's bound (256, the resolution the checkpoint was trained at);
    `trust_pickle=True` allows a full unpickle of a checkpoint that `weights_only` loading refuses.
    """

    name = "midas_v21_small"
    kind = RELATIVE

    def __init__(self, checkpoint: str, threads: int | None = None, size: int = 256,
                 trust_pickle: bool = False) -> None:
        if threads is not None and threads < 1:
            raise TeacherConfigError(f"midas_v21_small: threads must be at least 1, got {threads}")
        if int(size) != size or size < MULTIPLE:
            raise TeacherConfigError(f"midas_v21_small: size must be an integer of at least {MULTIPLE}, got {size}")
        self.checkpoint = str(checkpoint)
        self.threads = threads
        self.size = int(size)
        self.trust_pickle = bool(trust_pickle)
        self.model = create_model("midas_small")
        init_weights(self.model, Path(self.checkpoint), trust_pickle=self.trust_pickle)
        self.model.eval()
        self.checkpoint_sha256 = checkpoint_sha256(Path(self.checkpoint))

    def params(self) -> dict[str, Any]:
        """Constructor keywords: `create_teacher("midas_v21_small", **params)` rebuilds this teacher."""
        return {"checkpoint": self.checkpoint, "threads": self.threads, "size": self.size,
                "trust_pickle": self.trust_pickle}

    def identity(self) -> dict[str, Any]:
        """Name, family, kind, the parameters that shape the output, the checkpoint's sha256 and torch version."""
        return network_identity(super().identity(), "midas", self.checkpoint_sha256, drop=("threads", "trust_pickle"))

    def infer(self, image: np.ndarray) -> np.ndarray:
        """The network's inverse-depth map (h × w float32, at network resolution) for a uint8 RGB image."""
        batch = torch.from_numpy(preprocess(image, self.size))
        with torch_threads(self.threads), torch.inference_mode():
            out = self.model(batch)
        return out[0].numpy().astype(np.float32)

    def predict(self, sample: StereoSample) -> Prediction:
        """Relative inverse depth of the left view at its resolution, valid where finite."""
        height, width = sample.left.shape[:2]
        return dense_prediction(self.infer(sample.left), self.kind, height, width)
