"""verify aligns only what should be aligned: relative outputs by scale and shift, metric depth raw."""

from __future__ import annotations

import numpy as np
import pytest

from edgedepth.data import StereoSample
from edgedepth.evaluation.items import EvalItem, teacher_row_metrics
from edgedepth.tasks import get_task
from edgedepth.teachers import Prediction
from runtime.bundle import RELATIVE


def _item(depth: np.ndarray, teacher: Prediction) -> EvalItem:
    image = np.zeros((*depth.shape, 3), np.uint8)
    sample = StereoSample(name="s", left=image, right=None, depth=depth, valid=np.ones(depth.shape, bool))
    return EvalItem("set", sample, teacher)


@pytest.fixture
def depth() -> np.ndarray:
    return np.linspace(1.0, 10.0, 48 * 64, dtype=np.float32).reshape(48, 64)


def test_metric_outputs_are_compared_raw(depth):
    teacher = Prediction(depth.copy(), "metric_depth", np.ones(depth.shape, bool))
    doubled = [2.0 * depth]  # right shape of the scene, wrong scale: a metric claim that is false
    metric = get_task("mono").row_metrics(doubled, None, [_item(depth, teacher)], "metric_depth")
    assert metric["vs_teacher"]["delta1"] == 0.0 and metric["vs_teacher"]["absrel"] == pytest.approx(1.0)
    assert metric["accuracy"]["set"]["absrel"] == pytest.approx(1.0)
    inverse_teacher = Prediction(1.0 / depth, "relative_inverse_depth", np.ones(depth.shape, bool))
    relative = get_task("mono").row_metrics([2.0 / depth], None, [_item(depth, inverse_teacher)], RELATIVE)
    assert relative["vs_teacher"]["delta1"] == pytest.approx(1.0)  # scale is free for relative outputs


def test_pixels_without_metric_depth_count_as_misses(depth):
    teacher = Prediction(depth.copy(), "metric_depth", np.ones(depth.shape, bool))
    half_empty = depth.copy()
    half_empty[:, :32] = 0.0
    metric = get_task("mono").row_metrics([half_empty], None, [_item(depth, teacher)], "metric_depth")
    assert metric["accuracy"]["set"]["coverage"] == pytest.approx(0.5)
    assert metric["accuracy"]["set"]["delta1"] == pytest.approx(0.5)
    assert metric["vs_teacher"]["absrel"] == pytest.approx(0.5, abs=1e-3)


def test_metric_teacher_row_is_raw_and_keeps_its_own_coverage(depth):
    valid = np.ones(depth.shape, bool)
    valid[:12] = False
    teacher = Prediction(np.where(valid, 1.1 * depth, 0.0).astype(np.float32), "metric_depth", valid)
    row = teacher_row_metrics([_item(depth, teacher)])["accuracy"]["set"]
    assert row["coverage"] == pytest.approx(0.75)
    assert row["absrel"] == pytest.approx(0.1, abs=1e-4) and row["delta1"] == 1.0
