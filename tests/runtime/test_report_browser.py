"""The HTML report as a person sees it: rendered by headless Chromium in a 1400-px-wide window, it must not
scroll sideways, and its accuracy-against-FPS plot must load. `.ci/run` installs Debian's chromium, and there
(EDGEDEPTH_REQUIRE_BROWSER=1) a missing browser fails the test instead of skipping it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from runtime.host.report import write_report
from tests.runtime.test_report import baseline_report

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
PROBE = """<script>window.addEventListener("load", () => {
  const plot = document.querySelector("img.plot");
  document.body.setAttribute("data-probe", JSON.stringify({
    scroll: document.documentElement.scrollWidth, window: window.innerWidth,
    plot: plot ? plot.complete && plot.naturalWidth : 0}));
});</script>"""


def _browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        if os.environ.get("EDGEDEPTH_REQUIRE_BROWSER") == "1":
            pytest.fail("EDGEDEPTH_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    return found


def _wide_report() -> dict:
    """The test report with as many datasets and artifacts as `edgedepth demo --formats all` writes."""
    report = baseline_report()
    template = next(r for r in report["rows"] if r["artifact"] == "onnx-int8")
    for name in ("onnx-fp16", "onnx-int8-nncf", "tflite-fp32", "tflite-fp16", "tflite-int8-dynamic",
                 "openvino-fp32", "openvino-int8", "coreml-palettized-6bit"):
        report["rows"].append({**template, "artifact": name, "fps": 100.0 + len(report["rows"]) * 7})
    for row in report["rows"]:
        for extra in ("procedural-classic", "images-holdout"):
            if "accuracy" in row and "procedural" in row["accuracy"]:
                row["accuracy"][extra] = dict(row["accuracy"]["procedural"])
    report["datasets"].update({"procedural-classic": {"samples": 8}, "images-holdout": {"samples": 4}})
    return report


def test_report_fits_1400_px_and_shows_the_plot(tmp_path):
    browser = _browser()
    write_report(tmp_path, _wide_report())
    html = (tmp_path / "report.html").read_text()
    (tmp_path / "probe.html").write_text(html.replace("</body>", PROBE + "</body>"))
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                           "--virtual-time-budget=5000", "--dump-dom", (tmp_path / "probe.html").as_uri()],
                          capture_output=True, text=True, timeout=180)
    match = re.search(r'data-probe="([^"]+)"', done.stdout)
    assert match, done.stderr[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"'))
    assert probe["window"] == 1400
    assert probe["scroll"] <= probe["window"], probe  # no horizontal scrolling
    assert probe["plot"] > 0, probe  # the plot image loaded
