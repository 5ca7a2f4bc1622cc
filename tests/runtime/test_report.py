"""Contract 2 rendering: the markdown/HTML tables, strict report.json, colour maps and picture panels."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from runtime.colormap import colorize, colormap_lut
from runtime.host.panels import write_panels_png
from runtime.host.report import SANITY_LEGEND, baseline_comparison, render_markdown, summary_table, write_report
from runtime.host.report_html import render_html
from runtime.host.report_model import speed_fidelity_table


def sample_report():
    """A mono report shaped like the pipeline's: artifacts listed before the reference rows on purpose."""
    return {
        "toolkit_version": "9.9.9", "created": "2025-01-02T03:04:05+00:00",
        "machine": {"cpu": "Test CPU 3000", "cores": 4, "threads": 2, "os": "Linux"},
        "task": "mono",
        "reference": {"teacher": {"name": "sgbm"}, "student": {"checkpoint": "s.safetensors"},
                      "alignment": "least squares in inverse depth"},
        "datasets": {"motorcycle": {"samples": 1, "resolution": [500, 741]}, "procedural": {"samples": 8}},
        "rows": [
            {"artifact": "onnx-int8", "format": "onnx", "precision": "int8", "backend": "onnxruntime",
             "threads": 2, "status": "ok", "size_mb": 6.0, "latency_ms": {"p50": 5.0, "p90": 6.0, "p99": 7.5},
             "fps": 200.0, "fidelity": {"vs": "student-fp32", "psnr_db": 31.25, "max_abs_rel": 0.08,
                                        "absrel": 0.0123, "delta1": 0.99},
             "vs_teacher": {"absrel": 0.2, "delta1": 0.7},
             "accuracy": {"motorcycle": {"absrel": 0.25, "delta1": 0.6, "delta1_drop": 0.015},
                          "procedural": {"absrel": 0.1, "delta1": 0.9}}},
            {"artifact": "coreml-w8", "format": "coreml", "precision": "w8", "backend": "coreml", "threads": 2,
             "status": "skipped", "reason": "CoreML prediction needs macOS", "size_mb": 5.5,
             "export_checks": {"status": "ok", "summary": "reloads; weights: 70 int8"}},
            {"artifact": "coreml-fp16", "format": "coreml", "precision": "fp16", "backend": "coreml", "threads": 2,
             "status": "skipped", "reason": "CoreML prediction needs macOS"},
            {"artifact": "tflite-int8", "format": "tflite", "precision": "int8", "backend": "litert",
             "threads": 2, "status": "failed", "reason": "RuntimeError: kernel missing"},
            {"artifact": "teacher:sgbm", "format": "opencv", "precision": "fp32", "backend": "sgbm", "threads": 2,
             "status": "ok", "reference": True, "latency_ms": {"p50": 40.0, "p90": 41.0, "p99": 42.0},
             "fps": 25.0, "accuracy": {"motorcycle": {"absrel": 0.05, "delta1": 0.95, "bad2": 12.5,
                                                      "coverage": 0.8}}},
            {"artifact": "student:torch-fp32", "format": "torch", "precision": "fp32", "backend": "torch",
             "threads": 2, "status": "ok", "reference": True, "size_mb": 22.5,
             "latency_ms": {"p50": 20.0, "p90": 21.0, "p99": 30.0}, "fps": 50.0,
             "fidelity": {"vs": "student-fp32", "psnr_db": float("inf"), "max_abs_rel": 0.0, "absrel": 0.0,
                          "delta1": 1.0},
             "vs_teacher": {"absrel": 0.19, "delta1": 0.71}, "accuracy": {"motorcycle": {"absrel": 0.24}}},
        ],
    }


