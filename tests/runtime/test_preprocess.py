"""runtime.preprocess against OpenCV (the reference resizer) and hand-computed normalisation."""

import cv2
import numpy as np
import pytest

from runtime.feeds import random_input
from runtime.preprocess import dequantize, prepare_input, resize_bilinear, restore_output

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("src, dst", [((37, 53), (64, 96)), ((64, 96), (45, 70)), ((64, 96), (32, 48)),
                                      ((10, 13), (20, 26)), ((9, 9), (9, 9))])
@pytest.mark.parametrize("channels", [None, 3])
def test_bilinear_matches_cv2_inter_linear(src, dst, channels):
    shape = src if channels is None else (*src, channels)
    image = RNG.random(shape).astype(np.float32)
    ours = resize_bilinear(image, *dst)
    ref = cv2.resize(image, dst[::-1], interpolation=cv2.INTER_LINEAR)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("src, dst", [((500, 741), (64, 96)), ((120, 90), (30, 20)), ((100, 300), (33, 47))])
def test_large_downscale_averages_area_like_cv2_inter_area(src, dst):
    image = RNG.random((*src, 3)).astype(np.float32)
    ours = resize_bilinear(image, *dst)
    np.testing.assert_allclose(ours, cv2.resize(image, dst[::-1], interpolation=cv2.INTER_AREA), atol=1e-5)
    # plain bilinear would alias a 1-pixel checkerboard; the area prefilter returns its mean
    checker = (np.indices(src).sum(axis=0) % 2).astype(np.float32)
    assert np.abs(resize_bilinear(checker, *dst) - 0.5).max() < 0.05


def test_resize_small_cases_by_hand():
    # 2 → 4 with half-pixel centres: sources at −0.25, 0.25, 0.75, 1.25 → clamp, 0.25, 0.75, clamp
    np.testing.assert_allclose(resize_bilinear(np.array([[0.0, 4.0]]), 1, 4), [[0.0, 1.0, 3.0, 4.0]])
    np.testing.assert_allclose(resize_bilinear(np.array([[0.0, 2.0, 4.0, 6.0]]), 1, 2), [[1.0, 5.0]])
    mask = np.array([[True, False], [False, False]])
    assert resize_bilinear(mask, 2, 2).dtype == np.float32
    with pytest.raises(ValueError, match="H×W"):
        resize_bilinear(np.zeros((1, 2, 3, 4)), 2, 2)


def _spec(layout, height=2, width=3, **extra):
    shape = [1, 3, height, width] if layout == "NCHW" else [1, height, width, 3]
    return {"name": "image", "shape": shape, "dtype": "float32", "layout": layout,
            "normalization": {"mean": [0.5, 0.25, 0.0], "std": [0.5, 0.25, 1.0], "scale": 1 / 255}, **extra}


def test_prepare_input_normalises_and_lays_out():
    image = RNG.integers(0, 256, size=(2, 3, 3), dtype=np.uint8)
    expected = (image / 255.0 - np.array([0.5, 0.25, 0.0])) / np.array([0.5, 0.25, 1.0])  # same size: no resize
    nchw = prepare_input(image, _spec("NCHW"))
    assert nchw.shape == (1, 3, 2, 3) and nchw.dtype == np.float32 and nchw.flags.c_contiguous
    np.testing.assert_allclose(nchw[0], expected.transpose(2, 0, 1), rtol=1e-6, atol=1e-6)
    nhwc = prepare_input(image, _spec("NHWC"))
    assert nhwc.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(nhwc[0], expected, rtol=1e-6, atol=1e-6)
    bgr = prepare_input(image, _spec("NHWC", color="BGR", normalization="baked-in"))
    np.testing.assert_array_equal(bgr[0], image[..., ::-1].astype(np.float32))


def test_prepare_input_resizes_and_quantizes():
    image = RNG.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    spec = _spec("NCHW", 20, 30)
    resized = cv2.resize(image.astype(np.float32), (30, 20), interpolation=cv2.INTER_LINEAR)
    expected = (resized / 255.0 - np.array([0.5, 0.25, 0.0])) / np.array([0.5, 0.25, 1.0])
    np.testing.assert_allclose(prepare_input(image, spec)[0], expected.transpose(2, 0, 1), atol=1e-4)
    int8 = {**spec, "dtype": "int8", "quant": {"scale": 0.05, "zero_point": 3}}
    q = prepare_input(image, int8)
    assert q.dtype == np.int8
    np.testing.assert_array_equal(q[0], np.clip(np.rint(expected.transpose(2, 0, 1) / 0.05 + 3), -128, 127))
    with pytest.raises(ValueError, match="channels"):
        prepare_input(image, {**spec, "shape": [1, 2, 20, 30]})


def test_restore_output_and_dequantize():
    pred = RNG.random((1, 1, 16, 24)).astype(np.float32)
    restored = restore_output(pred, 32, 48)
    assert restored.shape == (32, 48) and restored.dtype == np.float32
    np.testing.assert_allclose(restored, cv2.resize(pred[0, 0], (48, 32), interpolation=cv2.INTER_LINEAR), atol=1e-6)
    assert restore_output(pred[:, 0], 16, 24).shape == (16, 24)
    assert restore_output(pred[0, 0][None, ..., None], 8, 12).shape == (8, 12)
    with pytest.raises(ValueError, match="one output map"):
        restore_output(np.zeros((1, 2, 4, 4)), 4, 4)
    spec = {"quant": {"scale": 0.5, "zero_point": 10}}
    np.testing.assert_array_equal(dequantize(np.array([10, 12, 0], np.uint8), spec), [0.0, 1.0, -5.0])


def test_random_inputs_match_their_spec():
    rng = np.random.default_rng(0)
    x = random_input(_spec("NHWC", 5, 7), rng)
    assert x.shape == (1, 5, 7, 3) and x.dtype == np.float32 and -3 < x.min() < x.max() < 3
    y = random_input({"name": "feat", "shape": [1, None, 4], "dtype": "uint8"}, rng)
    assert y.shape == (1, 1, 4) and y.dtype == np.uint8
