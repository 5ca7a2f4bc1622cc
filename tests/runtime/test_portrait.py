"""Portrait bokeh on synthetic scenes with known depth planes: the plane in focus is untouched, blur grows with
the distance in disparity from the focus, and a sharp subject does not bleed into the blurred background."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.portrait import auto_focus, disc_kernel, normalised_nearness, render_layers, render_portrait


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(30, 220, size=(height, width, 3), dtype=np.uint8)


def test_the_plane_in_focus_is_unchanged_inside():
    image = _texture(120, 180)
    near = np.repeat(np.repeat(np.array([[0.2, 0.5, 0.9]]), 120, axis=0), 60, axis=1)  # three vertical planes
    out = render_portrait(image, near, focus=(90, 60), aperture=2.0)
    radius = 2.0 * 0.025 * 180  # the largest disc any plane gets
    inner = slice(60 + int(radius) + 1, 120 - int(radius) - 1)
    assert _psnr(out[:, inner], image[:, inner]) >= 40.0
    assert _psnr(out[:, :40], image[:, :40]) < 30.0  # the far plane is blurred


def _edge_width(profile: np.ndarray) -> float:
    """10–90 % rise distance of a dark-to-bright edge profile, in pixels (linear interpolation)."""
    low, high = profile.min(), profile.max()
    positions = []
    for level in (0.1, 0.9):
        target = low + level * (high - low)
        i = int(np.argmax(profile >= target))
        positions.append(i - 1 + (target - profile[i - 1]) / max(profile[i] - profile[i - 1], 1e-9))
    return positions[1] - positions[0]


def test_edge_spread_grows_with_the_disparity_difference():
    height, width, band = 240, 200, 60
    image = np.zeros((height, width, 3), np.uint8)
    image[:, width // 2:] = 230  # one sharp vertical edge crossing every plane
    levels = [1.0, 0.75, 0.5, 0.25]  # focus on the first: |Δ| = 0, 0.25, 0.5, 0.75
    near = np.concatenate([np.full((band, width), level) for level in levels])
    out = render_portrait(image, near, focus=(20, 30), aperture=2.0).astype(np.float64)
    widths = [_edge_width(out[i * band + 25:i * band + 35, :, 0].mean(axis=0)) for i in range(len(levels))]
    assert widths[0] <= 1.5  # in focus: still a step
    assert all(b > a + 1.0 for a, b in zip(widths, widths[1:], strict=False)), widths


def _subject_scene(size: int = 160):
    rows, cols = np.mgrid[0:size, 0:size]
    background = (110 + 40 * np.sin(cols / 5.0) * np.sin(rows / 6.0)).astype(np.uint8)
    background = np.repeat(background[..., None], 3, axis=2)
    subject = (slice(50, 110), slice(50, 110))
    image = background.copy()
    image[subject] = 250  # a bright sharp subject: the colour a halo would smear outwards
    near = np.zeros((size, size), np.float32)
    near[subject] = 1.0
    return background, image, near, subject


def test_a_sharp_subject_does_not_bleed_into_the_blurred_background():
    background, image, near, subject = _subject_scene()
    radius = 8.0
    portrait = render_layers(image, near, target=1.0, max_radius=radius).astype(np.float64)
    alone = render_layers(background, np.zeros_like(near), target=1.0, max_radius=radius).astype(np.float64)
    ring = np.zeros(near.shape, bool)
    ring[50 - int(radius):110 + int(radius), 50 - int(radius):110 + int(radius)] = True
    ring[subject] = False  # background pixels within the blur radius of the subject's edge
    assert np.abs(portrait - alone)[ring].mean() <= 2.0
    assert np.array_equal(portrait[subject], image[subject].astype(np.float64))  # the subject stays sharp
    # The check can fail: blurring the whole photo and pasting the subject back leaves a bright halo.
    from runtime.portrait import _convolve

    planes = np.moveaxis(image.astype(np.float32), 2, 0)
    naive = np.moveaxis(_convolve(planes, disc_kernel(radius)), 0, 2)
    naive = naive / _convolve(np.ones((1, *near.shape), np.float32), disc_kernel(radius))[0][..., None]
    assert np.abs(naive - alone)[ring].mean() > 10.0


def test_auto_focus_picks_the_nearest_large_region():
    near = np.zeros((100, 100), np.float32)
    near[10:60, 10:60] = 0.8  # a large near region
    near[0:2, 0:2] = 1.0  # a few nearer pixels: noise, not a subject
    assert auto_focus(normalised_nearness(near)) == pytest.approx(1.0, abs=0.05)  # 0.8 is the 99th percentile
    assert disc_kernel(3.0).sum() == pytest.approx(1.0)


def test_focus_outside_the_photo_is_refused():
    with pytest.raises(ValueError, match="outside"):
        render_portrait(_texture(20, 20), np.zeros((20, 20)), focus=(25, 3))
