"""A floor on the inverse depth that video view synthesis divides by: its value is the floor exactly; below it,
only the gradient that raises the input passes.

A plain clamp cuts every gradient below the floor (such pixels, then whole images, never come back). Passing the
whole gradient straight through lets the input drift without bound: below the floor the loss no longer changes
with it, so a pull downwards never meets resistance (seen: −4·10⁵ after 100 steps; with the flow hints, whose
pull does not fade as the photometric one does in flat regions, an output 1.6·10⁹ below the floor and a collapsed
student). The value must be the floor itself, not `x + (floor − x)`, which rounds to 0 far below it (an infinite
depth, NaN gradients).
"""

from __future__ import annotations

import torch


class _Floor(torch.autograd.Function):
    """max(x, floor) forward; backward, the gradient above the floor, and below it only its raising part."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, floor: float) -> torch.Tensor:
        ctx.save_for_backward(x < floor)
        return x.clamp_min(floor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (below,) = ctx.saved_tensors
        return torch.where(below, grad.clamp_max(0), grad), None  # descent raises x where the gradient is < 0


def floored(x: torch.Tensor, floor: float) -> torch.Tensor:
    """`x` held at or above `floor`, exactly; below it, gradients that would raise `x` pass, others stop."""
    return _Floor.apply(x, floor)
