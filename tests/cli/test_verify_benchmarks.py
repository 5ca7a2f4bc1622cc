"""`edgedepth verify --dataset NAME:DIR`: a benchmark folder's bad file is one line and exit 2 with nothing written;
a student's bundles, mono and stereo, are scored by the benchmark's protocol, named in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgedepth.cli import main
from tests.datasets.benchmark_files import middlebury_2014_scene, pfm, png, rgb, write
from tests.helpers import make_onnx_bundle


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    from tests.helpers import make_student

    return make_student(tmp_path_factory.mktemp("bench-cli") / "student.safetensors")


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    make_onnx_bundle(root / "tiny-onnx")
    return root


def _verify(student, bundles, out, *extra):
    return main(["verify", "--student", str(student), "--bundles", str(bundles), "--out", str(out),
                 "--warmup", "0", "--iters", "1", "--threads", "1", "--no-cache", *extra])


def _broken_scene(tmp_path):
    scene = tmp_path / "mb" / "Toy"
    middlebury_2014_scene(scene)
    write(scene / "disp0.pfm", pfm(np.ones((24, 40), np.float32))[:-4])  # cut short
    return tmp_path / "mb"


def _one_line_exit_2(code, capsys, words):
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("edgedepth: error:") and err.count("\n") == 1 and words in err, err


def test_a_malformed_file_is_one_line_exit_2_and_nothing_written(student, tiny_bundle, tmp_path, capsys):
    folder = _broken_scene(tmp_path)
    _one_line_exit_2(_verify(student, tiny_bundle, tmp_path / "out", "--dataset", f"middlebury:{folder}"), capsys,
                     "cut short")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, words", [
    (["--dataset", "nyu:{empty}"], "nyu: neither"),
    (["--dataset", "middlebury:{scene}", "--protocol", "kitti-garg"], "not offered"),
    (["--limit", "2"], "go with --dataset"),
    (["--dataset", "kitti-stereo:{scene}"], "neither image_2"),
])
def test_bad_benchmark_requests_are_one_line(student, tiny_bundle, tmp_path, capsys, extra, words):
    middlebury_2014_scene(tmp_path / "mb" / "Toy")
    (tmp_path / "empty").mkdir()
    argv = [part.format(empty=tmp_path / "empty", scene=tmp_path / "mb") for part in extra]
    _one_line_exit_2(_verify(student, tiny_bundle, tmp_path / "out", *argv), capsys, words)
    assert not (tmp_path / "out").exists()


def test_an_unknown_benchmark_is_a_usage_error(student, tiny_bundle, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _verify(student, tiny_bundle, tmp_path / "out", "--dataset", f"imagenet:{tmp_path}")
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "unknown benchmark 'imagenet'" in err


def _nyu_export(folder, count=2):
    for index in range(count):
        depth = np.tile(np.linspace(800, 4000, 96, dtype=np.float64), (72, 1)).astype(np.uint16)
        write(folder / f"{index:05d}_colors.png", png(rgb(72, 96, index)))
        write(folder / f"{index:05d}_depth.png", png(depth))
    return folder


@pytest.mark.slow
def test_mono_bundles_on_benchmarks(student_ckpt, onnx_bundles, tmp_path):
    """Two benchmarks in one run, each with its protocol; the baselines beside the student as on embedded data."""
    for name in ("Toy", "Other"):
        middlebury_2014_scene(tmp_path / "mb" / name)
    nyu = _nyu_export(tmp_path / "nyu")
    bundles = onnx_bundles[0].path.parent
    assert _verify(student_ckpt, bundles, tmp_path / "out", "--dataset", f"middlebury:{tmp_path / 'mb'}",
                   "--dataset", f"nyu:{nyu}", "--protocol", "nyu-full", "--limit", "1", "--alignment",
                   "median") == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["datasets"]) == {"middlebury", "nyu"}
    assert report["datasets"]["nyu"]["protocol"] == "nyu-full" and report["datasets"]["nyu"]["samples"] == 1
    assert "median" in report["datasets"]["middlebury"]["protocol_text"]
    rows = {row["artifact"]: row for row in report["rows"]}
    for name in ("student:torch-fp32", "onnx-fp32", "onnx-int8", "baseline: constant"):
        assert {"absrel", "sqrel", "rmse", "rmse_log", "delta1", "delta2", "delta3"} <= set(
            rows[name]["accuracy"]["nyu"]), name
    assert "nyu" not in rows["teacher:sgbm"].get("accuracy", {})  # a stereo teacher cannot see single views
    assert "middlebury" in rows["teacher:sgbm"]["accuracy"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "### nyu" in markdown and "Protocol nyu-full" in markdown and "nyu δ1" in markdown


@pytest.mark.slow
def test_stereo_bundle_on_middlebury(tmp_path):
    """A stereo student's bundle scored by Middlebury's protocol: all and non-occluded columns, SGBM beside."""
    import torch

    from edgedepth.checkpoint import StudentInfo, save_student
    from edgedepth.models import create_model
    from edgedepth.stages.export import export_student

    torch.manual_seed(0)
    model = create_model("stereo_small")
    info = StudentInfo(config=dict(model.config), input_size=(64, 128), mean=list(model.input_mean),
                       std=list(model.input_std), output_kind=model.output_kind, teacher={"name": "sgbm"},
                       task="stereo")
    ckpt = save_student(tmp_path / "stereo.safetensors", model, info)
    export_student(ckpt, tmp_path / "bundles", "onnx")
    middlebury_2014_scene(tmp_path / "mb" / "Toy")
    assert _verify(ckpt, tmp_path / "bundles", tmp_path / "out", "--dataset", f"middlebury:{tmp_path / 'mb'}") == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["datasets"]["middlebury"]["headline"] == ["bad2_noc", "bad2"]
    rows = {row["artifact"]: row for row in report["rows"]}
    scored = rows["onnx-fp32"]["accuracy"]["middlebury"]
    assert {"epe", "bad0.5", "bad1", "bad2", "bad4", "d1", "epe_noc", "bad2_noc", "depth_absrel"} <= set(scored)
    teacher = rows["teacher:sgbm"]["accuracy"]["middlebury"]
    assert teacher["bad2_own"] <= teacher["bad2"] and 0 < teacher["coverage"] <= 1
    assert "middlebury bad-2 %, noc" in (tmp_path / "out" / "report.md").read_text()
