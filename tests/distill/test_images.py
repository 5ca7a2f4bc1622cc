"""Distil from a folder of photos with an ONNX teacher (relative and metric), through the CLI, offline: the
teacher-output cache, held-out photos for verify, calibration on the photos, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgedepth.checkpoint import load_student
from edgedepth.cli import main
from tests.helpers import write_photos

pytestmark = pytest.mark.e2e

STEPS = ["--size", "64x96", "--steps", "3", "--batch-size", "2", "--threads", "1"]


class SmoothDepth(nn.Module):
    """A fixed smooth image → positive map net: a stand-in for a zoo depth model (metric when offset > 0)."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 1, 5, padding=2)
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(self.conv(x))[:, 0] + self.offset


def _onnx_teacher(path: Path, offset: float) -> Path:
    torch.onnx.export(SmoothDepth(offset).eval(), (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False,
                      input_names=["image"], output_names=["depth"])
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def teachers(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx-teachers")
    return {"relative": _onnx_teacher(folder / "relative.onnx", 0.0),
            "metric": _onnx_teacher(folder / "metric.onnx", 2.0)}


@pytest.fixture(scope="module")
def relative_run(tmp_path_factory, photos, teachers) -> Path:
    out = tmp_path_factory.mktemp("relative-run")
    ckpt = out / "student.safetensors"
    args = ["distill", "--out", str(ckpt), "--images", str(photos), "--teacher", f"onnx:{teachers['relative']}",
            "--teacher-arg", "kind=relative_inverse_depth", "--cache", str(out / "cache"), *STEPS]
    assert main(args) == 0
    assert main([*args, "--force"]) == 0  # the second run reads every prediction from the cache
    return out


def test_distill_records_the_photos_and_serves_the_second_run_from_the_cache(relative_run):
    _, info = load_student(relative_run / "student.safetensors")
    data = info.training["data"]
    assert data["dataset"] == "images" and data["train_images"] == 7
    assert data["holdout"] == ["sub/img7.png"]  # the last file in sorted order
    assert info.output_kind == "relative_inverse_depth" and info.training["loss"] == "ssi"
    assert info.teacher["name"] == "onnx" and info.teacher["params"]["kind"] == "relative_inverse_depth"
    assert info.training["log"]["teacher_cache"]["hits"] == 7
    assert info.training["log"]["teacher_cache"]["misses"] == 0
    entries = list((relative_run / "cache").rglob("*.npz"))
    assert len(entries) == 7


def test_verify_measures_against_the_teacher_on_held_out_photos(relative_run):
    out = relative_run
    ckpt = out / "student.safetensors"
    assert main(["export", "--student", str(ckpt), "--out", str(out / "bundles"), "--precision", "fp32,int8",
                 "--calibration", "4"]) == 0
    assert main(["verify", "--student", str(ckpt), "--bundles", str(out / "bundles"), "--out", str(out),
                 "--cache", str(out / "cache"), "--threads", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["datasets"]) == ["images-heldout"]
    assert {k: report["datasets"]["images-heldout"][k] for k in ("samples", "resolution")} == {
        "samples": 1, "resolution": [96, 128]}
    rows = {row["artifact"]: row for row in report["rows"]}
    teacher = rows["teacher:onnx"]
    assert teacher["backend"] == "onnxruntime" and teacher["kind"] == "relative_inverse_depth"
    student = rows["student:torch-fp32"]
    assert 0 <= student["vs_teacher"]["absrel"] < 10 and 0 <= student["vs_teacher"]["delta1"] <= 1
    assert student["accuracy"] == {}  # photos carry no ground truth
    assert rows["onnx-fp32"]["status"] == "ok" and rows["onnx-fp32"]["fidelity"]["psnr_db"] > 80
    assert rows["onnx-int8"]["status"] == "ok" and rows["onnx-int8"]["fidelity"]["psnr_db"] > 15
    assert "aligned" in report["reference"]["alignment"]


def test_a_metric_teacher_trains_a_metric_student_compared_raw(tmp_path, photos, teachers):
    ckpt = tmp_path / "metric.safetensors"
    assert main(["distill", "--out", str(ckpt), "--images", str(photos), "--holdout", "2", "--teacher",
                 f"onnx:{teachers['metric']}", "--teacher-arg", "kind=metric_depth", "--no-cache", *STEPS]) == 0
    model, info = load_student(ckpt)
    assert info.output_kind == "metric_depth" and info.training["loss"] == "silog"
    assert len(info.training["data"]["holdout"]) == 2
    # The head starts at the teacher's scale (≈ 2 + softplus): a metric student's output is depth in metres.
    assert info.training["log"]["output_bias_level"] != 0.0
    with torch.no_grad():
        pred = model(torch.zeros(1, 3, 64, 96)).numpy()
    assert 0.5 < float(np.median(pred)) < 10.0
    assert main(["export", "--student", str(ckpt), "--out", str(tmp_path / "bundles")]) == 0
    assert main(["verify", "--student", str(ckpt), "--bundles", str(tmp_path / "bundles"), "--out",
                 str(tmp_path / "report"), "--no-cache", "--threads", "1"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["reference"]["alignment"].startswith("metric depth compared raw")
    manifest = json.loads((tmp_path / "bundles" / "onnx-fp32" / "manifest.json").read_text())
    assert manifest["outputs"][0]["kind"] == "metric_depth"


@pytest.mark.parametrize("case", ["empty-folder", "missing-folder", "unknown-teacher", "stereo-teacher",
                                  "wrong-init", "undeclared-kind"])
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, photos, teachers, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    wrong = tmp_path / "lite0.safetensors"
    if case == "wrong-init":
        from tests.helpers import make_student

        make_student(wrong)
    relative = ["--teacher", f"onnx:{teachers['relative']}", "--teacher-arg", "kind=relative_inverse_depth"]
    args = {
        "empty-folder": ["--images", str(empty), *relative],
        "missing-folder": ["--images", str(tmp_path / "nowhere"), *relative],
        "unknown-teacher": ["--images", str(photos), "--teacher", "tensorflow:model.pb"],
        "stereo-teacher": ["--images", str(photos), "--teacher", "sgbm"],
        "wrong-init": ["--images", str(photos), "--model", "midas_small", "--init", str(wrong), *relative],
        "undeclared-kind": ["--images", str(photos), "--teacher", f"onnx:{teachers['relative']}"],
    }[case]
    expected = {"empty-folder": "no image (.jpg", "missing-folder": "image folder not found",
                "unknown-teacher": "unknown teacher 'tensorflow:model.pb'", "stereo-teacher": "stereo teacher",
                "wrong-init": "does not fit midas_small", "undeclared-kind": "kind"}[case]
    code = main(["distill", "--out", str(tmp_path / "s.safetensors"), "--no-cache", *args, *STEPS])
    err = capsys.readouterr().err.strip()
    assert code == 2 and expected in err and "\n" not in err, err
    assert not (tmp_path / "s.safetensors").exists()


def test_official_midas_small_checkpoint_as_teacher_and_as_init(tmp_path, photos):
    """A random-init checkpoint with the official key names stands in for midas_v21_small_256.pt."""
    from edgedepth.models import create_model

    torch.manual_seed(1)
    official = create_model("midas_small").state_dict()
    checkpoint = tmp_path / "midas_v21_small_256.pt"
    torch.save(official, checkpoint)
    ckpt = tmp_path / "student.safetensors"
    assert main(["distill", "--out", str(ckpt), "--images", str(photos), "--teacher",
                 f"midas_v21_small:{checkpoint}", "--model", "midas_small", "--init", str(checkpoint), "--lr", "1e-9",
                 "--no-cache", *STEPS]) == 0
    model, info = load_student(ckpt)
    assert info.teacher["name"] == "midas_v21_small" and info.teacher["family"] == "midas"
    assert info.training["config"]["init"] == str(checkpoint)
    # Started from the official weights: at a negligible learning rate the encoder is still theirs.
    for key in ("pretrained.layer1.0.weight", "scratch.layer4_rn.weight"):
        assert torch.allclose(model.state_dict()[key], official[key], atol=1e-6), key
