"""runtime.metrics against values worked out by hand on tiny arrays, plus the edge cases callers rely on."""

import json
import math

import numpy as np
import pytest

from runtime.jsonsafe import json_safe
from runtime.metrics import (
    agreement,
    align_scale_shift,
    depth_metrics,
    input_dependence,
    mirror_equivariance,
    output_correlation,
    position_prior,
    relative_depth_metrics,
    stereo_metrics,
)


def test_depth_metrics_by_hand():
    # Four valid pixels with ratios 1, 1.5, 1.9, 2; then pixels excluded by the mask, by gt = 0, by gt = inf.
    pred = np.array([1.0, 1.5, 1.9, 4.0, 100.0, 3.0, 3.0])
    gt = np.array([1.0, 1.0, 1.0, 2.0, 5.0, 0.0, np.inf])
    mask = np.array([True, True, True, True, False, True, True])
    m = depth_metrics(pred, gt, mask)
    assert m["absrel"] == pytest.approx((0 + 0.5 + 0.9 + 2 / 2) / 4)  # 0.6
    assert m["sqrel"] == pytest.approx((0 + 0.25 + 0.81 + 4 / 2) / 4)  # 0.765
    assert m["rmse"] == pytest.approx(math.sqrt((0 + 0.25 + 0.81 + 4) / 4))
    logs = math.log(1.5) ** 2 + math.log(1.9) ** 2 + math.log(2) ** 2
    assert m["rmse_log"] == pytest.approx(math.sqrt(logs / 4))
    # δ thresholds 1.25, 1.5625, 1.953125: ratio 1 passes all, 1.5 passes δ2, 1.9 passes δ3, 2 fails all.
    assert (m["delta1"], m["delta2"], m["delta3"]) == (0.25, 0.5, 0.75)


