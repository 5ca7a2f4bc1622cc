"""One code path: the embedded motorcycle and a user's Middlebury folder are built by the same function and scored
by the same protocol; the SGBM baseline takes its range from the benchmark's ndisp."""

from __future__ import annotations

import numpy as np
import pytest

import edgedepth.data.middlebury as middlebury
from edgedepth.data import get_dataset
from edgedepth.evaluation.items import (
    MOTORCYCLE,
    PROCEDURAL,
    benchmark_sets,
    build_eval_items,
    sgbm_num_disparities,
    sgbm_row_metrics,
)
from edgedepth.evaluation.scoring import DISPARITY_SCORING, row_metrics
from edgedepth.teachers import create_teacher
from tests.datasets.benchmark_files import middlebury_2014_scene


def test_motorcycle_and_a_middlebury_folder_share_the_builder_and_the_protocol(monkeypatch, tmp_path):
    built = []
    real = middlebury.middlebury_sample
    monkeypatch.setattr(middlebury, "middlebury_sample", lambda *a, **k: built.append(a[0]) or real(*a, **k))
    import edgedepth.data.benchmarks.middlebury as folder_reader

    monkeypatch.setattr(folder_reader, "middlebury_sample", middlebury.middlebury_sample)
    middlebury_2014_scene(tmp_path / "mb" / "Toy")
    datasets, protocols = benchmark_sets("stereo", [("middlebury", str(tmp_path / "mb"))])
    embedded = {MOTORCYCLE: get_dataset("motorcycle", max_width=64), PROCEDURAL: get_dataset(
        "procedural", n=1, seed=3, height=32, width=48)}
    items = build_eval_items({**embedded, **datasets}, create_teacher("sgbm"), protocols)
    assert set(built) == {"middlebury-motorcycle", "Toy"}  # (the folder is read lazily, once checked and once used)
    by_set = {item.dataset: item.protocol.name for item in items}
    assert by_set == {MOTORCYCLE: "middlebury", "middlebury": "middlebury", PROCEDURAL: "procedural"}
    # Middlebury's columns on both; the procedural scenes keep their own (bad-1/2/3, no occlusion split).
    raw = [item.sample.disparity for item in items]
    scored = row_metrics(raw, None, items, "disparity", DISPARITY_SCORING)["accuracy"]
    assert {"bad0.5", "bad4"} <= set(scored[MOTORCYCLE]) and "bad3" not in scored[MOTORCYCLE]
    assert "bad2_noc" in scored["middlebury"] and "bad2_noc" not in scored[MOTORCYCLE]
    assert {"bad1", "bad2", "bad3"} <= set(scored[PROCEDURAL]) and "bad2_noc" not in scored[PROCEDURAL]
    assert scored[MOTORCYCLE]["epe"] == 0.0 and scored["middlebury"]["bad0.5"] == 0.0


def test_sgbm_baseline_takes_ndisp(tmp_path):
    middlebury_2014_scene(tmp_path / "mb" / "Toy")
    datasets, protocols = benchmark_sets("stereo", [("middlebury", str(tmp_path / "mb"))])
    sample = datasets["middlebury"][0]
    assert sgbm_num_disparities(sample) == 48  # ndisp 40 rounded up to a multiple of 16
    items = build_eval_items(datasets, create_teacher("sgbm"), protocols)
    row = sgbm_row_metrics(items)["accuracy"]["middlebury"]
    assert 0.0 <= row["coverage"] <= 1.0 and row["bad2"] >= row.get("bad2_own", 0.0)


def test_a_mono_student_needs_depth(tmp_path):
    from edgedepth.errors import ConfigError
    from tests.datasets.benchmark_files import png, pnm, rgb, write

    scene = tmp_path / "cones"
    write(scene / "im2.png", png(rgb(4, 8)))
    write(scene / "im6.png", png(rgb(4, 8, 1)))
    write(scene / "disp2.png", png(np.full((4, 8), 40, np.uint8)))
    write(tmp_path / "unused.pgm", pnm(np.zeros((2, 2), np.uint8)))
    with pytest.raises(ConfigError, match="no calibration"):
        benchmark_sets("mono", [("middlebury", str(tmp_path))])


def test_the_motorcycle_as_a_middlebury_folder_scores_the_same(tmp_path):
    """The embedded pair written out in Middlebury 2014's layout reads back as the same sample and scores the
    same numbers: the demo's figures and a benchmark folder's come from one path."""
    from skimage import data

    from edgedepth.data.middlebury import MOTORCYCLE_PRINCIPAL_POINT, load_motorcycle
    from tests.datasets.benchmark_files import pfm, png, write

    left, right, disparity = data.stereo_motorcycle()
    scene = tmp_path / "mb" / "Motorcycle"
    write(scene / "im0.png", png(left))
    write(scene / "im1.png", png(right))
    write(scene / "disp0.pfm", pfm(np.asarray(disparity, np.float32)))
    cx, cy = MOTORCYCLE_PRINCIPAL_POINT
    (scene / "calib.txt").write_text(f"cam0=[994.978 0 {cx}; 0 994.978 {cy}; 0 0 1]\ndoffs=31.086\n"
                                     "baseline=193.001\nwidth=741\nheight=500\nndisp=70\n")
    datasets, protocols = benchmark_sets("stereo", [("middlebury", str(tmp_path / "mb"))])
    folder, embedded = datasets["middlebury"][0], load_motorcycle()
    for field in ("left", "right", "disparity", "valid", "depth"):
        assert np.array_equal(getattr(folder, field), getattr(embedded, field)), field
    teacher = create_teacher("sgbm")
    items = build_eval_items({MOTORCYCLE: [embedded], **datasets}, teacher, protocols)
    guess = [embedded.disparity + 0.7 * np.sin(np.arange(embedded.disparity.size)).reshape(embedded.shape)] * 2
    scored = row_metrics(guess, None, items, "disparity", DISPARITY_SCORING)["accuracy"]
    assert scored[MOTORCYCLE] == pytest.approx(scored["middlebury"])
