"""An original's bundles measured against the torch original (`verify --model`, no student), and beside a
student's bundles, where the report gives the student's speed-up over the original on the same backend."""

from __future__ import annotations

import json

import pytest

from edgedepth.cli import main
from runtime.rows import ORIGINAL_PREFIX, ORIGINAL_REFERENCE
from tests.originals.families import hf_folder


@pytest.fixture(scope="module")
def original_bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("original")
    spec = f"hf:{hf_folder(root, 'da_v2')}"
    assert main(["export", "--model", spec, "--size", "56x70", "--format", "onnx", "--precision", "fp32,int8",
                 "--calibration", "4", "--out", str(root / "bundles")]) == 0
    return spec, root / "bundles"


@pytest.mark.slow
def test_verify_holds_an_originals_bundles_to_the_torch_original(original_bundles, tmp_path, capsys):
    spec, bundles = original_bundles
    out = tmp_path / "verify"
    assert main(["verify", "--model", spec, "--bundles", str(bundles), "--out", str(out), "--eval-scenes", "2",
                 "--no-cache"]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {row["artifact"]: row for row in report["rows"]}
    assert rows[ORIGINAL_REFERENCE]["reference"] and report["reference"]["original"]["family"] == "depth-anything"
    assert rows["teacher:hf"]["status"] == "ok"
    assert float(rows["onnx-fp32"]["fidelity"]["psnr_db"]) > 80, rows["onnx-fp32"]["fidelity"]
    assert 15 < float(rows["onnx-int8"]["fidelity"]["psnr_db"]) < 80, rows["onnx-int8"]["fidelity"]
    assert "original:torch-fp32" in capsys.readouterr().out


@pytest.mark.slow
def test_a_student_beside_its_original_gets_a_speedup_over_it(original_bundles, onnx_bundles, student_ckpt,
                                                                tmp_path):
    _, original = original_bundles
    fp32, _ = onnx_bundles
    out = tmp_path / "report"
    both = ["--student", str(student_ckpt), "--bundles", str(fp32.path.parent), str(original), "--out", str(out),
            "--no-cache"]
    assert main(["verify", *both, "--eval-scenes", "2"]) == 0
    assert main(["bench", *both, "--warmup", "1", "--iters", "3"]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {row["artifact"]: row for row in report["rows"]}
    student, theirs = rows["onnx-fp32"], rows[f"{ORIGINAL_PREFIX}onnx-fp32"]
    assert theirs["status"] == "ok" and "fidelity" not in theirs and theirs["accuracy"]
    assert student["speedup_vs_original"] == round(student["fps"] / theirs["fps"], 2)
    assert student["speedup_vs_student"] == round(student["fps"] / rows["student:torch-fp32"]["fps"], 2)
    assert "Speed-up vs original" in (out / "report.md").read_text()


@pytest.mark.slow
def test_an_original_is_scored_on_a_benchmark_folder(original_bundles, tmp_path):
    from tests.datasets.benchmark_files import middlebury_2014_scene

    spec, bundles = original_bundles
    for scene in ("Adirondack", "Motorcycle"):
        middlebury_2014_scene(tmp_path / "middlebury" / scene)
    out = tmp_path / "report"
    assert main(["verify", "--model", spec, "--bundles", str(bundles), "--out", str(out), "--no-cache",
                 "--dataset", f"middlebury:{tmp_path / 'middlebury'}"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["datasets"]) == ["middlebury"] and report["datasets"]["middlebury"]["protocol"]
    rows = {row["artifact"]: row for row in report["rows"]}
    for name in (ORIGINAL_REFERENCE, "onnx-fp32", "onnx-int8"):
        assert rows[name]["status"] == "ok" and "delta1" in rows[name]["accuracy"]["middlebury"], rows[name]
