"""The CLI end to end on tiny settings: every stage verb, the report it writes, and one-line errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgedepth.cli import build_parser, main

pytestmark = pytest.mark.e2e

FAST_EVAL = ["--eval-scenes", "1", "--warmup", "1", "--iters", "3", "--threads", "1"]


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory):
    """distill → export (fp32, int8) → verify → bench, through the CLI, on a tiny configuration."""
    out = tmp_path_factory.mktemp("run")
    ckpt = out / "student.safetensors"
    assert main(["distill", "--out", str(ckpt), "--steps", "4", "--scenes", "4", "--size", "64x96",
                 "--batch-size", "2", "--threads", "1", "--mixed-precision", "off"]) == 0
    assert main(["export", "--student", str(ckpt), "--out", str(out / "bundles"), "--precision", "fp32,int8",
                 "--calibration", "4"]) == 0
    assert main(["verify", "--student", str(ckpt), "--bundles", str(out / "bundles"), "--out", str(out),
                 *FAST_EVAL]) == 0
    assert main(["bench", "--student", str(ckpt), "--bundles", str(out / "bundles"), "--out", str(out),
                 *FAST_EVAL]) == 0
    return out


def test_distill_flags_reach_the_checkpoint(stage_run):
    from edgedepth.checkpoint import load_student
    from edgedepth.distill.loop import MIXED_PRECISION_CHOICES

    _, info = load_student(stage_run / "student.safetensors")
    assert info.training["config"]["mixed_precision"] == "off" and info.training["log"]["precision"] == "fp32"
    assert info.training["config"]["steps"] == 4 and info.training["config"]["input_size"] == [64, 96]
    flag = next(a for a in build_parser()._subparsers._group_actions[0].choices["distill"]._actions
                if "--mixed-precision" in a.option_strings)
    assert tuple(flag.choices) == MIXED_PRECISION_CHOICES


def test_report_has_reference_rows_and_ok_artifacts(stage_run):
    report = json.loads((stage_run / "report.json").read_text())
    rows = {row["artifact"]: row for row in report["rows"]}
    assert set(rows) == {"teacher:sgbm", "student:torch-fp32", "onnx-fp32", "onnx-int8", "baseline: constant",
                         "baseline: top-to-bottom gradient"}
    assert rows["teacher:sgbm"]["reference"] and rows["student:torch-fp32"]["reference"]
    for name in ("onnx-fp32", "onnx-int8"):
        row = rows[name]
        assert row["status"] == "ok", row
        assert row["latency_ms"]["p50"] > 0 and row["latency_ms"]["p99"] >= row["latency_ms"]["p50"]
        assert row["fps"] == pytest.approx(1000 / row["latency_ms"]["p50"], rel=0.01)
        assert row["size_mb"] > 0 and row["threads"] == 1
        assert row["fidelity"]["vs"] == "student-fp32"
        assert set(row["accuracy"]) == {"middlebury-motorcycle", "procedural-heldout"}
        student_delta1 = rows["student:torch-fp32"]["accuracy"]["middlebury-motorcycle"]["delta1"]
        motorcycle = row["accuracy"]["middlebury-motorcycle"]
        assert motorcycle["delta1_drop"] == pytest.approx(student_delta1 - motorcycle["delta1"])
        assert 0.0 <= row["vs_teacher"]["delta1"] <= 1.0
    assert rows["onnx-fp32"]["fidelity"]["max_abs_rel"] <= 1e-4
    teacher_acc = rows["teacher:sgbm"]["accuracy"]["middlebury-motorcycle"]
    assert 0.5 < teacher_acc["coverage"] <= 1.0 and teacher_acc["bad2"] < 50
    assert report["machine"]["threads"] == 1
    assert report["datasets"]["middlebury-motorcycle"]["samples"] == 1


def test_report_md_and_pictures_are_written(stage_run):
    text = (stage_run / "report.md").read_text()
    assert "onnx-int8" in text and "teacher:sgbm" in text
    report = json.loads((stage_run / "report.json").read_text())
    assert len(report["pictures"]) == 2
    for rel in report["pictures"]:
        data = (stage_run / rel).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_verify_refuses_existing_report(stage_run, capsys):
    code = main(["verify", "--student", str(stage_run / "student.safetensors"), "--bundles",
                 str(stage_run / "bundles"), "--out", str(stage_run), *FAST_EVAL])
    err = capsys.readouterr().err
    assert code == 2 and "--force" in err and err.count("\n") == 1


def test_tampered_bundle_fails_verify_with_one_line(stage_run, tmp_path, capsys):
    bundles = tmp_path / "bundles"
    shutil.copytree(stage_run / "bundles", bundles)
    with open(bundles / "onnx-int8" / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    code = main(["verify", "--student", str(stage_run / "student.safetensors"), "--bundles", str(bundles),
                 "--out", str(tmp_path / "r"), *FAST_EVAL])
    err = capsys.readouterr().err
    assert code == 2 and "sha256" in err and err.count("\n") == 1


@pytest.mark.parametrize("payload", [None, b"garbage" * 10])
def test_missing_or_corrupt_checkpoint(tmp_path, capsys, payload):
    ckpt = tmp_path / "student.safetensors"
    if payload is not None:
        ckpt.write_bytes(payload)
    code = main(["export", "--student", str(ckpt), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("edgedepth: error:") and err.count("\n") == 1
    assert not (tmp_path / "b" / "onnx-fp32").exists()


def test_demo_refuses_a_directory_with_a_run(tmp_path, capsys):
    (tmp_path / "report.json").write_text("{}")
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "report.json").read_text() == "{}"


def test_console_script_help_and_exit_code(tmp_path):
    exe = Path(sys.executable).parent / "edgedepth"
    help_text = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    for verb in ("demo", "distill", "export", "quantize", "verify", "bench"):
        assert verb in help_text
    done = subprocess.run([str(exe), "quantize", "--bundle", str(tmp_path), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_demo_chain_writes_a_complete_run(tmp_path):
    """run_demo on a tiny configuration: every stage's files land in --out, nothing is left half-written."""
    from edgedepth.distill.config import DistillConfig
    from edgedepth.stages.demo import DemoConfig, run_demo
    from edgedepth.stages.measure import EvalConfig

    config = DemoConfig(training=DistillConfig(input_size=(64, 96), scenes=4, steps=3, batch_size=2, threads=1),
                        evaluation=EvalConfig(procedural_scenes=1, threads=1, warmup=1, iters=3),
                        calibration_samples=2, exports={"onnx": ["fp32", "int8"], "tensorrt": ["int8"]})
    out = tmp_path / "demo"
    report = run_demo(out, config, progress=False)
    for rel in ("report.json", "report.md", "student.safetensors", "bundles/onnx-fp32/manifest.json",
                "bundles/onnx-int8/model.onnx", *report["pictures"]):
        assert (out / rel).is_file(), rel
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # the temporary build directory is gone
    assert report["reference"]["student"]["checkpoint"] == str(out / "student.safetensors")
    rows = {row["artifact"]: row for row in report["rows"]}
    assert rows["onnx-int8"]["status"] == "ok" and rows["onnx-int8"]["speedup_vs_student"] > 0
    from runtime.runners.tensorrt import TensorRTRunner

    if TensorRTRunner.available()[0]:
        assert rows["tensorrt-int8"]["status"] == "ok" and "accelerator" in rows["tensorrt-int8"]
    else:  # skipped with the reason, and an emulation row measures the numerics
        assert rows["tensorrt-int8"]["status"] == "skipped" and "tensorrt" in rows["tensorrt-int8"]["reason"]
        emulated = rows["tensorrt-int8 (tensorrt-emulation)"]
        assert emulated["status"] == "ok" and "psnr_db" in emulated["fidelity"] and "fps" not in emulated
    assert report["stages"]["distill"]["config"]["steps"] == 3
