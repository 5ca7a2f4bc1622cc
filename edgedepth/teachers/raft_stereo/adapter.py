"""RAFT-Stereo as an edgedepth teacher: official checkpoints, left-view disparity in pixels, on CPU in float32.

The pair is padded like the official evaluation (edge replication, split evenly on both sides, to a multiple
of 32 by default; the network itself only needs multiples of 2**n_downsample) and the prediction cropped back,
so any input size works. Disparity = −flow.

Validity: RAFT-Stereo predicts everywhere, but a left pixel whose match x − d falls outside the right image
(x − d < −0.5, the left border band) has no correspondence: its value is an extrapolation, so it is not vouched
for unless `mask_border=False`. Non-finite and non-positive disparities (no finite depth) are never valid.
As for every teacher, invalid pixels hold 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgedepth.checkpoint import checkpoint_sha256
from edgedepth.data.sample import StereoSample
from edgedepth.teachers.base import (
    Prediction,
    check_network_args,
    matched_disparity,
    network_identity,
)
from edgedepth.teachers.raft_stereo.model import CONFIGS, RAFTStereo
from edgedepth.teachers.raft_stereo.weights import load_official_checkpoint
from edgedepth.teachers.registry import TeacherConfigError
from edgedepth.teachers.stereo_network import StereoNetworkTeacher
from edgedepth.threads import torch_threads
from runtime.bundle import DISPARITY


def pad_amounts(height: int, width: int, multiple: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding to the next multiples of `multiple`, split as the official padder does."""
    pad_h = -height % multiple
    pad_w = -width % multiple
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


class RAFTStereoTeacher(StereoNetworkTeacher):
    """RAFT-Stereo disparity (pixels, left view) from an official checkpoint; border band without match invalid.

    `config` names the checkpoint's architecture: realtime, default (= sceneflow, middlebury, eth3d) or rvc.
    `checkpoint` is required; `random_init=True` instead builds seeded untrained weights, only for tests and
    offline smoke runs. `iters` defaults to the configuration's (7 realtime, 32 otherwise).
    """

    name = "raft_stereo"
    kind = DISPARITY

    def __init__(
        self,
        checkpoint: str | None = None,
        config: str = "realtime",
        iters: int | None = None,
        threads: int | None = None,
        random_init: bool = False,
        seed: int = 0,
        pad_to: int = 32,
        mask_border: bool = True,
    ) -> None:
        if config not in CONFIGS:
            raise TeacherConfigError(f"unknown RAFT-Stereo config {config!r}; expected one of {', '.join(CONFIGS)}")
        check_network_args("raft_stereo", checkpoint, random_init, threads)
        arch = CONFIGS[config]
        if iters is not None and iters < 1:
            raise TeacherConfigError(f"raft_stereo: iters must be at least 1, got {iters}")
        if pad_to < 1 or pad_to % arch.factor:
            raise TeacherConfigError(f"raft_stereo: pad_to must be a positive multiple of {arch.factor}, got {pad_to}")
        self.iters = arch.valid_iters if iters is None else int(iters)
        self._keep_settings(checkpoint, config, threads, random_init, seed, pad_to, mask_border,
                            lambda: RAFTStereo(arch))
        if self.checkpoint is not None:
            load_official_checkpoint(self.model, self.checkpoint)
            self.checkpoint_sha256 = checkpoint_sha256(Path(self.checkpoint))
        self.model.eval()

    def params(self) -> dict[str, Any]:
        """Constructor keywords: `create_teacher("raft_stereo", **params)` rebuilds this teacher."""
        return {"checkpoint": self.checkpoint, "config": self.config, "iters": self.iters, "threads": self.threads,
                "random_init": self.random_init, "seed": self.seed, "pad_to": self.pad_to,
                "mask_border": self.mask_border}

    def identity(self) -> dict[str, Any]:
        """Name, family, kind, the parameters that shape the output, the checkpoint's sha256 and torch version."""
        return network_identity(super().identity(), "raft-stereo", self.checkpoint_sha256)

    def flow(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The network's full-resolution x-flow (H×W float32, = −disparity) for a uint8 RGB pair."""
        height, width = left.shape[:2]
        pads = pad_amounts(height, width, self.pad_to)

        def tensor(image: np.ndarray) -> torch.Tensor:
            batch = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
            return F.pad(batch, pads, mode="replicate") if any(pads) else batch

        with torch_threads(self.threads), torch.inference_mode():
            _, full = self.model(tensor(left), tensor(right), iters=self.iters)
        full = full[0, 0, pads[2]:pads[2] + height, pads[0]:pads[0] + width]
        return full.numpy().astype(np.float32)

    def predict(self, sample: StereoSample) -> Prediction:
        """Disparity of the left view in pixels (0 where invalid) and where it is vouched for."""
        self.require_pair(sample)
        return matched_disparity(-self.flow(sample.left, sample.right), self.kind, self.mask_border)
