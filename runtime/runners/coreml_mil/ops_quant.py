"""Compressed weights and quantized activations: the constexpr_* decompression ops (iOS 16 affine and LUT,
iOS 18 blockwise shift-scale and LUT) and quantize / dequantize (W8A8). Dequantised values are computed in
float32 and rounded once to the declared type."""

from __future__ import annotations

import numpy as np

from runtime.runners.coreml_mil.errors import MILError
from runtime.runners.coreml_mil.kernels import OpCall, along, kernel
from runtime.runners.coreml_mil.values import DTYPE_NAMES, unpack_bits


@kernel("constexpr_affine_dequantize")
def affine_dequantize(call: OpCall) -> np.ndarray:
    """scale·(quantized_data − zero_point), scale and zero_point scalars or vectors along `axis`."""
    data = call.get("quantized_data").astype(np.float32)
    axis = call.int("axis", 0)
    zero_point = along(call.get("zero_point").astype(np.float32), data.ndim, axis)
    return along(call.x("scale"), data.ndim, axis) * (data - zero_point)


def repeat_blocks(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`values` (one per block) repeated so each block covers shape[i] / values.shape[i] elements of axis i."""
    if values.ndim != len(shape):
        raise MILError(f"per-block parameters of rank {values.ndim} for data of rank {len(shape)}")
    for axis, (size, blocks) in enumerate(zip(shape, values.shape, strict=True)):
        if size % blocks:
            raise MILError(f"axis {axis} of size {size} does not split into {blocks} blocks")
        values = np.repeat(values, size // blocks, axis=axis)
    return values


@kernel("constexpr_blockwise_shift_scale")
def blockwise_shift_scale(call: OpCall) -> np.ndarray:
    """scale·(data − offset), each scale/offset covering one block (data.shape / scale.shape per axis)."""
    data = call.get("data").astype(np.float32)
    scale = repeat_blocks(call.x("scale"), data.shape)
    if call.has("offset"):
        data = data - repeat_blocks(call.get("offset").astype(np.float32), data.shape)
    return scale * data


def _lut_ios16(call: OpCall, lut: np.ndarray) -> np.ndarray:
    """indices packed LSB-first in bytes, log2(len(lut)) bits each, into a tensor of `shape`."""
    shape = call.ints("shape")
    bits = int(lut.size).bit_length() - 1
    if 1 << bits != lut.size:
        raise MILError(f"a LUT of {lut.size} entries is not a power of two")
    count = int(np.prod(shape, dtype=np.int64))
    indices = unpack_bits(call.get("indices"), bits, count, signed=False)
    return lut[indices].reshape(shape)


def _lut_ios18(call: OpCall, lut: np.ndarray) -> np.ndarray:
    """indices (already unpacked) pick rows of the LUT of their block; a vector LUT fills `vector_axis`."""
    indices = call.get("indices").astype(np.int64)
    if lut.ndim != indices.ndim + 2:
        raise MILError(f"LUT of rank {lut.ndim} for indices of rank {indices.ndim}")
    groups = []
    for axis, (size, blocks) in enumerate(zip(indices.shape, lut.shape, strict=False)):
        shape = [1] * indices.ndim
        shape[axis] = size
        groups.append((np.arange(size) // (size // blocks)).reshape(shape))
    picked = lut[(*groups, indices)]  # indices.shape + (vector size,)
    if lut.shape[-1] == 1:
        return picked[..., 0]
    axis = call.int("vector_axis") % indices.ndim
    out_shape = list(indices.shape)
    out_shape[axis] *= lut.shape[-1]
    return np.moveaxis(picked, -1, axis + 1).reshape(out_shape)


@kernel("constexpr_lut_to_dense")
def lut_to_dense(call: OpCall) -> np.ndarray:
    lut = call.x("lut")
    return _lut_ios16(call, lut) if lut.ndim == 1 and call.has("shape") else _lut_ios18(call, lut)


@kernel("constexpr_cast")
def constexpr_cast(call: OpCall) -> np.ndarray:
    return call.get("source_val").astype(DTYPE_NAMES[call.str("output_dtype")])


def _integer_range(name: str) -> tuple[int, int]:
    if name not in ("int8", "uint8"):
        raise MILError(f"quantize to {name} is not a MIL output type (int8, uint8)")
    info = np.iinfo(DTYPE_NAMES[name])
    return int(info.min), int(info.max)


@kernel("quantize")
def quantize(call: OpCall) -> np.ndarray:
    """clip(round(input / scale) + zero_point) to int8/uint8, ties rounded to even."""
    x = call.x("input")
    axis = call.int("axis", 0) if call.has("axis") else 0
    scale = along(call.x("scale"), x.ndim, axis)
    zero_point = along(call.get("zero_point").astype(np.float32), x.ndim, axis) if call.has("zero_point") else 0
    low, high = _integer_range(call.str("output_dtype"))
    return np.clip(np.rint(x / scale) + zero_point, low, high).astype(DTYPE_NAMES[call.str("output_dtype")])


@kernel("dequantize")
def dequantize(call: OpCall) -> np.ndarray:
    """(input − zero_point)·scale."""
    q = call.get("input").astype(np.float32)
    axis = call.int("axis", 0) if call.has("axis") else 0
    zero_point = along(call.get("zero_point").astype(np.float32), q.ndim, axis) if call.has("zero_point") else 0
    return (q - zero_point) * along(call.x("scale"), q.ndim, axis)