def test_align_scale_shift_by_hand():
    pred = np.array([0.0, 1.0, 2.0, 3.0])
    target = np.array([1.0, 2.0, 2.0, 5.0])
    # p̄ = 1.5, ḡ = 2.5, Σ(p−p̄)(g−ḡ) = 6, Σ(p−p̄)² = 5 → s = 1.2, t = 2.5 − 1.2·1.5 = 0.7
    aligned, scale, shift = align_scale_shift(pred, target, np.ones(4, bool))
    assert (scale, shift) == (pytest.approx(1.2), pytest.approx(0.7))
    np.testing.assert_allclose(aligned, [0.7, 1.9, 3.1, 4.3])
    _, scale, shift = align_scale_shift(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
    assert (scale, shift) == (pytest.approx(2.0), pytest.approx(1.0))


def test_relative_depth_metrics_by_hand():
    # 1/gt = [1, 2, 2, 5]: the fit above gives disparities [0.7, 1.9, 3.1, 4.3]; the floor 1/max(gt) = 1
    # lifts 0.7 to 1, so predicted depth = [1, 1/1.9, 1/3.1, 1/4.3] against gt [1, 0.5, 0.5, 0.2].
    pred_inv = np.array([0.0, 1.0, 2.0, 3.0])
    gt = np.array([1.0, 0.5, 0.5, 0.2])
    m = relative_depth_metrics(pred_inv, gt, np.ones(4, bool))
    expected = (0 + abs(1 / 1.9 - 0.5) / 0.5 + abs(1 / 3.1 - 0.5) / 0.5 + abs(1 / 4.3 - 0.2) / 0.2) / 4
    assert m["absrel"] == pytest.approx(expected)  # ≈ 0.14257
    # ratios 1, 1.053, 1.55, 1.163 → three of four under 1.25
    assert m["delta1"] == 0.75


def test_relative_metrics_are_scale_and_shift_invariant():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1.0, 10.0, size=(12, 16))
    mask = rng.random((12, 16)) > 0.2
    perfect = relative_depth_metrics(3.0 / gt + 0.5, gt, mask)
    assert perfect["absrel"] == pytest.approx(0.0, abs=1e-12) and perfect["delta1"] == 1.0
    pred = 1.0 / gt + rng.normal(0, 0.05, size=gt.shape)
    base = relative_depth_metrics(pred, gt, mask)
    for transformed in (7.0 * pred + 3.0, 0.01 * pred - 2.0):
        other = relative_depth_metrics(transformed, gt, mask)
        for key, value in base.items():
            assert other[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert 0 < base["absrel"] < 1 and 0 < base["delta1"] < 1


def test_relative_metrics_depth_range():
    gt = np.array([1.0, 2.0, 4.0, 8.0, 50.0])
    pred = 1.0 / gt
    pred[-1] = 0.5  # wrong only where gt is beyond max_depth
    m = relative_depth_metrics(pred, gt, np.ones(5, bool), max_depth=10.0)
    assert m["absrel"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="empty mask"):
        relative_depth_metrics(pred, gt, np.ones(5, bool), min_depth=100.0)


def test_stereo_metrics_by_hand():
    pred = np.array([10.0, 12.0, 13.5, 100.0, 104.0, 50.0])
    gt = np.array([10.0, 10.0, 10.0, 90.0, 100.0, np.inf])  # +inf marks invalid (Middlebury)
    m = stereo_metrics(pred, gt, np.ones(6, bool))
    # errors on the 5 valid pixels: 0, 2, 3.5, 10, 4
    assert m["epe"] == pytest.approx(19.5 / 5)
    assert m["bad1"] == pytest.approx(80.0)  # 2, 3.5, 10, 4
    assert m["bad2"] == pytest.approx(60.0)  # 3.5, 10, 4 (exactly 2 is not bad-2)
    assert m["bad3"] == pytest.approx(60.0)
    assert m["d1"] == pytest.approx(40.0)  # 3.5 (> 0.5) and 10 (> 4.5); 4 is not > 5 % of 100


def test_agreement_by_hand():
    ref = np.array([1.0, 2.0, 3.0, 5.0])  # range 4
    cand = np.array([1.0, 2.4, 3.0, 3.9])  # errors 0, 0.4, 0, −1.1
    a = agreement(ref, cand)
    assert a["psnr_db"] == pytest.approx(20 * math.log10(4 / math.sqrt((0.16 + 1.21) / 4)))
    assert a["max_abs_rel"] == pytest.approx(1.1 / 4)
    assert a["mean_abs_rel"] == pytest.approx(1.5 / 4 / 4)
    assert a["absrel"] == pytest.approx((0.4 / 2 + 1.1 / 5) / 4)
    assert a["delta1"] == 0.75  # 5 / 3.9 = 1.28 fails
    assert agreement(np.array([1.0, 1.0]), np.array([-1.0, 1.0]))["delta1"] == 0.5  # negative never agrees


def test_perfect_predictions():
    x = np.linspace(1, 3, 20).reshape(4, 5)
    a = agreement(x, x.copy())
    assert a["psnr_db"] == math.inf and a["max_abs_rel"] == 0 and a["absrel"] == 0 and a["delta1"] == 1
    d = depth_metrics(x, x, np.ones_like(x, bool))
    assert d["absrel"] == 0 and d["rmse"] == 0 and d["delta1"] == 1
    s = stereo_metrics(x, x, np.ones_like(x, bool))
    assert s == {"epe": 0.0, "bad1": 0.0, "bad2": 0.0, "bad3": 0.0, "d1": 0.0}
    assert json.loads(json.dumps(json_safe(a), allow_nan=False))["psnr_db"] == "inf"


@pytest.mark.parametrize("fn", [depth_metrics, relative_depth_metrics, stereo_metrics, align_scale_shift])
def test_empty_mask_is_a_one_line_error(fn):
    x = np.ones((3, 3))
    with pytest.raises(ValueError, match="empty mask") as info:
        fn(x, x, np.zeros((3, 3), bool))
    assert "\n" not in str(info.value)


def test_bad_shapes_and_non_finite_predictions():
    with pytest.raises(ValueError, match="shape"):
        depth_metrics(np.ones(3), np.ones(4), None)
    with pytest.raises(ValueError, match="non-finite"):
        stereo_metrics(np.array([np.nan, 1.0]), np.array([1.0, 1.0]), None)
    with pytest.raises(ValueError, match="non-finite"):
        agreement(np.ones(2), np.array([1.0, np.inf]))
    # A constant reference has no range: max|ref| stands in, so errors stay relative.
    assert agreement(np.full(4, 2.0), np.full(4, 2.2))["max_abs_rel"] == pytest.approx(0.1)
    assert math.isnan(agreement(np.zeros(3), np.ones(3))["absrel"])  # no positive reference pixel


@pytest.mark.parametrize("value", [0.0, 0.1, 3.3, -441.5042568482022, 1e-8])
def test_constant_prediction_gets_the_best_constant_fit(value):
    # The least-squares fit of a constant is s = 0, t = mean(1/gt) exactly, whatever the constant and however
    # the mean of the constant rounds (-441.504… over 117,858 pixels used to leave s ≈ −9e-4).
    rng = np.random.default_rng(3)
    gt = rng.uniform(1.0, 10.0, size=117_858)
    flat = np.full(gt.shape, value)
    _, scale, shift = align_scale_shift(flat, 1.0 / gt)
    assert scale == 0.0 and shift == pytest.approx(np.mean(1.0 / gt), rel=1e-12)
    m = relative_depth_metrics(flat.astype(np.float32), gt)
    expected = depth_metrics(np.full(gt.shape, 1.0 / np.mean(1.0 / gt)), gt)
    assert all(math.isfinite(v) for v in m.values())
    for key, number in expected.items():
        assert m[key] == pytest.approx(number, rel=1e-9), key
    assert 0.0 < m["delta1"] < 0.5  # a constant is a poor map of depths spread over 1–10


def test_output_correlation_by_hand():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert output_correlation(a, 2.0 * a + 7.0) == pytest.approx(1.0)
    assert output_correlation(a, -a) == pytest.approx(-1.0)
    # x = [1, 2, 3], y = [1, 3, 2]: centred dot 1, norms √2 · √2 → 0.5 (the 4th pixel is masked out)
    b = np.array([[1.0, 3.0], [2.0, 100.0]])
    assert output_correlation(a, b, np.array([[True, True], [True, False]])) == pytest.approx(0.5)
    assert output_correlation(a, np.full((2, 2), 5.0)) == 0.0  # constant: no pattern to share
    with pytest.raises(ValueError, match="shape"):
        output_correlation(a, np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        output_correlation(a, np.array([[1.0, np.nan], [2.0, 3.0]]))


def _scenes(count: int, seed: int = 0) -> list[np.ndarray]:
    """Unrelated smooth random images, 24 × 40: noise box-blurred with wrap-around (no shared dark border)."""
    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(count):
        noise = rng.random((24, 40))
        scenes.append(sum(np.roll(noise, (dy, dx), axis=(0, 1)) for dy in range(-2, 3) for dx in range(-2, 3)) / 25)
    return scenes


def test_sanity_measures_tell_a_position_map_from_an_image_model():
    rows, cols = np.mgrid[0:24, 0:40]
    blob = np.exp(-((rows - 14) ** 2 + (cols - 10) ** 2) / 60.0)  # off-centre: not left-right symmetric

    def position_only(image):
        return blob + 1e-3 * image  # barely touched by its input, like a student that paints one blob

    def reads_image(image):
        return image**2 + 0.5 * image  # a function of the pixel it sees: mirrors with its input

    scenes = _scenes(8)
    painted = [position_only(x) for x in scenes]
    read = [reads_image(x) for x in scenes]
    assert input_dependence(painted) > 0.95
    assert input_dependence(read) < 0.3
    mirror_painted = np.mean([mirror_equivariance(position_only(x), position_only(x[:, ::-1])) for x in scenes])
    mirror_read = np.mean([mirror_equivariance(reads_image(x), reads_image(x[:, ::-1])) for x in scenes])
    assert mirror_painted < 0.5
    assert mirror_read == pytest.approx(1.0)
    # A left-right symmetric position map passes the mirror check: input dependence is what catches it.
    ramp = np.linspace(0.0, 1.0, 24)[:, None] * np.ones((1, 40))
    assert mirror_equivariance(ramp + 1e-3 * scenes[0], ramp + 1e-3 * scenes[0][:, ::-1]) > 0.99
    assert input_dependence([ramp + 1e-3 * x for x in scenes]) > 0.95


def test_position_prior_tells_a_painted_layout_from_a_map_of_the_photo():
    rows, cols = np.mgrid[0:24, 0:40]
    blob = np.exp(-((rows - 14) ** 2 + (cols - 10) ** 2) / 60.0)
    photo, *noise = _scenes(5, seed=1)
    painted = position_prior(blob + 1e-3 * photo, [blob + 1e-3 * x for x in noise])
    read = position_prior(photo**2 + 0.5 * photo, [x**2 + 0.5 * x for x in noise])
    assert painted > 0.95 and abs(read) < 0.3
    with pytest.raises(ValueError, match="at least one"):
        position_prior(photo, [])


def test_input_dependence_needs_two_outputs():
    with pytest.raises(ValueError, match="at least 2"):
        input_dependence([np.ones((2, 2))])
    # |ρ|: an output that flips sign from scene to scene is just as input-blind
    x = np.arange(6.0)
    assert input_dependence([x, -x, x]) == pytest.approx(1.0)
