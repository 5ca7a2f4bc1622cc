"""The benchmark protocols reproduce values computed by hand: crops, depth ranges, median scaling, least-squares
alignment, bad-τ with holes as misses, D1 on both sides of its two thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.errors import RequestError
from runtime.metrics import relative_depth_metrics, stereo_metrics
from runtime.protocols import CROPS, Protocol, get_protocol, median_scale, score_depth, score_disparity

METRIC, RELATIVE = "metric_depth", "relative_inverse_depth"
PLAIN = Protocol("plain", "no crop, no range")
CAPPED = Protocol("capped", "depth 1e-3 to 80 m", min_depth=1e-3, max_depth=80.0)


def test_garg_and_eigen_crops_as_monodepth_truncates_them():
    garg = CROPS["kitti-garg"].mask(375, 1242)
    rows, cols = np.nonzero(garg.any(axis=1))[0], np.nonzero(garg.any(axis=0))[0]
    # 0.40810811·375 = 153.04 → 153, 0.99189189·375 = 371.96 → 371 (end excluded); 0.03594771·1242 = 44.65 → 44,
    # 0.96405229·1242 = 1197.35 → 1197
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (153, 371, 44, 1197)
    eigen = CROPS["kitti-eigen"].mask(375, 1242)
    rows = np.nonzero(eigen.any(axis=1))[0]
    assert (rows[0], rows[-1] + 1) == (124, 342)  # 0.3324324·375 = 124.66 → 124, 0.91351351·375 = 342.57 → 342
    nyu = CROPS["nyu-eigen"].mask(480, 640)
    assert nyu.sum() == (471 - 45) * (601 - 41) and nyu[45, 41] and not nyu[44, 41] and not nyu[45, 601]


def test_depth_range_is_strict_and_cropped():
    gt = np.full((100, 60), 5.0)
    gt[:, 20:26] = [0.0005, 1.0, 79.9, 80.0, np.inf, 5.0]
    mask = get_protocol("kitti-garg").depth_mask(gt, np.ones(gt.shape, bool))
    assert mask[60, 20:26].tolist() == [False, True, True, False, False, True]
    assert not mask[:40].any() and not mask[:, 58:].any()  # rows above 40.8 %, columns past 96.4 % cropped


def test_median_scaling_by_hand():
    gt = np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    pred = np.array([1.0, 2.0, 3.0, 4.0, 100.0])  # median 3 vs 6: scale 2 → 2, 4, 6, 8, 200 → clipped to 80
    scaled, scale = median_scale(pred, gt, np.ones(5, bool))
    assert scale == 2.0 and scaled.tolist() == [2.0, 4.0, 6.0, 8.0, 200.0]
    out = score_depth(pred, METRIC, gt, np.ones(5, bool), CAPPED, "median")
    assert out["absrel"] == pytest.approx((80 - 10) / 10 / 5)  # 1.4
    assert out["rmse"] == pytest.approx(np.sqrt(70**2 / 5)) and out["delta1"] == pytest.approx(0.8)
    # A relative inverse-depth output is inverted first: the same numbers.
    same = score_depth(1.0 / pred, RELATIVE, gt, np.ones(5, bool), CAPPED, "median")
    assert same == pytest.approx(out)


def test_least_squares_in_inverse_depth_by_hand():
    gt = np.array([1.0, 1.0, 2.0, 2.0])  # inverse 1, 1, 0.5, 0.5
    pred = np.array([0.0, 1.0, 0.0, 1.0])  # uncorrelated: s = 0, t = mean = 0.75 → depth 4/3 everywhere
    out = score_depth(pred, RELATIVE, gt, np.ones(4, bool), PLAIN)
    assert out["absrel"] == pytest.approx(1 / 3) and out["delta1"] == 0.0 and out["delta2"] == 1.0
    exact = score_depth(3.0 / gt + 7.0, RELATIVE, gt, np.ones(4, bool), PLAIN)  # any scale and shift
    assert exact["absrel"] == pytest.approx(0.0, abs=1e-12) and exact["delta1"] == 1.0


def test_metric_unaligned_is_clipped_to_the_range():
    out = score_depth(np.array([0.5, 100.0]), METRIC, np.array([1.0, 50.0]), np.ones(2, bool), CAPPED, "none")
    assert out["absrel"] == pytest.approx((0.5 / 1 + 30 / 50) / 2) and out["coverage"] == 1.0
    with pytest.raises(RequestError, match="needs metric depth"):
        score_depth(np.ones(2), RELATIVE, np.ones(2), np.ones(2, bool), PLAIN, "none")


def test_middlebury_protocol_keeps_the_plain_numbers():
    """The embedded motorcycle's depth and stereo numbers did not change when it moved to the protocol."""
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 10, (20, 30))
    valid = rng.random((20, 30)) > 0.2
    pred = 1.0 / gt + rng.normal(0, 0.05, gt.shape)
    middlebury = get_protocol("middlebury")
    assert score_depth(pred, RELATIVE, gt, valid, middlebury) == relative_depth_metrics(pred, gt, valid)
    disparity = rng.uniform(0, 50, (20, 30))
    guess = disparity + rng.normal(0, 2, disparity.shape)
    plain = stereo_metrics(guess, disparity, valid)
    scored = score_disparity(guess, disparity, valid, middlebury)
    assert {k: scored[k] for k in ("epe", "bad1", "bad2", "d1")} == {k: plain[k] for k in ("epe", "bad1", "bad2", "d1")}


def test_d1_bad_and_holes_by_hand():
    gt = np.array([10.0, 100.0, 100.0, 50.0, 20.0])
    pred = np.array([13.5, 104.0, 106.0, 52.0, 0.0])  # errors 3.5, 4, 6, 2, and a hole
    filled = np.array([True, True, True, True, False])
    nonocc = np.array([False, True, True, True, False])
    out = score_disparity(pred, gt, np.ones(5, bool), get_protocol("middlebury"), nonocc, filled)
    # D1: 3.5 > 3 and > 0.5 (5 % of 10) ✓; 4 > 3 but not > 5 ✗; 6 > 5 ✓; 2 ✗; the hole ✓ → 3 of 5
    assert out["d1"] == pytest.approx(60.0)
    assert (out["bad0.5"], out["bad1"], out["bad2"], out["bad4"]) == pytest.approx((100.0, 100.0, 80.0, 40.0))
    assert out["epe"] == pytest.approx((3.5 + 4 + 6 + 2 + 20) / 5)  # the hole's prediction taken as 0
    assert out["bad2_noc"] == pytest.approx(200 / 3) and out["d1_noc"] == pytest.approx(100 / 3)
    # own pixels: the four filled ones
    assert out["coverage"] == pytest.approx(0.8) and out["epe_own"] == pytest.approx(15.5 / 4)
    assert out["d1_own"] == pytest.approx(50.0) and out["bad2_own"] == pytest.approx(75.0)
    dense = score_disparity(pred, gt, np.ones(5, bool), get_protocol("kitti-2015"))
    assert "coverage" not in dense and set(dense) == {"epe", "bad3", "d1"}


def test_every_protocol_is_registered_with_a_summary():
    from runtime.protocols import PROTOCOLS

    for name in PROTOCOLS.names():
        protocol = get_protocol(name)
        assert protocol.summary and (protocol.crop is None or protocol.crop in CROPS)
    with pytest.raises(RequestError, match="unknown protocol"):
        get_protocol("kitti-nope")
