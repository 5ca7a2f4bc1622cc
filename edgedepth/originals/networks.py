"""The project's own implementations of official networks (MiDaS v2.1 small, Monodepth2, RAFT-Stereo, AANet) as
fixed-size exportable modules: each takes the normalised tensor(s) and returns what its teacher predicts."""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgedepth.models.midas_small import IMAGENET_MEAN, IMAGENET_STD
from edgedepth.originals.base import Original, SizeRule
from edgedepth.teachers.aanet import AANetTeacher
from edgedepth.teachers.midas import MULTIPLE, MidasV21SmallTeacher
from edgedepth.teachers.monodepth2 import MAX_DEPTH, MIN_DEPTH, STEREO_SCALE, Monodepth2Teacher
from edgedepth.teachers.raft_stereo import RAFTStereoTeacher
from runtime.bundle import DISPARITY, METRIC

MONODEPTH2_MEAN, MONODEPTH2_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
HALF = (0.5, 0.5, 0.5)


def _sha(teacher: object) -> str:
    """The checkpoint's sha256, or a marker for untrained (random_init) weights."""
    sha = getattr(teacher, "checkpoint_sha256", None)
    return sha or f"random-init:seed={getattr(teacher, 'seed', 0)}"


def midas_small(teacher: MidasV21SmallTeacher, spec: str, size: tuple[int, int] | None) -> Original:
    """MiDaS v2.1 small: the network already takes the ImageNet-normalised image (cv2 cubic resize)."""
    rule = SizeRule("MiDaS v2.1 small", MULTIPLE, (teacher.size, teacher.size), "its encoder halves the input 5×")
    return Original("midas-v2.1-small", spec, copy.deepcopy(teacher.model).eval(), "mono", rule.resolve(size),
                    IMAGENET_MEAN, IMAGENET_STD, teacher.kind, _sha(teacher), teacher.identity(),
                    input_filter="bicubic")


class Monodepth2Module(nn.Module):
    """Monodepth2 on (x − 0.45) / 0.225 input: the scaled disparity, or metric depth for stereo-trained weights."""

    def __init__(self, model: nn.Module, metric: bool) -> None:
        super().__init__()
        self.model, self.metric = model, metric

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        disp = self.model.depth_decoder(self.model.encoder.features(image))[:, 0]
        scaled = 1.0 / MAX_DEPTH + (1.0 / MIN_DEPTH - 1.0 / MAX_DEPTH) * disp
        return STEREO_SCALE / scaled if self.metric else scaled


def monodepth2(teacher: Monodepth2Teacher, spec: str, size: tuple[int, int] | None) -> Original:
    """Monodepth2 at the encoder file's training size by default (Pillow Lanczos resize, as test_simple.py)."""
    rule = SizeRule("Monodepth2", 32, (teacher.height, teacher.width), "its ResNet encoder halves the input 5×")
    module = Monodepth2Module(copy.deepcopy(teacher.model).eval(), teacher.kind == METRIC)
    return Original("monodepth2", spec, module.eval(), "mono", rule.resolve(size), MONODEPTH2_MEAN,
                    MONODEPTH2_STD, teacher.kind, _sha(teacher), teacher.identity(), input_filter="lanczos-pil")


class RAFTStereoModule(nn.Module):
    """RAFT-Stereo on a pair normalised to [−1, 1] (x / 255 − 0.5) / 0.5, returning the disparity (= −flow)."""

    def __init__(self, model: nn.Module, iters: int) -> None:
        super().__init__()
        self.model, self.iters = model, iters

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        _, flow = self.model((left + 1.0) * 127.5, (right + 1.0) * 127.5, iters=self.iters)
        return -flow[:, 0]


def raft_stereo(teacher: RAFTStereoTeacher, spec: str, size: tuple[int, int] | None) -> Original:
    """RAFT-Stereo at a fixed size that needs no padding (a multiple of its pad_to)."""
    rule = SizeRule("RAFT-Stereo", teacher.pad_to, (384, 640), "the official padding takes it to that multiple")
    module = RAFTStereoModule(copy.deepcopy(teacher.model).eval(), teacher.iters)
    return Original("raft-stereo", spec, module.eval(), "stereo", rule.resolve(size), HALF, HALF, DISPARITY,
                    _sha(teacher), teacher.identity())


class AANetModule(nn.Module):
    """AANet on an ImageNet-normalised pair, returning the full-resolution disparity."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return self.model(left, right)[-1]  # the last of the pyramid: full resolution, N×H×W


def aanet(teacher: AANetTeacher, spec: str, size: tuple[int, int] | None) -> Original:
    """AANet / AANet+ at a fixed size that needs no padding (a multiple of 48, or 96 for AANet+)."""
    rule = SizeRule("AANet", teacher.pad_to, (384, 672 if teacher.pad_to == 96 else 624),
                    "its feature pyramid and aggregation need that multiple")
    module = AANetModule(copy.deepcopy(teacher.model).eval())
    return Original("aanet", spec, module.eval(), "stereo", rule.resolve(size), IMAGENET_MEAN, IMAGENET_STD,
                    DISPARITY, _sha(teacher), teacher.identity())
