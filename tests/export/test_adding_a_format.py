"""Adding a format takes what docs/ADDING.md says and nothing else: an exporter with its precision table, a
runner, and one registry line each. The toy format here is an ONNX graph under its own file name, run by its own
runner; it goes through export (template, parity, fp32 gate), bundle loading and `edgedepth verify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgedepth.cli import main
from export.base import Exporter, ExportRequest, model_for_layout
from export.onnx import export_onnx_file
from export.precision import Precision, quantized
from export.registry import EXPORTERS, register_exporter
from runtime.bundle import Bundle, load_bundle
from runtime.runners.base import Runner
from runtime.runners.registry import RUNNERS, register_runner

pytest.importorskip("onnxruntime", reason="the toy runner runs its graph with onnxruntime")

pytestmark = pytest.mark.e2e


class ToyExporter(Exporter):
    """Step 1: the exporter and its table. fp32 by the format's own conversion, int8 by a registered quantizer."""

    format = "toy"
    model_file = "model.toy"
    table = (Precision("fp32"), quantized("ort-qdq"))
    requires = (("onnx", "onnx"),)

    def convert(self, request: ExportRequest, precision: Precision, bundle_dir: Path,
                manifest: dict[str, Any]) -> None:
        names, out_name = [s["name"] for s in manifest["inputs"]], manifest["outputs"][0]["name"]
        module = model_for_layout(request.model.eval(), request.layout)
        float_path = bundle_dir / ("model.toy" if precision.quantizer is None else "float.onnx")
        export_onnx_file(module, request.examples(), float_path, names, out_name)
        if precision.quantizer is not None:
            manifest["quantization"] = self.quantize(request, precision, float_path, bundle_dir / "model.toy")
            float_path.unlink()


class ToyRunner(Runner):
    """Step 2: the runner."""

    name = "toy-runner"
    formats = ("toy",)
    requires = ("onnxruntime",)
    loads = 0

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(bundle.model_path), options, providers=["CPUExecutionProvider"])
        type(self).loads += 1

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [spec["name"] for spec in self.bundle.outputs]
        return dict(zip(names, self.session.run(names, feed), strict=True))


@pytest.fixture
def toy_format():
    """Step 3: one registry line each (and their removal afterwards, so other tests see the builtin set)."""
    register_exporter(ToyExporter)
    register_runner(ToyRunner)
    yield
    EXPORTERS.unregister("toy")
    RUNNERS.unregister("toy-runner")


def test_a_toy_format_exports_and_verifies(toy_format, student_ckpt, tmp_path):
    bundles = tmp_path / "bundles"
    assert main(["export", "--student", str(student_ckpt), "--out", str(bundles), "--format", "toy",
                 "--precision", "all", "--calibration", "4"]) == 0
    fp32, int8 = load_bundle(bundles / "toy-fp32"), load_bundle(bundles / "toy-int8")
    assert fp32.model_path.name == "model.toy" and fp32.manifest["model_file"] == "model.toy"
    assert fp32.manifest["parity"]["max_abs_rel"] < 1e-3  # the template's fp32 gate ran through the toy runner
    assert fp32.manifest["parity"]["inputs_from"] == "synthetic"
    assert int8.manifest["parity"]["inputs_from"] == "calibration"
    assert int8.manifest["quantization"]["method"] == "onnxruntime-static-qdq"
    assert len(int8.manifest["source"]["calibration_sha256"]) == 64
    assert sorted(int8.manifest["files"]) == ["model.toy"]

    out = tmp_path / "report"
    assert main(["verify", "--student", str(student_ckpt), "--bundles", str(bundles), "--out", str(out),
                 "--eval-scenes", "2"]) == 0
    rows = {row["artifact"]: row for row in json.loads((out / "report.json").read_text())["rows"]}
    for name in ("toy-fp32", "toy-int8"):
        assert rows[name]["status"] == "ok", rows[name]
    assert rows["toy-fp32"]["fidelity"]["max_abs_rel"] <= 1e-4  # the same graph as the torch student
    assert ToyRunner.loads >= 4  # export parity and verify both ran it through the registry

    # The Runner template validated the toy runner's feeds without a line of its own.
    with ToyRunner() as runner:
        with pytest.raises(RuntimeError, match="load"):
            runner.infer({})
        runner.load(fp32, 1)
        with pytest.raises(ValueError, match="shape"):
            runner.infer({"image": np.zeros((1, 3, 8, 8), np.float32)})
