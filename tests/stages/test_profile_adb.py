"""`edgedepth profile --adb`: LiteRT benchmark_model and inference_diff output parsed as the tools print it, and
the whole command driven against a fake adb and phone (tests/fake_adb.py): what is pushed where, the flags each
delegate gets, device.json, and one-line refusals that write nothing."""

from __future__ import annotations

import json

import pytest

from edgedepth.cli import main
from runtime.errors import InputError
from runtime.host.litert_benchmark import (
    benchmark_fields,
    parse_benchmark_output,
    parse_inference_diff,
    parse_stats,
)
from tests.fake_adb import DATA, adb_calls, fake_tool, install_fake_adb, tiny_bundle

REMOTE = "/data/local/tmp/edgedepth"


def test_classic_output_gives_mean_as_p50_and_the_memory_deltas():
    measured = parse_benchmark_output((DATA / "benchmark_model_xnnpack.txt").read_text())
    assert measured["init_ms"] == pytest.approx(38.764) and measured["first_inference_ms"] == pytest.approx(88.013)
    assert measured["warmup_mean_ms"] == pytest.approx(58.1378)
    runs = measured["runs"]  # the timed runs' line, not the warm-up's (count=10) before it
    assert runs["count"] == 50 and runs["min"] == pytest.approx(55.98) and runs["max"] == pytest.approx(61.022)
    assert measured["memory_mb"] == {"init": 6.53516, "overall": 14.3672}
    fields = benchmark_fields(measured)
    assert fields["p50_source"] == "mean" and fields["latency_ms"]["p50"] == pytest.approx(57.0183)
    assert fields["fps"] == round(1000 / 57.0183, 2) and fields["timed_runs"] == 50
    assert "p5" not in fields["latency_ms"] and fields["init_ms"] == pytest.approx(38.76)


def test_percentile_output_gives_the_median_and_peak_memory():
    fields = benchmark_fields(parse_benchmark_output((DATA / "benchmark_model_gpu_percentiles.txt").read_text()))
    assert fields["p50_source"] == "median" and fields["timed_runs"] == 64
    assert fields["latency_ms"] == {"p50": 15.504, "mean": 15.6224, "min": 14.988, "max": 18.874, "std": 0.54,
                                    "p5": 15.021, "p95": 16.702}
    assert fields["memory_mb"] == {"init": 44.812, "overall": 52.129, "peak": 71.453}


def test_stats_lines_of_identical_runs_and_old_tools():
    same = parse_stats("INFO: count=5 curr=1200(all same) p5=1200 median=1200 p95=1200")
    assert same["min"] == same["max"] == same["avg"] == 1200 and same["std"] == 0 and same["count"] == 5
    old = parse_benchmark_output("count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929\n\n"
                                 "Average inference timings in us: Warmup: 83235, Init: 38467, Inference: 79760.9\n")
    assert old["inference_mean_ms"] == pytest.approx(79.7609) and old["runs"]["avg"] == pytest.approx(79.732)


def test_inference_diff_output():
    diff = parse_inference_diff((DATA / "inference_diff_gpu.txt").read_text())
    assert diff["runs"] == 20 and diff["outputs"] == [{"avg_error": 0.000412377, "std_dev": 0.000318864}]
    assert diff["reference_latency_ms"]["mean"] == pytest.approx(231.842)
    assert diff["test_latency_ms"]["mean"] == pytest.approx(16.0885)


@pytest.mark.parametrize("text", ["", (DATA / "not_benchmark_output.txt").read_text()])
def test_output_that_is_not_the_tools_is_refused(text):
    with pytest.raises(InputError, match="Inference timings"):
        parse_benchmark_output(text)
    with pytest.raises(InputError, match="OutputDiff"):
        parse_inference_diff(text)


def _profile_args(tmp_path, *extra: str) -> list[str]:
    bundle = tmp_path / "bundles" / "tflite-fp32"
    if not bundle.exists():
        tiny_bundle(bundle)
    return ["profile", "--adb", *extra, str(bundle), "--benchmark-binary", str(fake_tool(tmp_path, "benchmark_model")),
            "--out", str(tmp_path / "phone")]


