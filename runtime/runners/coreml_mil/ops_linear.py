"""MIL ops that sum products: conv (groups, dilation, pad types), conv_transpose, linear and matmul, each in
float32 (products and sums), with the bias added after the sum."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from runtime.runners.coreml_mil.kernels import OpCall, along, kernel


def conv_padding(call: OpCall, spatial: tuple[int, ...], kernel_size: tuple[int, ...], strides: list[int],
                 dilations: list[int]) -> list[tuple[int, int]]:
    """(before, after) padding per spatial dim for pad_type valid, custom, same or same_lower."""
    pad_type = call.str("pad_type", "valid")
    if pad_type == "valid":
        return [(0, 0)] * len(spatial)
    if pad_type == "custom":
        pad = call.ints("pad", [0] * (2 * len(spatial)))
        return [(pad[2 * i], pad[2 * i + 1]) for i in range(len(spatial))]
    if pad_type not in ("same", "same_lower"):
        raise call.unsupported(f"pad_type {pad_type}")
    pads = []
    for size, k, s, d in zip(spatial, kernel_size, strides, dilations, strict=True):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        pads.append((small, large) if pad_type == "same" else (large, small))
    return pads


def conv2d(x: np.ndarray, weight: np.ndarray, strides: list[int], dilations: list[int], groups: int) -> np.ndarray:
    """Cross-correlation of padded N×C×H×W `x` with O×(C/groups)×kh×kw `weight`, in float32."""
    n, channels, height, width = x.shape
    out_channels, per_group, kh, kw = weight.shape
    (sh, sw), (dh, dw) = strides, dilations
    out_h, out_w = (height - (kh - 1) * dh - 1) // sh + 1, (width - (kw - 1) * dw - 1) // sw + 1
    if groups == channels and per_group == 1 and out_channels == channels:  # depthwise: k·k shifted products
        out = np.zeros((n, channels, out_h, out_w), np.float32)
        for i in range(kh):
            for j in range(kw):
                window = x[:, :, i * dh:i * dh + sh * (out_h - 1) + 1:sh, j * dw:j * dw + sw * (out_w - 1) + 1:sw]
                out += window * weight[:, 0, i, j][None, :, None, None]
        return out
    if kh == kw == 1:
        x = x[:, :, ::sh, ::sw][:, :, :out_h, :out_w]
        cols = x.reshape(n, groups, per_group, out_h * out_w)
        w = weight.reshape(groups, out_channels // groups, per_group)
        return np.matmul(w[None], cols).reshape(n, out_channels, out_h, out_w)
    windows = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :out_h, :out_w]  # N, C, oh, ow, kh, kw
    outs = []
    step = out_channels // groups
    for g in range(groups):
        part = windows[:, g * per_group:(g + 1) * per_group]
        cols = part.transpose(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, per_group * kh * kw)
        w = weight[g * step:(g + 1) * step].reshape(step, -1)
        outs.append((cols @ w.T).reshape(n, out_h, out_w, step).transpose(0, 3, 1, 2))
    return np.concatenate(outs, axis=1) if groups > 1 else outs[0]


def _as_2d(x: np.ndarray, weight: np.ndarray, call: OpCall) -> tuple[np.ndarray, np.ndarray, bool]:
    """1-D convolutions as 2-D ones of height 1; 3-D ones are not implemented."""
    if x.ndim == 3:
        return x[:, :, None], weight[:, :, None], True
    if x.ndim != 4:
        raise call.unsupported(f"a {x.ndim - 2}-D convolution")
    return x, weight, False


def _spatial_list(values: list[int], one_d: bool) -> list[int]:
    return [1, *values] if one_d else values


@kernel("conv")
def conv(call: OpCall) -> np.ndarray:
    x, weight, one_d = _as_2d(call.x(), call.x("weight"), call)
    strides = _spatial_list(call.ints("strides", [1] * (x.ndim - 2 - one_d)), one_d)
    dilations = _spatial_list(call.ints("dilations", [1] * (x.ndim - 2 - one_d)), one_d)
    pads = conv_padding(call, x.shape[2 + one_d:], weight.shape[2 + one_d:], strides[one_d:], dilations[one_d:])
    pads = [(0, 0)] * one_d + pads
    x = np.pad(x, [(0, 0), (0, 0), *pads])
    out = conv2d(x, weight, strides, dilations, call.int("groups", 1))
    if call.has("bias"):
        out = out + along(call.x("bias"), 4, 1)
    return out[:, :, 0] if one_d else out


def _transpose_padding(call: OpCall, full: list[int], spatial: tuple[int, ...], strides: list[int],
                       out_spatial: list[int] | None) -> list[tuple[int, int]]:
    """(crop before, crop after) of the full transposed output; a negative crop pads (output_shape wider)."""
    pad_type = call.str("pad_type", "valid")
    if pad_type == "custom":
        pad = call.ints("pad", [0] * (2 * len(full)))
        crops = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(full))]
    elif pad_type == "same":
        crops = [((f - size * s) // 2, f - size * s - (f - size * s) // 2)
                 for f, size, s in zip(full, spatial, strides, strict=True)]
    elif pad_type == "valid":
        crops = [(0, 0)] * len(full)
    else:
        raise call.unsupported(f"pad_type {pad_type}")
    if out_spatial is not None:
        crops = [(before, f - before - o) for (before, _), f, o in zip(crops, full, out_spatial, strict=True)]
    return crops


@kernel("conv_transpose")
def conv_transpose(call: OpCall) -> np.ndarray:
    """Each input pixel scatters weight·x into the output (C_in×(C_out/groups)×kh×kw weights), then the pad
    (or output_shape) crops the full result."""
    x, weight, one_d = _as_2d(call.x(), call.x("weight"), call)
    n, channels, height, width = x.shape
    _, per_group, kh, kw = weight.shape
    groups = call.int("groups", 1)
    sh, sw = _spatial_list(call.ints("strides", [1] * (2 - one_d)), one_d)
    dh, dw = _spatial_list(call.ints("dilations", [1] * (2 - one_d)), one_d)
    full = [(height - 1) * sh + (kh - 1) * dh + 1, (width - 1) * sw + (kw - 1) * dw + 1]
    out = np.zeros((n, groups * per_group, *full), np.float32)
    step = channels // groups
    for g in range(groups):
        xg = x[:, g * step:(g + 1) * step]
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", xg, weight[g * step:(g + 1) * step, :, i, j], optimize=True)
                out[:, g * per_group:(g + 1) * per_group, i * dh:i * dh + sh * (height - 1) + 1:sh,
                    j * dw:j * dw + sw * (width - 1) + 1:sw] += contrib
    out_spatial = call.ints("output_shape")[2:] if call.has("output_shape") else None
    crops = _transpose_padding(call, full[one_d:], (height, width)[one_d:],
                               [sh, sw][one_d:], out_spatial)
    crops = [(0, 0)] * one_d + crops
    pad_more = [(0, 0), (0, 0), *[(max(-b, 0), max(-a, 0)) for b, a in crops]]
    out = np.pad(out, pad_more)
    out = out[:, :, max(crops[0][0], 0):out.shape[2] - max(crops[0][1], 0),
              max(crops[1][0], 0):out.shape[3] - max(crops[1][1], 0)]
    if call.has("bias"):
        out = out + along(call.x("bias"), 4, 1)
    return out[:, :, 0] if one_d else out


@kernel("linear")
def linear(call: OpCall) -> np.ndarray:
    """x·Wᵀ + b with W of shape D_out×D_in."""
    out = call.x() @ call.x("weight").T
    return out + call.x("bias") if call.has("bias") else out


@kernel("matmul")
def matmul(call: OpCall) -> np.ndarray:
    """numpy's matmul (batch dims broadcast, rank-1 operands promoted), after the optional transposes."""
    x, y = call.x("x"), call.x("y")
    if call.bool("transpose_x", False) and x.ndim > 1:
        x = np.swapaxes(x, -1, -2)
    if call.bool("transpose_y", False) and y.ndim > 1:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)
