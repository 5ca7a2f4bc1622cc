"""View synthesis by differentiable bilinear sampling (training only): a rectified stereo view shifted by
disparity, and a video frame reprojected through depth, intrinsics and a relative camera pose."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def in_reach(x: torch.Tensor, y: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates held within one image size of an H×W image; beyond it they stay put and pass no gradient
    (a position near a camera's plane, x/z, runs to any size, and so would its gradient)."""
    return x.clamp(-1.0 * width, 2.0 * width), y.clamp(-1.0 * height, 2.0 * height)


def sample_at(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`image` (N×C×H×W) sampled bilinearly at pixel coordinates x, y (N×H×W each; pixel centres at integers),
    out-of-image positions taking the border's value. Positions are first brought within one image size of the
    image (NaN to just outside it): torch's CPU kernel crashes the process on a NaN coordinate (a segfault with
    torch 2.13 on x86) and, on some builds, on one that overflows int32; the border's value and the zero gradient
    there are unchanged."""
    height, width = image.shape[-2:]
    x, y = in_reach(torch.nan_to_num(x, nan=-1.0), torch.nan_to_num(y, nan=-1.0), height, width)
    grid = torch.stack([2 * x / (width - 1) - 1, 2 * y / (height - 1) - 1], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def warp_stereo(source: torch.Tensor, disparity: torch.Tensor, direction: float = -1.0) -> torch.Tensor:
    """The target view synthesised from the other view of a rectified pair: target(y, x) = source(y, x +
    direction·d), with disparity N×1×H×W in pixels. The left view from the right one is direction −1
    (left(y, x) ≈ right(y, x − d))."""
    n, _, height, width = source.shape
    ys, xs = torch.meshgrid(torch.arange(height, dtype=source.dtype, device=source.device),
                            torch.arange(width, dtype=source.dtype, device=source.device), indexing="ij")
    x = xs.expand(n, height, width) + direction * disparity[:, 0]
    return sample_at(source, x, ys.expand(n, height, width))


def axis_angle_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices N×3×3 of axis-angle vectors N×3 (Rodrigues' formula)."""
    angle = axis_angle.norm(dim=1, keepdim=True).clamp_min(1e-7)
    axis = axis_angle / angle
    cos, sin = torch.cos(angle)[:, :, None], torch.sin(angle)[:, :, None]
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], 1).reshape(-1, 3, 3)
    outer = axis[:, :, None] * axis[:, None, :]
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device).expand_as(outer)
    return cos * eye + sin * cross + (1 - cos) * outer


def pose_matrix(axis_angle: torch.Tensor, translation: torch.Tensor, invert: bool = False) -> torch.Tensor:
    """4×4 rigid transforms N×4×4 from rotation (axis-angle N×3) and translation N×3: x' = R·x + t, or its
    inverse x' = Rᵀ·(x − t) with `invert`."""
    rotation = axis_angle_matrix(axis_angle)
    if invert:
        rotation = rotation.transpose(1, 2)
        translation = -(rotation @ translation[:, :, None])[:, :, 0]
    top = torch.cat([rotation, translation[:, :, None]], 2)
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype, device=top.device).expand(top.shape[0], 1, 4)
    return torch.cat([top, bottom], 1)


def project_video(depth: torch.Tensor, intrinsics: torch.Tensor,
                  target_to_source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each target pixel lands in the source frame (x, y: N×H×W, pixels): back-projected with its depth
    (N×1×H×W) and intrinsics (N×3×3, pixels of this size), moved into the source camera by `target_to_source`
    (N×4×4) and projected there."""
    n, _, height, width = depth.shape
    grid = {"dtype": intrinsics.dtype, "device": intrinsics.device}  # float32 even where depth is bf16
    ys, xs = torch.meshgrid(torch.arange(height, **grid), torch.arange(width, **grid), indexing="ij")
    pixels = torch.stack([xs, ys, torch.ones_like(xs)], 0).reshape(1, 3, -1)
    rays = torch.linalg.inv(intrinsics) @ pixels  # N×3×HW
    points = rays * depth.reshape(n, 1, -1)
    moved = target_to_source[:, :3, :3] @ points + target_to_source[:, :3, 3:]
    projected = intrinsics @ moved
    z = projected[:, 2].clamp_min(1e-3)
    return (projected[:, 0] / z).reshape(n, height, width), (projected[:, 1] / z).reshape(n, height, width)


def warp_video(source: torch.Tensor, depth: torch.Tensor, intrinsics: torch.Tensor,
               target_to_source: torch.Tensor) -> torch.Tensor:
    """The target frame synthesised from a source frame: `source` sampled where `project_video` puts each target
    pixel."""
    return sample_at(source, *project_video(depth, intrinsics, target_to_source))
