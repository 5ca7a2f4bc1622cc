"""Baseline rows and sanity numbers in mono reports: maps that ignore the image, scored like any artifact, and
measures of whether the student reads its input."""

import json

import numpy as np
import pytest

from edgedepth.data.sample import StereoSample
from edgedepth.evaluation.items import (
    BASELINE_CONSTANT,
    BASELINE_GRADIENT,
    EvalItem,
    baseline_outputs,
)
from edgedepth.tasks import get_task
from edgedepth.teachers.base import METRIC, RELATIVE, Prediction

HEIGHT, WIDTH = 24, 32


def _ground_plane_item(dataset: str, near: float, far: float, seed: int, kind: str = "disparity") -> EvalItem:
    """A scene whose inverse depth rises linearly from the top row (far) to the bottom row (near), with a
    teacher that predicts it exactly (as disparity, or as metric depth)."""
    rng = np.random.default_rng(seed)
    inverse = np.repeat(np.linspace(1.0 / far, 1.0 / near, HEIGHT)[:, None], WIDTH, axis=1)
    depth = (1.0 / inverse).astype(np.float32)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    valid = np.ones((HEIGHT, WIDTH), bool)
    sample = StereoSample(f"{dataset}-{seed}", image, image, depth=depth, valid=valid)
    value = depth if kind == METRIC else (10.0 * inverse).astype(np.float32)
    return EvalItem(dataset, sample, Prediction(value, kind, valid))


def test_relative_baselines_are_scored_like_an_artifact():
    items = [_ground_plane_item("plane", 2.0, 20.0, seed) for seed in range(3)]
    baselines = baseline_outputs(items, 8, 12)
    assert list(baselines) == [BASELINE_CONSTANT, BASELINE_GRADIENT]
    raw, notes = baselines[BASELINE_GRADIENT]
    assert len(raw) == 3 and raw[0].shape == (1, 8, 12) and "bottom" in notes
    assert np.all(np.diff(raw[0][0], axis=0) > 0) and np.all(np.diff(raw[0][0], axis=1) == 0)  # nearer below
    gradient = get_task("mono").row_metrics(raw, None, items, RELATIVE)
    constant = get_task("mono").row_metrics(baselines[BASELINE_CONSTANT][0], None, items, RELATIVE)
    assert "fidelity" not in gradient and set(gradient["accuracy"]) == {"plane"}
    # On a ground plane the gradient is the right map (up to resizing at the borders); a constant is not.
    assert gradient["accuracy"]["plane"]["delta1"] > 0.9 and gradient["vs_teacher"]["delta1"] > 0.9
    assert constant["accuracy"]["plane"]["delta1"] < 0.6 and constant["vs_teacher"]["delta1"] < 0.6
    assert np.isfinite(constant["accuracy"]["plane"]["absrel"])


def test_metric_baselines_sit_at_each_datasets_teacher_depth():
    items = [_ground_plane_item("near", 1.0, 5.0, 0, METRIC), _ground_plane_item("near", 1.0, 5.0, 1, METRIC),
             _ground_plane_item("far", 20.0, 100.0, 2, METRIC)]
    baselines = baseline_outputs(items, 8, 12, METRIC)
    constants, _ = baselines[BASELINE_CONSTANT]
    gradients, notes = baselines[BASELINE_GRADIENT]
    for item, constant, gradient in zip(items, constants, gradients, strict=True):
        teacher = item.teacher.value
        assert constant.shape == (1, 8, 12) and np.all(constant == np.float32(np.median(teacher)))
        assert np.median(gradient) == pytest.approx(np.median(teacher), rel=1e-5)
        assert np.all(np.diff(gradient[0], axis=0) < 0)  # depth falls from the top row to the bottom row
        assert gradient[0, 0, 0] / gradient[0, -1, 0] == pytest.approx(
            np.percentile(teacher, 95) / np.percentile(teacher, 5), rel=1e-4)
    np.testing.assert_array_equal(gradients[0], gradients[1])  # one map per dataset, whatever the image
    assert gradients[2].min() > gradients[0].max()  # each dataset at its own depth
    assert "median" in notes and "percentile" in notes
    scored = get_task("mono").row_metrics(gradients, None, items, METRIC)
    assert scored["accuracy"]["far"]["delta1"] > 0.8  # right shape, right scale: compared raw, no alignment


@pytest.mark.slow
def test_verify_adds_baselines_and_sanity_to_a_mono_report(tmp_path):
    """distill (a few steps) → export ONNX fp32 → verify on 3 held-out scenes → report files."""
    from edgedepth.distill.config import DistillConfig
    from edgedepth.distill.train import train
    from edgedepth.stages.export import export_student
    from edgedepth.stages.measure import EvalConfig, measure
    from runtime.host.report import SANITY_LEGEND, write_report

    checkpoint = train(DistillConfig(input_size=(64, 96), scenes=4, steps=2, batch_size=2, threads=1),
                         tmp_path / "student.safetensors", progress=False)
    bundle = export_student(checkpoint, tmp_path / "bundles", "onnx", "fp32")
    report = measure(checkpoint, [bundle], EvalConfig(procedural_scenes=3, threads=1, warmup=1, iters=2),
                     timing=False)
    rows = {row["artifact"]: row for row in report["rows"]}
    assert list(rows) == ["teacher:sgbm", "student:torch-fp32", BASELINE_CONSTANT, BASELINE_GRADIENT, "onnx-fp32"]
    for name in (BASELINE_CONSTANT, BASELINE_GRADIENT):
        row = rows[name]
        assert (row["status"], row["format"], row["backend"], row["reference"]) == ("ok", "baseline", "numpy", True)
        assert "fidelity" not in row and "latency_ms" not in row and row["notes"]
        assert set(row["accuracy"]) == {"middlebury-motorcycle", "procedural-heldout"}
        assert 0.0 <= row["vs_teacher"]["delta1"] <= 1.0
    for name in ("student:torch-fp32", "onnx-fp32"):
        sanity = rows[name]["sanity"]
        assert sanity["samples"] == 3 and 0.0 <= sanity["input_dependence"] <= 1.0 and -1.0 <= sanity["mirror"] <= 1
        assert -1.0 <= sanity["position_prior"] <= 1.0 and sanity["position_photo"] == "middlebury-motorcycle"
    # The ONNX export computes what the torch student does, on the mirrored scenes and on noise too.
    for key in ("input_dependence", "mirror", "position_prior"):
        assert rows["onnx-fp32"]["sanity"][key] == pytest.approx(rows["student:torch-fp32"]["sanity"][key], abs=1e-4)
    assert "sanity" not in rows["teacher:sgbm"] and 0.0 <= report["sanity"]["ground_truth_input_dependence"] <= 1
    write_report(tmp_path / "out", report)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| baseline: top-to-bottom gradient | baseline | fp32 | numpy |" in text  # speed and fidelity table
    assert "| baseline: top-to-bottom gradient | ok |" in text  # the summary, status in words
    assert "## What the student beats" in text and SANITY_LEGEND in text and "best baseline" in text
    assert "Input dependence" in (tmp_path / "out" / "report.html").read_text()
    loaded = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["artifact"] for r in loaded["rows"]] == list(rows)