def test_summary_table_cells():
    headers, cells = summary_table(sample_report())
    assert headers == ["Artifact", "Status", "Size MB", "FPS", "Speed-up", "PSNR dB vs fp32", "δ1 vs teacher",
                       "motorcycle δ1", "procedural δ1"]  # one figure per kind: the rest is in the tables below
    rows = {line[0]: dict(zip(headers, line, strict=True)) for line in cells}
    assert [line[0] for line in cells][:2] == ["teacher:sgbm (ref)", "student:torch-fp32 (ref)"]
    student, int8 = rows["student:torch-fp32 (ref)"], rows["onnx-int8"]
    assert student["PSNR dB vs fp32"] == "∞" and student["Speed-up"] == "1.00×" and student["motorcycle δ1"] == "—"
    assert int8["Status"] == "ok" and int8["FPS"] == "200.0" and int8["Speed-up"] == "4.00×"
    assert int8["PSNR dB vs fp32"] == "31.2" and int8["δ1 vs teacher"] == "0.700" and int8["procedural δ1"] == "0.900"
    assert rows["coreml-w8"]["Status"] == "skipped, export checked" and rows["coreml-w8"]["FPS"] == "—"
    assert rows["coreml-fp16"]["Status"] == "skipped"  # skipped and never inspected: no claim
    assert rows["tflite-int8"]["Status"] == "failed" and rows["tflite-int8"]["Size MB"] == "—"
    headers, cells = speed_fidelity_table(sample_report())
    assert headers[:4] == ["Artifact", "Format", "Precision", "Backend"]
    int8 = {line[0]: dict(zip(headers, line, strict=True)) for line in cells}["onnx-int8"]
    assert int8["p50 ms"] == "5.00" and int8["p99 ms"] == "7.50" and int8["AbsRel vs fp32"] == "0.0123"
    assert int8["AbsRel vs teacher"] == "0.2000"


def test_render_markdown():
    text = render_markdown(sample_report())
    for needle in ("edgedepth 9.9.9", "2025-01-02T03:04:05+00:00", "Test CPU 3000, 4 cores", "**Threads**: 2",
                   "**Task**: mono", "teacher: name=sgbm", "motorcycle: 1 sample (500×741)", "procedural: 8 samples",
                   "coreml-w8 (skipped): CoreML prediction needs macOS",
                   "tflite-int8 (failed): RuntimeError: kernel missing", "### motorcycle", "| bad-2 % | coverage |",
                   "## Speed and fidelity, all numbers",
                   "| Artifact | Format | Precision | Backend | Size MB | p50 ms"):
        assert needle in text, needle
    assert not any(glyph in text for glyph in "✅❎❌")  # status in words: no emoji font needed
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| Artifact | Status | Size MB | FPS | Speed-up | PSNR dB vs fp32 |")
    assert table[1].startswith("| teacher:sgbm (ref) |") and table[2].startswith("| student:torch-fp32 (ref) |")
    assert len({line.count("|") for line in table[:6]}) == 1  # every row has every column


def baseline_report():
    """The sample report with sanity numbers on the models and two baseline rows, as a mono verify writes them."""
    report = sample_report()
    rows = {row["artifact"]: row for row in report["rows"]}
    rows["student:torch-fp32"]["sanity"] = {"input_dependence": 0.921, "mirror": 0.274, "samples": 8}
    rows["student:torch-fp32"]["accuracy"]["procedural"] = {"absrel": 0.3, "delta1": 0.331}
    rows["onnx-int8"]["sanity"] = {"input_dependence": 0.918, "mirror": 0.281, "samples": 8}
    report["sanity"] = {"dataset": "procedural", "samples": 8, "ground_truth_input_dependence": 0.4}
    report["rows"] += [
        {"artifact": "baseline: constant", "format": "baseline", "precision": "fp32", "backend": "numpy",
         "threads": 2, "status": "ok", "reference": True, "notes": "a constant map",
         "vs_teacher": {"absrel": 0.46, "delta1": 0.251},
         "accuracy": {"motorcycle": {"absrel": 0.23, "delta1": 0.493},
                      "procedural": {"absrel": 0.43, "delta1": 0.296}}},
        {"artifact": "baseline: top-to-bottom gradient", "format": "baseline", "precision": "fp32",
         "backend": "numpy", "threads": 2, "status": "ok", "reference": True, "notes": "nearer at the bottom",
         "vs_teacher": {"absrel": 0.39, "delta1": 0.413},
         "accuracy": {"motorcycle": {"absrel": 0.14, "delta1": 0.768}, "procedural": {"absrel": 0.35, "delta1": 0.2}}},
    ]
    return report


