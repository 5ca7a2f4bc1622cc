"""MIL ops that move values without arithmetic: pad (constant, reflect, replicate), concat, split, stack, tile,
reshape, transpose, squeeze, expand_dims, slice_by_index, slice_by_size, gather, gather_along_axis, shape."""

from __future__ import annotations

import numpy as np

from runtime.runners.coreml_mil.kernels import OpCall, kernel

PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@kernel("pad")
def pad(call: OpCall) -> np.ndarray:
    """`pad` holds (before, after) pairs for the last len(pad)/2 axes; reflect excludes the edge (numpy's
    reflect), replicate repeats it."""
    x = call.get("x")
    amounts = call.ints("pad")
    mode = call.str("mode", "constant")
    if mode not in PAD_MODES:
        raise call.unsupported(f"pad mode {mode}")
    padded_axes = len(amounts) // 2
    widths = [(0, 0)] * (x.ndim - padded_axes) + [(amounts[2 * i], amounts[2 * i + 1]) for i in range(padded_axes)]
    if mode == "constant":
        return np.pad(x, widths, constant_values=np.asarray(call.get("constant_val", 0.0)).astype(x.dtype))
    return np.pad(x, widths, mode=PAD_MODES[mode])


@kernel("concat")
def concat(call: OpCall) -> np.ndarray:
    values = call.many("values")
    axis = call.int("axis")
    if call.bool("interleave", False):
        stacked = np.stack(values, axis=axis % values[0].ndim + 1)
        shape = list(values[0].shape)
        shape[axis] = -1
        return stacked.reshape(shape)
    return np.concatenate(values, axis=axis)


@kernel("split")
def split(call: OpCall) -> tuple[np.ndarray, ...]:
    """Into num_splits equal parts or parts of split_sizes along `axis`; one output per part."""
    x = call.get("x")
    axis = call.int("axis")
    if call.has("split_sizes"):
        bounds = np.cumsum(call.ints("split_sizes"))[:-1]
        return tuple(np.split(x, bounds, axis=axis))
    return tuple(np.array_split(x, call.int("num_splits"), axis=axis))


@kernel("stack")
def stack(call: OpCall) -> np.ndarray:
    return np.stack(call.many("values"), axis=call.int("axis"))


@kernel("tile")
def tile(call: OpCall) -> np.ndarray:
    return np.tile(call.get("x"), call.ints("reps"))


def reshape_target(shape: list[int], source: tuple[int, ...]) -> list[int]:
    """The iOS 17 rule: a 0 copies the input's dimension counted from the right (1 beyond its rank); one -1 is
    inferred."""
    offset = len(shape) - len(source)
    target = [(source[i - offset] if i - offset >= 0 else 1) if d == 0 else d for i, d in enumerate(shape)]
    return target


@kernel("reshape")
def reshape(call: OpCall) -> np.ndarray:
    x = call.get("x")
    return x.reshape(reshape_target(call.ints("shape"), x.shape))


@kernel("transpose")
def transpose(call: OpCall) -> np.ndarray:
    return np.transpose(call.get("x"), call.ints("perm"))


@kernel("squeeze")
def squeeze(call: OpCall) -> np.ndarray:
    x = call.get("x")
    axes = call.axes("axes", x.ndim)
    return np.squeeze(x, axis=axes) if axes is not None else np.squeeze(x)


@kernel("expand_dims")
def expand_dims(call: OpCall) -> np.ndarray:
    x = call.get("x")
    rank = x.ndim + len(call.ints("axes"))
    return np.expand_dims(x, tuple(sorted(a % rank for a in call.ints("axes"))))


@kernel("slice_by_index")
def slice_by_index(call: OpCall) -> np.ndarray:
    """x[begin:end:stride] per axis; begin_mask / end_mask take the whole axis end, squeeze_mask indexes at
    begin and drops the axis."""
    x = call.get("x")
    rank = x.ndim
    begin, end = call.ints("begin"), call.ints("end")
    stride = call.ints("stride", [1] * rank)
    begin_mask, end_mask = call.bools("begin_mask", rank), call.bools("end_mask", rank)
    squeeze_mask = call.bools("squeeze_mask", rank)
    index: list[int | slice] = []
    for axis in range(rank):
        if squeeze_mask[axis]:
            index.append(begin[axis])
            continue
        index.append(slice(None if begin_mask[axis] else begin[axis], None if end_mask[axis] else end[axis],
                           stride[axis]))
    return np.asarray(x[tuple(index)])


@kernel("slice_by_size")
def slice_by_size(call: OpCall) -> np.ndarray:
    """x[begin : begin + size] per axis, a size of -1 running to the end."""
    x = call.get("x")
    begin, size = call.ints("begin"), call.ints("size")
    index = tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size, strict=True))
    return np.asarray(x[index])


def _wrapped(indices: np.ndarray, size: int) -> np.ndarray:
    indices = np.asarray(indices).astype(np.int64)
    return np.where(indices < 0, indices + size, indices)


@kernel("gather")
def gather(call: OpCall) -> np.ndarray:
    """x's slices at `indices` along `axis` (negative indices count from the end); batch_dims leading axes are
    shared by x and indices."""
    x = call.get("x")
    axis = call.int("axis", 0) % x.ndim
    indices = _wrapped(call.get("indices"), x.shape[axis])
    batch_dims = call.int("batch_dims", 0)
    if batch_dims == 0:
        return np.take(x, indices, axis=axis)
    batch = x.shape[:batch_dims]
    flat_x = x.reshape(-1, *x.shape[batch_dims:])
    flat_i = indices.reshape(-1, *indices.shape[batch_dims:])
    parts = [np.take(xi, ii, axis=axis - batch_dims) for xi, ii in zip(flat_x, flat_i, strict=True)]
    return np.stack(parts).reshape(*batch, *parts[0].shape)


@kernel("gather_along_axis")
def gather_along_axis(call: OpCall) -> np.ndarray:
    x = call.get("x")
    axis = call.int("axis", 0) % x.ndim
    return np.take_along_axis(x, _wrapped(call.get("indices"), x.shape[axis]), axis=axis)


@kernel("shape")
def shape(call: OpCall) -> np.ndarray:
    return np.asarray(call.get("x").shape, dtype=np.int32)
