"""Distil from each Hugging Face depth family through the CLI, offline, on a folder of photos: tiny random-init
models saved with save_pretrained stand in for the released checkpoints (same classes, same loading code)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgedepth.checkpoint import load_student
from edgedepth.cli import main
from tests.helpers import tiny_models, write_photos

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("offline")]

# family folder → (teacher size, the kind the student must end up predicting)
FAMILIES = {
    "da_v1": (56, "relative_inverse_depth"),
    "da_v2": (56, "relative_inverse_depth"),
    "da_metric": (56, "metric_depth"),
    "dpt": (64, "relative_inverse_depth"),
    "zoedepth": (64, "metric_depth"),
}


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-teachers")
    models = tiny_models()
    for name in FAMILIES:
        models[name].save_pretrained(root / name)
    return {name: root / name for name in FAMILIES}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos"), count=6)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_distill_from_each_family_through_the_cli(family, hf_folders, photos, tmp_path):
    size, kind = FAMILIES[family]
    ckpt = tmp_path / "student.safetensors"
    assert main(["distill", "--out", str(ckpt), "--images", str(photos), "--teacher", f"hf:{hf_folders[family]}",
                 "--teacher-arg", f"size={size}", "--size", "64x96", "--steps", "2", "--batch-size", "2",
                 "--threads", "1", "--cache", str(tmp_path / "cache")]) == 0
    _, info = load_student(ckpt)
    assert info.output_kind == kind
    assert info.training["loss"] == ("silog" if kind == "metric_depth" else "ssi")
    assert info.teacher["name"] == "hf" and info.teacher["weights_sha256"]
    assert info.training["log"]["teacher_cache"]["misses"] == 5  # 6 photos, 1 held out


def test_report_from_an_hf_teacher_shows_it_as_the_reference(hf_folders, photos, tmp_path):
    ckpt = tmp_path / "student.safetensors"
    teacher = ["--teacher", f"hf:{hf_folders['dpt']}", "--teacher-arg", "size=64"]
    assert main(["distill", "--out", str(ckpt), "--images", str(photos), *teacher, "--size", "64x96", "--steps",
                 "2", "--batch-size", "2", "--threads", "1", "--no-cache"]) == 0
    assert main(["export", "--student", str(ckpt), "--out", str(tmp_path / "bundles")]) == 0
    assert main(["verify", "--student", str(ckpt), "--bundles", str(tmp_path / "bundles"), "--out",
                 str(tmp_path / "report"), "--no-cache", "--threads", "1"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    rows = {row["artifact"]: row for row in report["rows"]}
    reference = rows["teacher:hf"]
    assert reference["reference"] is True and reference["backend"] == "transformers"
    assert reference["kind"] == "relative_inverse_depth"
    assert report["reference"]["teacher"]["family"] == "dpt"
    for name in ("student:torch-fp32", "onnx-fp32"):
        assert set(rows[name]["vs_teacher"]) == {"absrel", "delta1"}
        assert 0.0 <= rows[name]["vs_teacher"]["delta1"] <= 1.0
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "teacher:hf" in markdown