def test_baseline_rows_and_sanity_columns():
    headers, cells = speed_fidelity_table(baseline_report())
    assert headers[-2:] == ["Input dependence", "Mirror"]  # after the teacher columns
    names = [line[0] for line in cells]
    assert names[:4] == ["teacher:sgbm (ref)", "student:torch-fp32 (ref)", "baseline: constant",
                         "baseline: top-to-bottom gradient"]  # references first; a baseline is not an original
    rows = {line[0]: dict(zip(headers, line, strict=True)) for line in cells}
    assert (rows["student:torch-fp32 (ref)"]["Input dependence"], rows["onnx-int8"]["Mirror"]) == ("0.92", "0.28")
    assert rows["baseline: constant"]["Input dependence"] == "—" and rows["baseline: constant"]["Speed-up"] == "—"
    summary = dict(zip(*(lambda h, c: (h, c[2]))(*summary_table(baseline_report())), strict=True))
    assert summary["Artifact"] == "baseline: constant" and summary["procedural δ1"] == "0.296"
    assert "Input dependence" not in speed_fidelity_table(sample_report())[0]  # no sanity numbers, no columns
    with_photo = baseline_report()
    student = next(row for row in with_photo["rows"] if row["artifact"] == "student:torch-fp32")
    student["sanity"].update(position_prior=0.712, position_photo="middlebury-motorcycle")
    headers, cells = speed_fidelity_table(with_photo)
    assert headers[-3:] == ["Input dependence", "Mirror", "Position prior"]
    rows = {line[0]: dict(zip(headers, line, strict=True)) for line in cells}
    assert (rows["student:torch-fp32 (ref)"]["Position prior"], rows["onnx-int8"]["Position prior"]) == ("0.71", "—")


def test_what_the_student_beats():
    headers, cells, verdicts = baseline_comparison(baseline_report())
    assert headers == ["Row", "δ1 vs teacher", "motorcycle δ1", "procedural δ1", "Input dependence", "Mirror"]
    # the torch student, the baselines, then the artifacts that ran (skipped and failed rows are left out)
    assert [line[0] for line in cells] == ["student:torch-fp32", "baseline: constant",
                                           "baseline: top-to-bottom gradient", "onnx-int8"]
    assert cells[0] == ["student:torch-fp32", "0.710", "—", "0.331", "0.92", "0.27"]
    assert verdicts == [
        "δ1 vs teacher: student:torch-fp32 0.710, best baseline 0.413 (baseline: top-to-bottom gradient): +0.297, "
        "beats it",
        "δ1 procedural: student:torch-fp32 0.331, best baseline 0.296 (baseline: constant): +0.035, beats it"]
    text = render_markdown(baseline_report())
    section = text.split("## What the student beats")[1].split("## ")[0]
    assert "| baseline: constant | 0.251 | 0.493 | 0.296 | — | — |" in section
    assert "- baseline: top-to-bottom gradient: nearer at the bottom" in section
    assert SANITY_LEGEND in section and "8 samples of procedural" in section
    assert "the ground truth's own input dependence there: 0.40" in section
    assert SANITY_LEGEND in text.split("## What the student beats")[0]  # in the summary legend too (and the HTML)
    assert "What the student beats" not in render_markdown(sample_report())
    page = render_html(baseline_report())
    beats = page.split("<h2>What the student beats</h2>")[1].split("<h2>")[0]
    assert "<td>baseline: constant</td>" in beats and "beats it</li>" in beats and "8 samples of procedural" in beats
    assert "What the student beats" not in render_html(sample_report())
    losing = baseline_report()
    losing["rows"][-1]["accuracy"]["procedural"]["delta1"] = 0.5
    assert baseline_comparison(losing)[2][-1].endswith("(baseline: top-to-bottom gradient): -0.169, does not beat it")
    losing["rows"][-1]["accuracy"]["procedural"]["delta1"] = 0.33104  # equal at the table's precision
    assert baseline_comparison(losing)[2][-1].endswith("+0.000, ties it")


def test_stereo_columns():
    report = {"task": "stereo", "rows": [{"artifact": "s", "status": "ok", "vs_teacher": {"epe": 1.234, "bad2": 7.5},
                                          "accuracy": {"kitti": {"epe": 0.9, "bad2": 3.25, "d1": 2.0}}}]}
    headers, cells = summary_table(report)
    row = dict(zip(headers, cells[0], strict=True))
    assert (row["bad-2 % vs teacher"], row["kitti bad-2 %"]) == ("7.5", "3.2") and "kitti EPE" not in row
    headers, cells = speed_fidelity_table(report)
    assert dict(zip(headers, cells[0], strict=True))["EPE vs teacher"] == "1.23"


