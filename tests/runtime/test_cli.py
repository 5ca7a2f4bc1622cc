"""`python -m runtime` in a subprocess, as a device would run it: info, bench, and one-line failures."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import make_onnx_bundle

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "runtime", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)


def test_info_verifies_and_summarises(tmp_path):
    bundle = make_onnx_bundle(tmp_path / "tiny")
    result = run_cli("info", bundle.path)
    assert result.returncode == 0, result.stderr
    assert "tiny-onnx" in result.stdout and "format onnx · precision fp32 · task mono" in result.stdout
    assert "input  image: [1, 3, 8, 12] float32 NCHW" in result.stdout and "sha256 verified" in result.stdout


def test_bench_writes_latency_and_machine(tmp_path):
    first = make_onnx_bundle(tmp_path / "a", name="tiny-a")
    second = make_onnx_bundle(tmp_path / "b", name="tiny-b")
    out = tmp_path / "bench.json"
    result = run_cli("bench", first.path, second.path, "--threads", 1, "--warmup", 2, "--iters", 5, "--json", out)
    assert result.returncode == 0, result.stderr
    assert "tiny-a" in result.stdout and "onnxruntime" in result.stdout and f"wrote {out}" in result.stdout
    data = json.loads(out.read_text())
    assert data["machine"]["threads"] == 1 and data["settings"]["iters"] == 5
    for row in data["rows"]:
        assert row["status"] == "ok" and row["backend"] == "onnxruntime" and row["timed_runs"] == 5
        latency = row["latency_ms"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"]
        assert abs(row["fps"] - 1000 / latency["p50"]) / row["fps"] < 0.01
    alone = run_cli("bench", first.path, "--iters", 2, "--warmup", 0, "--json", "-")
    assert alone.returncode == 0 and json.loads(alone.stdout)["rows"][0]["artifact"] == "tiny-a"


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    bundle = make_onnx_bundle(tmp_path / "tiny")
    with open(bundle.model_path, "ab") as handle:
        handle.write(b"\0")
    for args, needle in ((("bench", bundle.path), "model.onnx sha256 mismatch"),
                         (("info", tmp_path / "missing"), "no such directory"),
                         (("bench", bundle.path, "--threads", 0), "--threads"),
                         (("frobnicate",), "invalid choice")):
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert needle in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_bundle_without_a_runner_here_is_skipped(tmp_path):
    from runtime.bundle import write_manifest
    from tests.helpers import minimal_manifest

    root = tmp_path / "tvm-fp16"  # runtime ships no TVM runner
    root.mkdir()
    (root / "model.so").write_bytes(b"compiled")
    write_manifest(root, minimal_manifest(name="tvm-fp16", fmt="tvm", model_file="model.so"))
    result = run_cli("bench", root, "--iters", 2, "--json", "-")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["rows"][0]
    assert row["status"] == "skipped" and "no runner for bundle format 'tvm'" in row["reason"]
    assert "tvm-fp16: skipped: no runner" in result.stderr  # the table goes to stderr with --json -
