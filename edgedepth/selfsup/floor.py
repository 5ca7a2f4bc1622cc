"""A floor on the inverse depth that video view synthesis divides by, with a gradient that can bring a pixel back.

A plain clamp cuts every gradient below the floor (such pixels, then whole images, never come back). Passing the
gradient straight through instead lets the photometric term keep pushing a pixel further below the floor, where
its value no longer changes what is seen: outputs drift without bound (seen: −4·10⁵ after 100 steps), and
`x + (floor − x)` then rounds to 0 or below (an infinite depth, NaN gradients). Here the gradient passes only
where it would raise a pixel that is below the floor, and the forward value is the floor exactly.
"""

from __future__ import annotations

import torch


class _Floor(torch.autograd.Function):
    """max(x, floor); below the floor only gradients that raise x pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, floor: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.floor = floor
        return x.clamp_min(floor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        # gradient descent moves x by −grad: a negative gradient raises it
        passes = (x >= ctx.floor) | (grad < 0)
        return grad * passes, None


def floored(x: torch.Tensor, floor: float) -> torch.Tensor:
    """`x` held at or above `floor`; below it, the gradient passes only towards the floor."""
    return _Floor.apply(x, floor)