def test_profile_times_each_delegate_on_the_phone(tmp_path, monkeypatch, capsys):
    log = install_fake_adb(tmp_path, monkeypatch)
    diff_tool = fake_tool(tmp_path, "inference_diff_run_eval")
    args = _profile_args(tmp_path, "emulator-5554") + ["--delegate", "xnnpack,gpu", "--inference-diff",
                                                       str(diff_tool), "--threads", "4", "--runs", "30"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "litert benchmark_model (gpu)" in printed and "wrote" in printed and "Google Pixel 7" in printed

    result = json.loads((tmp_path / "phone" / "device.json").read_text())
    machine = result["machine"]
    assert machine["name"] == "Google Pixel 7" and machine["soc"] == "GS201" and machine["os"] == "Android 14"
    assert machine["arch"] == "arm64-v8a" and machine["threads"] == 4
    xnnpack, gpu = result["rows"]
    assert (xnnpack["artifact"], xnnpack["format"], xnnpack["status"]) == ("tflite-fp32", "tflite", "ok")
    assert xnnpack["backend"] == "litert benchmark_model (xnnpack)" and xnnpack["threads"] == 4
    assert xnnpack["latency_ms"]["p50"] == pytest.approx(57.0183) and xnnpack["fps"] == pytest.approx(17.54)
    assert gpu["latency_ms"]["p50"] == pytest.approx(15.504) and gpu["memory_mb"]["peak"] == pytest.approx(71.453)
    assert gpu["output_diff"]["avg_error"] == pytest.approx(0.000412377) and gpu["output_diff"]["delegate"] == "gpu"
    assert result["settings"]["delegates"] == ["xnnpack", "gpu"] and result["settings"]["iters"] == 30

    calls = adb_calls(log)
    assert all(call[:2] == ["-s", "emulator-5554"] for call in calls)
    pushes = {call[4] for call in calls if call[2] == "push"}
    assert pushes == {f"{REMOTE}/benchmark_model", f"{REMOTE}/inference_diff_run_eval", f"{REMOTE}/tflite-fp32.tflite"}
    shells = [call[3] for call in calls if call[2] == "shell"]
    assert f"chmod +x {REMOTE}/benchmark_model" in shells
    runs = [s for s in shells if s.startswith(f"{REMOTE}/benchmark_model")]
    common = f"--graph={REMOTE}/tflite-fp32.tflite --num_threads=4 --num_runs=30 --warmup_runs=10"
    assert runs == [f"{REMOTE}/benchmark_model {common} --use_xnnpack=true",
                    f"{REMOTE}/benchmark_model {common} --use_gpu=true"]
    diffs = [s for s in shells if s.startswith(f"{REMOTE}/inference_diff_run_eval")]
    assert diffs[1] == (f"{REMOTE}/inference_diff_run_eval --model_file={REMOTE}/tflite-fp32.tflite --num_runs=20 "
                        "--num_interpreter_threads=4 --delegate=gpu")


def test_without_a_serial_the_bundle_after_adb_is_a_bundle(tmp_path, monkeypatch):
    log = install_fake_adb(tmp_path, monkeypatch)
    assert main(_profile_args(tmp_path)) == 0
    assert all(call[0] != "-s" for call in adb_calls(log))
    assert len(json.loads((tmp_path / "phone" / "device.json").read_text())["rows"]) == 1


def test_a_failed_run_is_a_failed_row_and_exit_1(tmp_path, monkeypatch, capsys):
    install_fake_adb(tmp_path, monkeypatch, bench="not_benchmark_output.txt", bench_exit="1")
    assert main(_profile_args(tmp_path)) == 1
    row = json.loads((tmp_path / "phone" / "device.json").read_text())["rows"][0]
    assert row["status"] == "failed" and "exit 1" in row["reason"]
    assert "failed tflite-fp32" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgedepth: error:") and "\n" not in err, err
    return err


def test_existing_output_is_kept_without_force(tmp_path, monkeypatch, capsys):
    install_fake_adb(tmp_path, monkeypatch)
    (tmp_path / "phone").mkdir()
    (tmp_path / "phone" / "device.json").write_text("{}")
    assert main(_profile_args(tmp_path)) == 2
    assert "--force" in _one_line_error(capsys) and (tmp_path / "phone" / "device.json").read_text() == "{}"
    assert main(_profile_args(tmp_path) + ["--force"]) == 0


@pytest.mark.parametrize("case, expected", [
    ("no adb", "adb is not on PATH"),
    ("no device", "no devices/emulators found"),
    ("unparsable", "printed no 'Inference timings in us' line"),
    ("onnx bundle", "is format onnx"),
    ("no benchmark binary", "--benchmark-binary"),
    ("unknown delegate", "unknown delegate 'tpu'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys, case, expected):
    install_fake_adb(tmp_path, monkeypatch, state="offline" if case == "no device" else "device",
                     bench="not_benchmark_output.txt" if case == "unparsable" else "")
    args = _profile_args(tmp_path)
    if case == "no adb":
        empty = tmp_path / "empty-path"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    elif case == "onnx bundle":
        args[2] = str(tiny_bundle(tmp_path / "bundles" / "onnx-fp32", "onnx-fp32", fmt="onnx"))
    elif case == "no benchmark binary":
        args[args.index("--benchmark-binary") + 1] = str(tmp_path / "missing" / "benchmark_model")
    elif case == "unknown delegate":
        args += ["--delegate", "tpu"]
    assert main(args) == 2
    assert expected in _one_line_error(capsys)
    assert not (tmp_path / "phone").exists()
