"""AANet / AANet+ as an edgedepth teacher: official checkpoints, left-view disparity in pixels, CPU float32.

Input as the official inference prepares it: RGB scaled to [0, 1] and ImageNet-normalised, then zero-padded at
the top and on the right to the model's multiple (48 for AANet, 96 for AANet+); the full-resolution disparity
is cropped back, so any input size works.

Validity: AANet predicts everywhere, but a left pixel whose match x − d falls outside the right image
(x − d < −0.5, the left border band) has no correspondence, so it is not vouched for unless
`mask_border=False`. Non-finite and non-positive disparities are never valid; invalid pixels hold 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgedepth.checkpoint import checkpoint_sha256
from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from edgedepth.models.midas_small import IMAGENET_MEAN, IMAGENET_STD
from edgedepth.teachers.aanet.model import CONFIGS, AANet, architecture_config
from edgedepth.teachers.aanet.weights import architecture_of, load_official_state_dict, read_official_checkpoint
from edgedepth.teachers.base import (
    Prediction,
    check_network_args,
    matched_disparity,
    network_identity,
)
from edgedepth.teachers.registry import TeacherConfigError
from edgedepth.teachers.stereo_network import StereoNetworkTeacher
from edgedepth.threads import torch_threads
from runtime.bundle import DISPARITY


class AANetTeacher(StereoNetworkTeacher):
    """AANet / AANet+ disparity (pixels, left view) from an official checkpoint; border band without match invalid.

    `config` names the release (aanet_sceneflow, aanet_kitti15, aanet_kitti12, the same with aanet+, or just
    aanet / aanet+); left out, the architecture is read off the checkpoint's keys. `checkpoint` is required;
    `random_init=True` instead builds seeded untrained weights, for tests and offline smoke runs only. `pad_to`
    (default: the model's multiple) must be a multiple of it.
    """

    name = "aanet"
    kind = DISPARITY

    def __init__(
        self,
        checkpoint: str | None = None,
        config: str | None = None,
        threads: int | None = None,
        random_init: bool = False,
        seed: int = 0,
        pad_to: int | None = None,
        mask_border: bool = True,
    ) -> None:
        if config is not None and config not in CONFIGS:
            raise TeacherConfigError(f"unknown AANet config {config!r}; expected one of {', '.join(CONFIGS)}")
        check_network_args("aanet", checkpoint, random_init, threads)
        state = None
        if checkpoint is not None:
            state, _ = read_official_checkpoint(checkpoint)
            if config is None:
                config = architecture_of(state)
                if config is None:
                    raise EdgeDepthError(f"{checkpoint} is not an AANet or AANet+ checkpoint (neither "
                                         "feature_extractor.conv_start.* nor fpn.lateral_convs.* keys)")
        config = config or "aanet"
        arch = architecture_config(config)
        pad_to = arch.multiple if pad_to is None else pad_to
        if pad_to < 1 or pad_to % arch.multiple:
            raise TeacherConfigError(f"aanet: pad_to must be a positive multiple of {arch.multiple} for {config}, "
                                     f"got {pad_to}")
        self._keep_settings(checkpoint, config, threads, random_init, seed, pad_to, mask_border, lambda: AANet(arch))
        if self.checkpoint is not None and state is not None:
            load_official_state_dict(self.model, state, self.checkpoint, target=f"AANet config {config}")
            self.checkpoint_sha256 = checkpoint_sha256(Path(self.checkpoint))
        self.model.eval()

    def params(self) -> dict[str, Any]:
        """Constructor keywords: `create_teacher("aanet", **params)` rebuilds this teacher."""
        return {"checkpoint": self.checkpoint, "config": self.config, "threads": self.threads,
                "random_init": self.random_init, "seed": self.seed, "pad_to": self.pad_to,
                "mask_border": self.mask_border}

    def identity(self) -> dict[str, Any]:
        """Name, family, kind, the parameters that shape the output, the checkpoint's sha256 and torch version."""
        return network_identity(super().identity(), "aanet", self.checkpoint_sha256)

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        """A uint8 RGB H×W×3 image as the official loader feeds it: [0, 1], ImageNet-normalised, [1, 3, H, W]."""
        batch = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (batch - mean) / std

    def disparity(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The network's full-resolution disparity (H×W float32, pixels) for a uint8 RGB pair."""
        height, width = left.shape[:2]
        pad_h, pad_w = -height % self.pad_to, -width % self.pad_to
        pads = (0, pad_w, pad_h, 0)  # zeros after normalisation, on the right and at the top

        with torch_threads(self.threads), torch.inference_mode():
            disparity = self.model(F.pad(self._tensor(left), pads), F.pad(self._tensor(right), pads))[-1]
        return disparity[0, pad_h:pad_h + height, :width].numpy().astype(np.float32)

    def predict(self, sample: StereoSample) -> Prediction:
        """Disparity of the left view in pixels (0 where invalid) and where it is vouched for."""
        self.require_pair(sample)
        return matched_disparity(self.disparity(sample.left, sample.right), self.kind, self.mask_border)
