"""A stand-in for `adb` and an Android phone, for testing `edgedepth profile --adb` without one: an executable
script put first on PATH that records every call and answers like adb and the phone would — getprop's listing,
pushes, mkdir/chmod, and the output LiteRT's benchmark_model and inference_diff_run_eval print (replayed from
tests/data/litert/, written to the formats of tensorflow/lite/tools/benchmark/benchmark_model.cc and
tools/evaluation/tasks/inference_diff/run_eval.cc). Also a TFLite bundle small enough to push."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from runtime.bundle import write_manifest

DATA = Path(__file__).parent / "data" / "litert"

_SCRIPT = r'''#!{python} -S
"""Fake adb: records argv (JSON lines in $FAKE_ADB_LOG) and replays a phone's answers from $FAKE_ADB_DATA."""
import json, os, shlex, sys
from pathlib import Path

argv = sys.argv[1:]
with open(os.environ["FAKE_ADB_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\n")
if argv[:1] == ["-s"]:
    argv = argv[2:]
data = Path(os.environ["FAKE_ADB_DATA"])
if os.environ.get("FAKE_ADB_STATE", "device") != "device":
    sys.stderr.write("error: no devices/emulators found\n")
    sys.exit(1)
command = argv[0]
if command == "get-state":
    print("device")
elif command == "push":
    local, remote = argv[1], argv[2]
    if not Path(local).is_file():
        sys.stderr.write(f"adb: error: cannot stat '{{local}}': No such file or directory\n")
        sys.exit(1)
    print(f"{{local}}: 1 file pushed, 0 skipped. 12.3 MB/s ({{Path(local).stat().st_size}} bytes in 0.001s)")
elif command == "shell":
    words = shlex.split(" ".join(argv[1:]))
    program = words[0]
    if program == "getprop":
        print((data / "getprop.txt").read_text(), end="")
    elif program in ("mkdir", "chmod"):
        pass
    elif program.endswith("/benchmark_model"):
        gpu = "--use_gpu=true" in words
        name = os.environ.get("FAKE_ADB_BENCH") or ("benchmark_model_gpu_percentiles.txt" if gpu
                                                    else "benchmark_model_xnnpack.txt")
        print((data / name).read_text(), end="")
        sys.exit(int(os.environ.get("FAKE_ADB_BENCH_EXIT", "0")))
    elif program.endswith("/inference_diff_run_eval"):
        print((data / "inference_diff_gpu.txt").read_text(), end="")
    else:
        sys.stderr.write(f"/system/bin/sh: {{program}}: inaccessible or not found\n")
        sys.exit(127)
else:
    sys.stderr.write(f"adb: unknown command {{command}}\n")
    sys.exit(1)
'''


def install_fake_adb(tmp_path: Path, monkeypatch, **env: str) -> Path:
    """Put the fake adb first on PATH (FAKE_ADB_* settings from `env`); returns the file its calls go to."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(_SCRIPT.format(python=sys.executable))
    adb.chmod(0o755)
    log = tmp_path / "adb-calls.jsonl"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    monkeypatch.setenv("FAKE_ADB_DATA", str(DATA))
    for key, value in env.items():
        monkeypatch.setenv(f"FAKE_ADB_{key.upper()}", value)
    return log


def adb_calls(log: Path) -> list[list[str]]:
    """Every argv the fake adb was called with, in order."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def tiny_bundle(root: Path, name: str = "tflite-fp32", fmt: str = "tflite", model: bytes = b"TFL3 tiny") -> Path:
    """A sealed bundle whose model file is a few bytes: enough for a command that only pushes the file."""
    root.mkdir(parents=True)
    model_file = {"tflite": "model.tflite", "onnx": "model.onnx"}[fmt]
    (root / model_file).write_bytes(model)
    write_manifest(root, {
        "name": name, "task": "mono", "format": fmt, "precision": "fp32",
        "inputs": [{"name": "image", "shape": [1, 3, 8, 8], "dtype": "float32", "layout": "NCHW",
                    "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "scale": 1 / 255}}],
        "outputs": [{"name": "depth", "shape": [1, 8, 8], "dtype": "float32", "kind": "relative_inverse_depth"}],
        "source": {"model": "tiny", "teacher": {"name": "none"}, "checkpoint_sha256": "0" * 64,
                   "calibration_sha256": None, "toolkit_version": "0.0.0"},
    })
    return root


def fake_tool(tmp_path: Path, name: str) -> Path:
    """A file standing in for a LiteRT binary built for the phone (the fake adb only pushes it)."""
    path = tmp_path / name
    path.write_bytes(b"\x7fELF fake " + name.encode())
    return path
