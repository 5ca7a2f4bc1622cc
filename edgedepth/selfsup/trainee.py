"""What trains under the self-supervised objective: the mono student plus training-only parts that are never
saved with it: disparity heads on three of its decoder's finer levels (Monodepth2's multi-scale outputs) and,
for video, the pose network. The student itself is unchanged, so it exports exactly as a distilled one."""

from __future__ import annotations

import torch
from torch import nn

from edgedepth.selfsup.pose import PoseNet

TAPS = ("refinenet1", "refinenet2", "refinenet3")  # decoder levels at strides 2, 4 and 8: scales 1, 2, 3


class Trainee(nn.Module):
    """The student (its output: scale 0), a 3×3 convolution per tapped decoder level (scales 1–3) and an optional
    pose network; forward gives ([disparity N×1×h×w per scale], poses or None)."""

    def __init__(self, student: nn.Module, pose: PoseNet | None = None, level: float = 0.3) -> None:
        super().__init__()
        self.student = student
        self.pose = pose
        decoder = student.scratch
        self._taps: dict[str, torch.Tensor] = {}
        self._hooks = [getattr(decoder, name).register_forward_hook(self._keep(name)) for name in TAPS]
        was_training = student.training
        student.eval()
        with torch.no_grad():
            student(torch.zeros(1, 3, 64, 64))
        student.train(was_training)
        self.heads = nn.ModuleList(nn.Conv2d(self._taps[name].shape[1], 1, 3, padding=1) for name in TAPS)
        for head in self.heads:  # start every scale at the student's starting level
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.constant_(head.bias, level)

    def _keep(self, name: str):
        """A forward hook storing the tapped level's output under `name`."""
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            self._taps[name] = output
        return hook

    def release(self) -> nn.Module:
        """Remove the hooks and hand back the bare student."""
        for hook in self._hooks:
            hook.remove()
        self._taps.clear()
        return self.student

    def forward(self, image: torch.Tensor,
                pairs: torch.Tensor | None = None) -> tuple[list[torch.Tensor], tuple | None]:
        """Disparity at every scale for `image` (normalised N×3×H×W) and, given stacked frame `pairs`, their poses."""
        full = self.student(image)[:, None]
        scales = [full] + [head(self._taps[name]) for head, name in zip(self.heads, TAPS, strict=True)]
        return scales, (None if pairs is None or self.pose is None else self.pose(pairs))
