"""MIL normalisations and reductions, statistics in float32: batch_norm, instance_norm, layer_norm, l2_norm,
softmax and the reduce_* family."""

from __future__ import annotations

import numpy as np

from runtime.runners.coreml_mil.kernels import OpCall, along, kernel


@kernel("batch_norm")
def batch_norm(call: OpCall) -> np.ndarray:
    """(x − mean)/√(variance + ε)·γ + β per channel (axis 1)."""
    x = call.x()
    rank = x.ndim
    scale = 1.0 / np.sqrt(call.x("variance") + np.float32(call.float("epsilon", 1e-5)))
    if call.has("gamma"):
        scale = scale * call.x("gamma")
    out = (x - along(call.x("mean"), rank, 1)) * along(scale.astype(np.float32), rank, 1)
    return out + along(call.x("beta"), rank, 1) if call.has("beta") else out


def _normalise(x: np.ndarray, axes: tuple[int, ...], epsilon: float) -> np.ndarray:
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float32)
    centred = x - mean
    variance = np.mean(centred * centred, axis=axes, keepdims=True, dtype=np.float32)
    return centred / np.sqrt(variance + np.float32(epsilon))


@kernel("layer_norm")
def layer_norm(call: OpCall) -> np.ndarray:
    """Normalised over `axes` (all when absent), then ·γ + β, which have the shape of those axes."""
    x = call.x()
    axes = call.axes("axes", x.ndim) or tuple(range(x.ndim))
    out = _normalise(x, axes, call.float("epsilon", 1e-5))
    shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
    if call.has("gamma"):
        out = out * call.x("gamma").reshape(shape)
    return out + call.x("beta").reshape(shape) if call.has("beta") else out


@kernel("instance_norm")
def instance_norm(call: OpCall) -> np.ndarray:
    """Normalised over the spatial axes of each sample and channel, then ·γ + β per channel."""
    x = call.x()
    out = _normalise(x, tuple(range(2, x.ndim)), call.float("epsilon", 1e-5))
    if call.has("gamma"):
        out = out * along(call.x("gamma"), x.ndim, 1)
    return out + along(call.x("beta"), x.ndim, 1) if call.has("beta") else out


@kernel("l2_norm")
def l2_norm(call: OpCall) -> np.ndarray:
    """x / √(max(Σx², ε)) over the last three axes (all axes of a tensor of rank ≤ 3)."""
    x = call.x()
    axes = tuple(range(max(x.ndim - 3, 0), x.ndim))
    total = np.sum(x * x, axis=axes, keepdims=True, dtype=np.float32)
    return x / np.sqrt(np.maximum(total, np.float32(call.float("epsilon", 1e-6))))


@kernel("softmax")
def softmax(call: OpCall) -> np.ndarray:
    x = call.x()
    axis = call.int("axis", -1)
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True, dtype=np.float32)


REDUCTIONS = {
    "reduce_mean": lambda x, a: np.mean(x, axis=a, keepdims=True, dtype=np.float32),
    "reduce_sum": lambda x, a: np.sum(x, axis=a, keepdims=True, dtype=np.float32),
    "reduce_max": lambda x, a: np.max(x, axis=a, keepdims=True),
    "reduce_min": lambda x, a: np.min(x, axis=a, keepdims=True),
    "reduce_prod": lambda x, a: np.prod(x, axis=a, keepdims=True),
    "reduce_l2_norm": lambda x, a: np.sqrt(np.sum(x * x, axis=a, keepdims=True, dtype=np.float32)),
    "reduce_sum_square": lambda x, a: np.sum(x * x, axis=a, keepdims=True, dtype=np.float32),
    "reduce_log_sum_exp": lambda x, a: np.log(np.sum(np.exp(x), axis=a, keepdims=True, dtype=np.float32)),
}


@kernel(*REDUCTIONS)
def reduce(call: OpCall) -> np.ndarray:
    """Over `axes` (all when absent), keeping them as size 1 with keep_dims."""
    x = call.x()
    axes = call.axes("axes", x.ndim) or tuple(range(x.ndim))
    out = REDUCTIONS[call.op_type](x, axes)
    return out if call.bool("keep_dims", False) else np.squeeze(out, axis=axes)


@kernel("reduce_argmax", "reduce_argmin")
def reduce_arg(call: OpCall) -> np.ndarray:
    x = call.x()
    axis = call.int("axis", -1)
    pick = np.argmax if call.op_type == "reduce_argmax" else np.argmin
    out = pick(x, axis=axis).astype(np.int32)
    return np.expand_dims(out, axis) if call.bool("keep_dims", False) else out
