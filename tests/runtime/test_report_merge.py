"""`edgedepth report --merge`: a phone's device.json (from `edgedepth profile --adb` against the fake adb) and a
`python -m runtime bench --json` file go into an existing report beside the host's numbers, re-merging replaces
rather than duplicates, and bad input is one line that leaves the report as it was."""

from __future__ import annotations

import json

import pytest

from edgedepth.cli import main
from runtime.host.report import write_report
from runtime.host.report_merge import DEVICE_ROWS
from tests.fake_adb import fake_tool, install_fake_adb, tiny_bundle

HOST_FPS = 41.5


def _report_dir(tmp_path):
    """A report as verify + bench leave it: the torch student and a TFLite artifact timed on the host."""
    out = tmp_path / "run"
    rows = [{"artifact": "student:torch-fp32", "format": "torch", "precision": "fp32", "backend": "torch",
             "threads": 2, "status": "ok", "reference": True, "fps": 20.0, "latency_ms": {"p50": 50.0}},
            {"artifact": "tflite-fp32", "format": "tflite", "precision": "fp32", "backend": "litert", "threads": 2,
             "status": "ok", "fps": HOST_FPS, "latency_ms": {"p50": 1000 / HOST_FPS}}]
    write_report(out, {"toolkit_version": "test", "created": "2025-01-01T00:00:00+00:00", "task": "mono",
                       "machine": {"cpu": "host cpu", "cores": 2, "threads": 2}, "rows": rows})
    return out


def _phone_json(tmp_path, monkeypatch) -> str:
    install_fake_adb(tmp_path, monkeypatch)
    bundle = tiny_bundle(tmp_path / "bundles" / "tflite-fp32")
    args = ["profile", "--adb", "R5CT", str(bundle), "--benchmark-binary", str(fake_tool(tmp_path, "benchmark_model")),
            "--out", str(tmp_path / "phone"), "--delegate", "xnnpack,gpu"]
    assert main(args) == 0
    return str(tmp_path / "phone" / "device.json")


def _bench_json(tmp_path) -> str:
    """`python -m runtime bench --json` of a one-node ONNX bundle on this machine."""
    pytest.importorskip("onnxruntime")
    import onnx
    from onnx import TensorProto, helper

    from runtime.__main__ import main as runtime_main

    graph = helper.make_graph([helper.make_node("ReduceMean", ["image"], ["depth"], axes=[1], keepdims=0)], "mean",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 8, 8])])
    bundle = tiny_bundle(tmp_path / "bundles" / "onnx-fp32", "onnx-fp32", fmt="onnx",
                         model=helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                                 ir_version=8).SerializeToString())
    onnx.checker.check_model(str(bundle / "model.onnx"))
    target = tmp_path / "pi.json"
    assert runtime_main(["bench", str(bundle), "--json", str(target), "--warmup", "1", "--iters", "3"]) == 0
    return str(target)


def test_device_rows_are_merged_beside_the_host_numbers(tmp_path, monkeypatch, capsys):
    out = _report_dir(tmp_path)
    phone, bench = _phone_json(tmp_path, monkeypatch), _bench_json(tmp_path)
    host_rows = json.loads((out / "report.json").read_text())["rows"]
    assert main(["report", "--merge", phone, "--merge", bench, "--out", str(out)]) == 0
    assert "2 row(s) from Google Pixel 7" in capsys.readouterr().out

    report = json.loads((out / "report.json").read_text())
    assert report["rows"] == host_rows  # the host's tables, plot and gates see what they saw before
    merged = report[DEVICE_ROWS]
    assert [(r["device"]["name"], r["artifact"], r["backend"]) for r in merged][:2] == [
        ("Google Pixel 7", "tflite-fp32", "litert benchmark_model (xnnpack)"),
        ("Google Pixel 7", "tflite-fp32", "litert benchmark_model (gpu)")]
    assert merged[0]["device"]["machine"]["soc"] == "GS201" and merged[0]["fps"] == pytest.approx(17.54)
    pi = merged[2]
    assert pi["artifact"] == "onnx-fp32" and pi["device"]["machine"]["cpu"] == pi["device"]["name"]
    assert pi["status"] == "ok" and pi["fps"] > 0

    markdown = (out / "report.md").read_text()
    section = markdown.split("## Measured on devices")[1].split("\n## ")[0]
    line = next(x for x in section.splitlines() if "(gpu)" in x)
    assert "Google Pixel 7" in line and "15.50" in line and "64.5" in line and f"{HOST_FPS:.1f}" in line
    assert "Google Pixel 7: GS201, Android 14, arm64-v8a" in section and "onnx-fp32" in section
    html = (out / "report.html").read_text()
    assert "<h2>Measured on devices</h2>" in html and "Google Pixel 7" in html


def test_merging_a_device_again_replaces_its_rows(tmp_path, monkeypatch, capsys):
    out = _report_dir(tmp_path)
    phone = _phone_json(tmp_path, monkeypatch)
    assert main(["report", "--merge", phone, "--out", str(out)]) == 0
    assert main(["report", "--merge", phone, "--out", str(out)]) == 0
    assert "(2 replaced)" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert len(report[DEVICE_ROWS]) == 2
    assert (out / "report.md").read_text().count("litert benchmark_model (xnnpack)") == 1


@pytest.mark.parametrize("case, expected", [
    ("bad json", "is not valid JSON"),
    ("not a device file", "is not a device's results"),
    ("a report", "reference row"),
    ("missing file", "no such file"),
    ("no report", "no report at"),
])
def test_bad_input_is_one_line_and_leaves_the_report_alone(tmp_path, case, expected, capsys):
    out = _report_dir(tmp_path)
    merge = tmp_path / "device.json"
    if case == "bad json":
        merge.write_text('{"machine": {}, "rows": [')
    elif case == "not a device file":
        merge.write_text('{"rows": []}')
    elif case == "a report":
        merge = out / "report.json"
    elif case == "no report":
        merge.write_text('{"machine": {"cpu": "x"}, "rows": []}')
        out = tmp_path / "elsewhere"
    before = {p.name: p.read_bytes() for p in out.glob("report.*")}
    assert main(["report", "--merge", str(merge), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgedepth: error:") and "\n" not in err and expected in err, err
    assert {p.name: p.read_bytes() for p in out.glob("report.*")} == before
