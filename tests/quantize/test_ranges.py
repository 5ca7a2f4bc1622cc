"""The one rule for degenerate activation ranges (`quantize.ranges`): what it raises, to what, and what it keeps."""

from __future__ import annotations

import numpy as np
import pytest

from quantize.ranges import ABSOLUTE_FLOOR, RELATIVE_FLOOR, floor_ranges, floored, range_floor, range_width


def test_width_includes_zero_as_quantizers_do():
    assert range_width(0.5, 2.0) == 2.0
    assert range_width(-3.0, -1.0) == 3.0
    assert range_width(0.0, 0.0) == 0.0


def test_floor_is_a_fraction_of_the_median_width_and_never_below_the_absolute_one():
    assert range_floor([1.0, 2.0, 3.0, 0.0]) == pytest.approx(2.0 * RELATIVE_FLOOR)
    assert range_floor([0.0, 0.0]) == ABSOLUTE_FLOOR
    assert range_floor([1e-9, 2e-9]) == ABSOLUTE_FLOOR
    assert range_floor([np.inf, np.nan, 4.0]) == pytest.approx(4.0 * RELATIVE_FLOOR)


def test_a_dead_activation_is_raised_upward_from_zero_and_a_live_one_is_left_alone():
    ranges = {"live_a": (-1.0, 3.0), "live_b": (0.0, 6.0), "live_c": (0.0, 2.0), "dead": (0.0, 0.0),
              "nearly_dead": (0.0, 1e-12), "negative_dead": (-1e-9, 0.0)}
    raised = floor_ranges(ranges)
    floor = range_floor(range_width(lo, hi) for lo, hi in ranges.values())
    assert floor == pytest.approx(2.0 * RELATIVE_FLOOR)  # median of the non-zero widths 4, 6, 2, 1e-12, 1e-9
    assert set(raised) == {"dead", "nearly_dead", "negative_dead"}
    assert raised["dead"] == pytest.approx((0.0, floor))
    assert raised["nearly_dead"] == pytest.approx((0.0, floor))
    assert raised["negative_dead"][0] == pytest.approx(-1e-9)
    assert raised["negative_dead"][1] - raised["negative_dead"][0] == pytest.approx(floor)
    # the scale an 8-bit quantizer derives from a raised range is a sane fraction of the typical one
    assert floor / 255 > 1e-6


def test_floored_returns_none_for_a_range_wide_enough():
    assert floored(-1.0, 1.0, 0.5) is None
    assert floored(0.0, 0.1, 0.5) == (0.0, 0.5)