def test_write_report_is_strict_json(tmp_path):
    report = sample_report()
    report["rows"][0]["fidelity"]["delta1"] = float("nan")
    write_report(tmp_path / "out", report)
    text = (tmp_path / "out" / "report.json").read_text()
    loaded = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    rows = {row["artifact"]: row for row in loaded["rows"]}
    assert rows["student:torch-fp32"]["fidelity"]["psnr_db"] == "inf"
    assert rows["onnx-int8"]["fidelity"]["delta1"] is None
    assert math.isinf(float(rows["student:torch-fp32"]["fidelity"]["psnr_db"]))
    assert render_markdown(loaded) == (tmp_path / "out" / "report.md").read_text()  # same table after a round trip
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<td>onnx-int8</td>" in html and "∞" in html
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["accuracy_fps.png", "report.html", "report.json",
                                                                    "report.md"]
    assert loaded["plot"] == "accuracy_fps.png" and 'src="accuracy_fps.png"' in html
    assert "![accuracy against FPS](accuracy_fps.png)" in (tmp_path / "out" / "report.md").read_text()


def test_colorize():
    ramp = np.linspace(0.0, 1.0, 256).reshape(16, 16)
    image = colorize(ramp)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image.reshape(-1, 3), colormap_lut("turbo"))
    turbo = colormap_lut("turbo").astype(int)
    # turbo runs from dark blue through green to dark red
    assert turbo[25][2] > 200 > turbo[25][0] and turbo[128][1] > 200 and turbo[230][0] > 150 > turbo[230][1]
    assert turbo[0].max() < 60 and turbo[255].max() < 160  # both ends are dark
    clipped = colorize(np.array([[-5.0, 0.0, 0.5, 1.0, 9.0, np.nan]]), vmin=0.0, vmax=1.0)
    np.testing.assert_array_equal(clipped[0, 0], clipped[0, 1])
    np.testing.assert_array_equal(clipped[0, 4], clipped[0, 3])
    np.testing.assert_array_equal(clipped[0, 5], [0, 0, 0])
    magma = colormap_lut("magma")
    assert magma[0].max() < 10 and magma[-1].min() > 180  # near-black to pale yellow
    assert np.all(np.diff(magma.astype(int).sum(axis=1)) >= -2)  # brightness rises along the map
    assert colorize(np.full((3, 3), 2.0)).shape == (3, 3, 3)
    with pytest.raises(ValueError, match="unknown colormap"):
        colorize(ramp, cmap="rainbow")


def test_write_panels_png(tmp_path):
    ramp = colorize(np.linspace(0, 1, 40 * 60).reshape(40, 60))
    gray = np.full((30, 50), 128, np.uint8)
    panels = [("input", ramp), ("depth (a very long caption that cannot fit)", gray), ("third", ramp)]
    path = tmp_path / "pictures" / "panels.png"
    write_panels_png(path, panels, columns=2)
    with Image.open(path) as png:
        assert png.format == "PNG" and png.mode == "RGB"
        width, height = png.size
        pixels = np.asarray(png)
    assert width == 2 * 60 + 3 * 6 and 2 * 40 < height < 2 * 40 + 80  # two columns, two rows with captions
    assert (pixels == ramp[0, 0]).all(axis=-1).any()  # the panel itself is pasted unchanged
    assert [p.name for p in path.parent.iterdir()] == ["panels.png"]
    with pytest.raises(ValueError, match="uint8"):
        write_panels_png(path, [("float", np.zeros((4, 4, 3)))])
    with pytest.raises(ValueError, match="at least one panel"):
        write_panels_png(path, [])


def test_a_value_that_rounds_to_zero_prints_without_a_sign():
    from runtime.rows import format_value

    assert format_value(-0.0002, "delta") == "0.000"
    assert format_value(-0.0012, "delta") == "-0.001"
    assert format_value(0.0004, "delta") == "0.000"
    assert format_value(-0.001, "speedup") == "0.00×"
