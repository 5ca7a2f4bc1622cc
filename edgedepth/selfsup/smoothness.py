"""Edge-aware smoothness of disparity (Monodepth2): first differences of the mean-normalised disparity, damped by
exp(−|image gradient|) so depth edges may follow image edges."""

from __future__ import annotations

import torch

SMOOTHNESS_WEIGHT = 1e-3  # at the full-resolution scale; scale s weighs 1/2^s of it


def edge_aware_smoothness(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Mean over x and y of |∂(disp / mean disp)| · exp(−mean over channels |∂image|); disp N×1×H×W, image
    N×C×H×W of the same size."""
    norm = disp / (disp.mean((2, 3), keepdim=True) + 1e-7)
    grad_disp_x = (norm[:, :, :, :-1] - norm[:, :, :, 1:]).abs()
    grad_disp_y = (norm[:, :, :-1, :] - norm[:, :, 1:, :]).abs()
    grad_img_x = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(1, keepdim=True)
    grad_img_y = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(1, keepdim=True)
    return (grad_disp_x * torch.exp(-grad_img_x)).mean() + (grad_disp_y * torch.exp(-grad_img_y)).mean()
