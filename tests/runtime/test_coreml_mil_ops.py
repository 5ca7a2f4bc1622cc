"""The MIL interpreter's kernels, each against torch or a numpy reference, on the edge semantics that wrong
conversions hit: conv padding modes, groups and dilation; bilinear grids with and without align_corners and
half-pixel centres (the grid points the MIL specification lists); reflect padding; per-channel and per-block
dequantisation; LUT indices packed below a byte. The interpreter's own modules import neither torch nor
edgedepth."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from runtime.runners.coreml_mil import ops_resize
from runtime.runners.coreml_mil.errors import MILError, UnsupportedOp
from runtime.runners.coreml_mil.kernels import KERNELS, OpCall
from runtime.runners.coreml_mil.values import unpack_bits

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(0)


def run(op_type: str, **params):
    """One kernel on `params` (numpy arrays or str), as the program would call it."""
    from runtime.runners.coreml_mil import program  # noqa: F401  (registers every kernel module)

    return KERNELS.get(op_type).run(OpCall(op_type, f"test_{op_type}", params))


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


def randn(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


def test_interpreter_imports_neither_torch_nor_edgedepth():
    files = sorted((ROOT / "runtime/runners/coreml_mil").glob("*.py")) + [ROOT / "runtime/runners/coreml_emulation.py"]
    assert len(files) >= 10
    for path in files:
        tree = ast.parse(path.read_text())
        names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        roots = {name.split(".")[0] for name in names}
        assert not roots & {"torch", "edgedepth", "export", "quantize"}, (path.name, roots)
        assert roots <= {"__future__", "numpy", "runtime", "coremltools", "collections", "dataclasses", "typing",
                         "pathlib", "math"}, (path.name, roots)


# --- conv, conv_transpose, linear, matmul -------------------------------------------------------------------

@pytest.mark.parametrize(("groups", "dilation", "stride", "kernel"), [
    (1, 1, 1, 3), (1, 2, 1, 3), (2, 1, 2, 3), (4, 1, 1, 3), (4, 1, 2, 5), (1, 1, 2, 1), (2, 1, 1, 1), (1, 1, 1, 2)])
def test_conv_matches_torch(groups, dilation, stride, kernel):
    x, w, b = randn(2, 4, 9, 11), randn(8 if groups != 4 else 4, 4 // groups, kernel, kernel), randn(8)
    b = b[:w.shape[0]]
    pad = [1, 2, 0, 1]
    got = run("conv", x=x, weight=w, bias=b, strides=np.array([stride] * 2), dilations=np.array([dilation] * 2),
              groups=np.int32(groups), pad_type="custom", pad=np.array(pad))
    ref = F.conv2d(F.pad(t(x), (pad[2], pad[3], pad[0], pad[1])), t(w), t(b), stride=stride, dilation=dilation,
                   groups=groups).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("pad_type", ["same", "same_lower", "valid"])
def test_conv_pad_types(pad_type):
    """same: total padding so the output is ceil(in / stride), the odd pixel after (before for same_lower)."""
    x, w = randn(1, 2, 8, 7), randn(3, 2, 4, 4)
    got = run("conv", x=x, weight=w, strides=np.array([2, 2]), pad_type=pad_type)
    total_h, total_w = max((4 - 1) * 2 + 4 - 8, 0), max((4 - 1) * 2 + 4 - 7, 0)
    if pad_type == "valid":
        padding = (0, 0, 0, 0)
    elif pad_type == "same":
        padding = (total_w // 2, total_w - total_w // 2, total_h // 2, total_h - total_h // 2)
    else:
        padding = (total_w - total_w // 2, total_w // 2, total_h - total_h // 2, total_h // 2)
    ref = F.conv2d(F.pad(t(x), padding), t(w), stride=2).numpy()
    assert got.shape == ref.shape
    if pad_type != "valid":
        assert got.shape[2:] == (4, 4)
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_conv_1d():
    x, w = randn(1, 3, 20), randn(5, 3, 3)
    got = run("conv", x=x, weight=w, strides=np.array([2]), dilations=np.array([2]), pad_type="custom",
              pad=np.array([2, 1]))
    np.testing.assert_allclose(got, F.conv1d(F.pad(t(x), (2, 1)), t(w), stride=2, dilation=2).numpy(), atol=1e-4)


@pytest.mark.parametrize(("stride", "padding", "output_padding", "groups"), [(2, 1, 1, 1), (2, 0, 0, 2), (3, 1, 0, 1)])
def test_conv_transpose_matches_torch(stride, padding, output_padding, groups):
    x, w, b = randn(1, 4, 5, 6), randn(4, 6 // groups, 3, 3), randn(6)
    ref = F.conv_transpose2d(t(x), t(w), t(b), stride=stride, padding=padding, output_padding=output_padding,
                             groups=groups).numpy()
    got = run("conv_transpose", x=x, weight=w, bias=b, strides=np.array([stride] * 2), groups=np.int32(groups),
              pad_type="custom", pad=np.array([padding] * 4), output_shape=np.array(ref.shape))
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_linear_and_matmul():
    x, w, b = randn(2, 7, 5), randn(3, 5), randn(3)
    np.testing.assert_allclose(run("linear", x=x, weight=w, bias=b), F.linear(t(x), t(w), t(b)).numpy(), atol=1e-5)
    a, c = randn(2, 1, 4, 5), randn(3, 6, 5)
    got = run("matmul", x=a, y=c, transpose_x=np.bool_(False), transpose_y=np.bool_(True))
    np.testing.assert_allclose(got, a @ np.swapaxes(c, -1, -2), atol=1e-5)
    assert got.shape == (2, 3, 4, 6)


def test_float16_inputs_accumulate_in_float32():
    """A long fp16 dot product: the kernel sums in float32 (an fp16 running sum would drift by far more)."""
    x = np.full((1, 4096), 0.1, np.float16)
    w = np.ones((1, 4096), np.float16)
    got = run("linear", x=x, weight=w)
    assert got.dtype == np.float32 and abs(float(got[0, 0]) - 4096 * float(np.float16(0.1))) < 1e-2


# --- elementwise and activations ----------------------------------------------------------------------------

def test_elementwise_ops_match_torch():
    x, y = randn(3, 4) * 3, randn(1, 4) + 3
    pairs = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "real_div": torch.div,
             "maximum": torch.maximum, "minimum": torch.minimum}
    for name, fn in pairs.items():
        np.testing.assert_allclose(run(name, x=x, y=y), fn(t(x), t(y)).numpy(), rtol=1e-6, err_msg=name)
    unary = {"relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "silu": F.silu, "tanh": torch.tanh,
             "abs": torch.abs, "exp": torch.exp, "erf": torch.erf, "softplus": F.softplus}
    for name, fn in unary.items():
        np.testing.assert_allclose(run(name, x=x), fn(t(x)).numpy(), rtol=1e-5, atol=2e-7, err_msg=name)
    np.testing.assert_allclose(run("clip", x=x, alpha=np.float32(-1), beta=np.float32(0.5)), np.clip(x, -1, 0.5))
    np.testing.assert_allclose(run("rsqrt", x=np.abs(x), epsilon=np.float32(1e-6)), 1 / np.sqrt(np.abs(x) + 1e-6),
                               rtol=1e-6)
    np.testing.assert_allclose(run("leaky_relu", x=x, alpha=np.float32(0.1)), F.leaky_relu(t(x), 0.1).numpy())


@pytest.mark.parametrize(("mode", "approximate"), [("EXACT", "none"), ("TANH_APPROXIMATION", "tanh")])
def test_gelu_modes(mode, approximate):
    x = np.linspace(-6, 6, 1001, dtype=np.float32)
    np.testing.assert_allclose(run("gelu", x=x, mode=mode), F.gelu(t(x), approximate=approximate).numpy(),
                               atol=3e-7, rtol=1e-6)
    sigmoid_form = run("gelu", x=x, mode="SIGMOID_APPROXIMATION")
    np.testing.assert_allclose(sigmoid_form, x / (1 + np.exp(-1.702 * x)), rtol=1e-5, atol=1e-7)


def test_erf_is_within_its_bound():
    x = np.linspace(-5, 5, 20001)
    from runtime.runners.coreml_mil.ops_elementwise import erf

    assert np.max(np.abs(erf(x) - np.array([math.erf(v) for v in x]))) < 1.5e-7


def test_cast_rounds_to_even_and_truncates_to_integers():
    x = np.array([1.5, -1.7, 2.0004883, 65519.0], np.float32)
    assert run("cast", x=x, dtype="int32").tolist() == [1, -1, 2, 65519]
    assert run("cast", x=x, dtype="fp16").dtype == np.float16
    with pytest.raises(UnsupportedOp, match="cast to complex64"):
        run("cast", x=x, dtype="complex64")


# --- normalisation and reductions ---------------------------------------------------------------------------

def test_norms_and_softmax_match_torch():
    x = randn(2, 5, 4, 3) * 4 + 1
    mean, var, gamma, beta = randn(5), np.abs(randn(5)) + 0.1, randn(5), randn(5)
    np.testing.assert_allclose(
        run("batch_norm", x=x, mean=mean, variance=var, gamma=gamma, beta=beta, epsilon=np.float32(1e-3)),
        F.batch_norm(t(x), t(mean), t(var), t(gamma), t(beta), eps=1e-3).numpy(), atol=1e-5)
    g, b = randn(4, 3), randn(4, 3)
    np.testing.assert_allclose(run("layer_norm", x=x, axes=np.array([-2, -1]), gamma=g, beta=b,
                                   epsilon=np.float32(1e-6)),
                               F.layer_norm(t(x), (4, 3), t(g), t(b), eps=1e-6).numpy(), atol=1e-5)
    np.testing.assert_allclose(run("instance_norm", x=x, gamma=gamma, beta=beta, epsilon=np.float32(1e-5)),
                               F.instance_norm(t(x), weight=t(gamma), bias=t(beta), eps=1e-5).numpy(), atol=1e-5)
    np.testing.assert_allclose(run("softmax", x=x, axis=np.int32(1)), torch.softmax(t(x), 1).numpy(), atol=1e-6)
    np.testing.assert_allclose(run("reduce_mean", x=x, axes=np.array([2, 3]), keep_dims=np.bool_(True)),
                               x.mean(axis=(2, 3), keepdims=True), atol=1e-6)
    assert run("reduce_sum", x=x, axes=np.array([1]), keep_dims=np.bool_(False)).shape == (2, 4, 3)
    assert run("reduce_max", x=x).shape == ()


# --- resampling ---------------------------------------------------------------------------------------------

def test_bilinear_grids_are_the_documented_ones():
    """The grid points the MIL specification lists for an input of 2 samples."""
    grid = ops_resize.bilinear_grid
    np.testing.assert_allclose(grid(2, 5, "UNALIGN_CORNERS"), [0, 0.1, 0.5, 0.9, 1], atol=1e-9)
    np.testing.assert_allclose(grid(2, 5, "STRICT_ALIGN_CORNERS"), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(grid(2, 5, "DEFAULT"), [0, 0.4, 0.8, 1, 1])
    np.testing.assert_allclose(grid(2, 5, "OFFSET_CORNERS"), [0.1, 0.3, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(grid(2, 6, "UNALIGN_CORNERS"), [0, 0, 1 / 3, 2 / 3, 1, 1], atol=1e-9)
    np.testing.assert_allclose(grid(2, 6, "DEFAULT"), [0, 1 / 3, 2 / 3, 1, 1, 1])
    np.testing.assert_allclose(grid(2, 6, "OFFSET_CORNERS"), [1 / 12, 0.25, 5 / 12, 7 / 12, 0.75, 11 / 12])
    assert grid(5, 1, "ALIGN_CORNERS").tolist() == [2.0] and grid(5, 1, "STRICT_ALIGN_CORNERS").tolist() == [0.0]


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("scale", [2.0, 3.0])
def test_upsample_bilinear_matches_torch(align_corners, scale):
    x = randn(1, 3, 5, 7)
    got = run("upsample_bilinear", x=x, scale_factor_height=np.float32(scale), scale_factor_width=np.float32(scale),
              align_corners=np.bool_(align_corners))
    ref = F.interpolate(t(x), scale_factor=scale, mode="bilinear", align_corners=align_corners).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)
    other = run("upsample_bilinear", x=x, scale_factor_height=np.float32(scale),
                scale_factor_width=np.float32(scale), align_corners=np.bool_(not align_corners))
    assert np.abs(other - ref).max() > 1e-2  # the flag matters: a flipped conversion is a different model


def test_upsample_bilinear_without_half_pixel_centres_is_the_asymmetric_grid():
    """iOS 16's half_pixel_centers=False with align_corners=False: source i·n_in/n_out (TF's legacy resize)."""
    x = randn(1, 1, 3, 4)
    got = run("upsample_bilinear", x=x, scale_factor_height=np.float32(2), scale_factor_width=np.float32(2),
              align_corners=np.bool_(False), half_pixel_centers=np.bool_(False))
    rows = np.clip(np.arange(6) / 2, 0, 2)
    cols = np.clip(np.arange(8) / 2, 0, 3)
    ref = np.empty((6, 8), np.float32)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            r0, c0 = int(r), int(c)
            r1, c1 = min(r0 + 1, 2), min(c0 + 1, 3)
            fr, fc = r - r0, c - c0
            top = x[0, 0, r0, c0] * (1 - fc) + x[0, 0, r0, c1] * fc
            bottom = x[0, 0, r1, c0] * (1 - fc) + x[0, 0, r1, c1] * fc
            ref[i, j] = top * (1 - fr) + bottom * fr
    np.testing.assert_allclose(got[0, 0], ref, atol=1e-6)
    with pytest.raises(UnsupportedOp, match="align_corners together with half_pixel_centers"):
        run("upsample_bilinear", x=x, align_corners=np.bool_(True), half_pixel_centers=np.bool_(True))


@pytest.mark.parametrize(("mode", "align_corners"), [("STRICT_ALIGN_CORNERS", True), ("UNALIGN_CORNERS", False)])
def test_resize_bilinear_to_any_size(mode, align_corners):
    x = randn(1, 2, 6, 5)
    got = run("resize_bilinear", x=x, target_size_height=np.int32(13), target_size_width=np.int32(9),
              sampling_mode=mode)
    ref = F.interpolate(t(x), size=(13, 9), mode="bilinear", align_corners=align_corners).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_nearest_neighbour_matches_torch():
    x = randn(1, 2, 3, 4)
    got = run("upsample_nearest_neighbor", x=x, scale_factor_height=np.float32(2), scale_factor_width=np.float32(3))
    np.testing.assert_array_equal(got, F.interpolate(t(x), scale_factor=(2, 3), mode="nearest").numpy())
    got = run("resize_nearest_neighbor", x=x, target_size_height=np.int32(7), target_size_width=np.int32(5))
    np.testing.assert_array_equal(got, F.interpolate(t(x), size=(7, 5), mode="nearest").numpy())


# --- padding and shape ops ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "torch_mode"), [("reflect", "reflect"), ("replicate", "replicate"),
                                                  ("constant", "constant")])
def test_pad_modes_match_torch(mode, torch_mode):
    x = randn(1, 2, 5, 6)
    got = run("pad", x=x, pad=np.array([1, 2, 3, 1]), mode=mode, constant_val=np.float32(0.5))
    kwargs = {"value": 0.5} if mode == "constant" else {}
    np.testing.assert_array_equal(got, F.pad(t(x), (3, 1, 1, 2), mode=torch_mode, **kwargs).numpy())


def test_reflect_excludes_the_edge():
    got = run("pad", x=np.array([[1.0, 2.0, 3.0]], np.float32), pad=np.array([2, 2]), mode="reflect")
    assert got.tolist() == [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]]


def test_shape_ops():
    x = randn(2, 3, 4)
    np.testing.assert_array_equal(run("concat", values=[x, x + 1], axis=np.int32(1)), np.concatenate([x, x + 1], 1))
    interleaved = run("concat", values=[x, x + 1], axis=np.int32(1), interleave=np.bool_(True))
    np.testing.assert_array_equal(interleaved[:, 0::2], x)
    np.testing.assert_array_equal(interleaved[:, 1::2], x + 1)
    assert run("reshape", x=np.zeros((2, 50)), shape=np.array([1, 0, -1, 0])).shape == (1, 1, 2, 50)  # iOS 17 rule
    np.testing.assert_array_equal(run("transpose", x=x, perm=np.array([2, 0, 1])), x.transpose(2, 0, 1))
    assert run("squeeze", x=np.zeros((1, 3, 1)), axes=np.array([-1])).shape == (1, 3)
    assert run("expand_dims", x=x, axes=np.array([0, -1])).shape == (1, 2, 3, 4, 1)
    parts = run("split", x=x, split_sizes=np.array([1, 3]), axis=np.int32(2))
    assert [p.shape for p in parts] == [(2, 3, 1), (2, 3, 3)]
    np.testing.assert_array_equal(run("slice_by_size", x=x, begin=np.array([0, 1, 0]), size=np.array([-1, 2, 3])),
                                  x[:, 1:3, 0:3])


def test_slice_by_index_masks():
    x = randn(4, 6, 5)
    got = run("slice_by_index", x=x, begin=np.array([1, 0, 4]), end=np.array([3, 6, 0]), stride=np.array([1, 2, -1]),
              begin_mask=np.array([False, True, False]), end_mask=np.array([False, False, True]),
              squeeze_mask=np.array([False, False, False]))
    np.testing.assert_array_equal(got, x[1:3, ::2, 4::-1])
    got = run("slice_by_index", x=x, begin=np.array([0, 2, 0]), end=np.array([4, 3, 5]),
              squeeze_mask=np.array([False, True, False]))
    np.testing.assert_array_equal(got, x[:, 2, :])


def test_gather():
    x = randn(5, 4, 3)
    np.testing.assert_array_equal(run("gather", x=x, indices=np.array([[0, -1], [2, 2]]), axis=np.int32(1)),
                                  torch.from_numpy(x)[:, [[0, 3], [2, 2]]].numpy())
    indices = np.array([[1, 0], [2, 3], [0, 0], [3, 1], [2, 2]])
    got = run("gather", x=x, indices=indices, axis=np.int32(1), batch_dims=np.int32(1))
    np.testing.assert_array_equal(got, np.stack([x[i, indices[i]] for i in range(5)]))
    along = np.array([[[0], [1], [2], [0]]] * 5)
    np.testing.assert_array_equal(run("gather_along_axis", x=x, indices=along, axis=np.int32(2)),
                                  np.take_along_axis(x, along, 2))


# --- compressed weights and quantized activations -----------------------------------------------------------

def pack(values: np.ndarray, bits: int) -> np.ndarray:
    """Integers packed LSB first, `bits` each (the layout the MIL specification describes)."""
    fields = ((values.reshape(-1, 1).astype(np.int64) >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(fields, bitorder="little")


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 6, 8])
def test_sub_byte_unpacking(bits):
    values = RNG.integers(0, 2 ** bits, size=37).astype(np.uint8)
    packed = pack(values, bits)
    assert packed.size == math.ceil(37 * bits / 8)
    np.testing.assert_array_equal(unpack_bits(packed, bits, 37, signed=False), values)
    signed = values.astype(np.int16) - 2 ** (bits - 1) if bits > 1 else None
    if signed is not None:
        np.testing.assert_array_equal(unpack_bits(pack(signed & (2 ** bits - 1), bits), bits, 37, signed=True),
                                      signed)


def test_spec_packing_example():
    """n_bits 2, shape (5,): byte 0 holds i3 i2 i1 i0 from MSB to LSB, byte 1 holds i4 in its LSBs."""
    assert unpack_bits(np.array([0b01101100, 0b00000011], np.uint8), 2, 5, signed=False).tolist() == [0, 3, 2, 1, 3]


def test_lut_to_dense_ios16_with_6_bit_indices():
    lut = np.sort(randn(64)).astype(np.float16)
    indices = RNG.integers(0, 64, size=2 * 3 * 3 * 3)
    got = run("constexpr_lut_to_dense", lut=lut, indices=pack(indices, 6), shape=np.array([2, 3, 3, 3], np.uint32))
    np.testing.assert_array_equal(got, lut[indices].reshape(2, 3, 3, 3).astype(np.float32))


def test_lut_to_dense_ios18_per_group_and_vector():
    """The per-group and vector cases of the iOS 18 specification."""
    indices = np.array([2, 3, 3, 0, 1, 0, 3, 0, 2, 1, 0, 3]).reshape(6, 2)
    lut = np.array([1.0, 5.0, 9.0, 13.0, 2.0, 10.0, 18.0, 26.0], np.float16).reshape(2, 1, 4, 1)
    got = run("constexpr_lut_to_dense", indices=indices.astype(np.uint8), lut=lut)
    assert got.tolist() == [[9, 13], [13, 1], [5, 1], [26, 2], [18, 10], [2, 26]]
    indices = np.array([[[0, 0], [1, 0]], [[1, 1], [0, 0]]], np.uint8)
    vectors = np.array([[1, 2, 3], [4, 5, 6]], np.float32).reshape(1, 1, 1, 2, 3)  # a = 1 2 3, b = 4 5 6
    got = run("constexpr_lut_to_dense", indices=indices, lut=vectors, vector_axis=np.int32(1))
    assert got.shape == (2, 6, 2)
    assert got[0, :, 0].tolist() == [1, 2, 3, 4, 5, 6] and got[0, :, 1].tolist() == [1, 2, 3, 1, 2, 3]
    got = run("constexpr_lut_to_dense", indices=indices, lut=vectors, vector_axis=np.int32(2))
    assert got[1].tolist() == [[4, 5, 6, 4, 5, 6], [1, 2, 3, 1, 2, 3]]


@pytest.mark.parametrize("axis", [0, 1])
def test_affine_dequantize_per_channel(axis):
    q = RNG.integers(-128, 128, size=(4, 3, 2, 2)).astype(np.int8)
    scale = (np.abs(randn(q.shape[axis])) + 0.01).astype(np.float16)
    zero = RNG.integers(-3, 3, size=q.shape[axis]).astype(np.int8)
    got = run("constexpr_affine_dequantize", quantized_data=q, scale=scale, zero_point=zero, axis=np.int32(axis))
    shape = [1] * 4
    shape[axis] = -1
    ref = (q.astype(np.float32) - zero.reshape(shape)) * scale.astype(np.float32).reshape(shape)
    np.testing.assert_array_equal(got, ref)


def test_blockwise_shift_scale_per_block_int4():
    data = RNG.integers(-8, 8, size=(4, 8)).astype(np.int8)  # int4 values, unpacked
    scale = (np.abs(randn(2, 2)) + 0.1).astype(np.float16)  # blocks of 2 rows × 4 columns
    offset = RNG.integers(-2, 2, size=(2, 2)).astype(np.int8)
    got = run("constexpr_blockwise_shift_scale", data=data, scale=scale, offset=offset)
    for r in range(4):
        for c in range(8):
            want = float(scale[r // 2, c // 4]) * (int(data[r, c]) - int(offset[r // 2, c // 4]))
            assert got[r, c] == pytest.approx(want, rel=1e-6)
    with pytest.raises(MILError, match="does not split into 3 blocks"):
        run("constexpr_blockwise_shift_scale", data=data, scale=np.ones((3, 2), np.float16))


@pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions:UserWarning")
def test_quantize_dequantize_match_torch():
    x = randn(1, 3, 4, 5) * 3
    q = run("quantize", input=x, scale=np.float32(0.05), zero_point=np.int8(3), output_dtype="int8")
    ref = torch.quantize_per_tensor(t(x), 0.05, 3, torch.qint8)
    np.testing.assert_array_equal(q, ref.int_repr().numpy())
    np.testing.assert_allclose(run("dequantize", input=q, scale=np.float32(0.05), zero_point=np.int8(3)),
                               ref.dequantize().numpy(), atol=1e-6)
    u = run("quantize", input=x, scale=np.array([0.1, 0.2, 0.3], np.float32), axis=np.int32(1), output_dtype="uint8")
    assert u.dtype == np.uint8 and u.min() == 0  # negatives clip at 0
    per_channel = torch.quantize_per_channel(t(x), torch.tensor([0.1, 0.2, 0.3]), torch.zeros(3, dtype=torch.long),
                                             1, torch.quint8)
    np.testing.assert_array_equal(u, per_channel.int_repr().numpy())


def test_unknown_kernel_is_named():
    with pytest.raises(UnsupportedOp, match="unknown MIL op 'topk'"):
        run("topk", x=randn(3))
