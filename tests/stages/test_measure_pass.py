"""The measuring stage is one pass: the checkpoint is read once, the teacher built once, and every bundle's runner
loaded once for both its accuracy and its latency (counted with a runner that counts its loads)."""

from __future__ import annotations

import numpy as np
import pytest

import edgedepth.stages.measure as measure_stage
import edgedepth.torch_runner as torch_runner
from edgedepth.evaluation.items import NOISE_IMAGES
from edgedepth.stages.measure import EvalConfig, latency_by_artifact, measure, merge_latency
from runtime.bundle import Bundle
from runtime.errors import one_line
from runtime.measure import Timing, measure_bundle
from runtime.runners import registry
from runtime.runners.onnxruntime import OnnxRuntimeRunner

pytest.importorskip("onnxruntime", reason="the bundles run in onnxruntime")

pytestmark = pytest.mark.slow  # exports and quantizes the session student's ONNX bundles


class CountingRunner(OnnxRuntimeRunner):
    """The ONNX runner, counting its loads per bundle and its inferences."""

    loads: dict[str, int] = {}
    calls = 0

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        type(self).loads[bundle.name] = type(self).loads.get(bundle.name, 0) + 1
        super().load_impl(bundle, threads)

    def infer_impl(self, feed):
        type(self).calls += 1
        return super().infer_impl(feed)


@pytest.fixture
def counting(monkeypatch):
    CountingRunner.loads, CountingRunner.calls = {}, 0
    registry.RUNNERS.names()  # the builtin runners first, then the stand-in over one of them
    monkeypatch.setitem(registry.RUNNERS._things, OnnxRuntimeRunner.name, CountingRunner)
    reads, builds = [], []
    real_load, real_build = torch_runner.load_student, measure_stage.build_teacher
    monkeypatch.setattr(torch_runner, "load_student", lambda path: reads.append(path) or real_load(path))
    monkeypatch.setattr(measure_stage, "build_teacher", lambda *a, **k: builds.append(a) or real_build(*a, **k))
    return reads, builds


def test_one_pass_loads_each_runner_and_the_checkpoint_once(counting, student_ckpt, onnx_bundles):
    reads, builds = counting
    config = EvalConfig(procedural_scenes=2, threads=1, warmup=1, iters=3, motorcycle_width=96)
    report = measure(student_ckpt, list(onnx_bundles), config)
    assert CountingRunner.loads == {"onnx-fp32": 1, "onnx-int8": 1}
    assert len(reads) == 1 and len(builds) == 1
    rows = {row["artifact"]: row for row in report["rows"]}
    for name in ("student:torch-fp32", "onnx-fp32", "onnx-int8"):
        row = rows[name]
        assert row["status"] == "ok", row
        # accuracy and latency from the same load
        assert 0.0 <= row["accuracy"]["procedural-heldout"]["delta1"] <= 1.0 and row["timed_runs"] == 3
        assert row["latency_ms"]["p50"] > 0 and row["fps"] > 0 and "sanity" in row
    assert rows["onnx-fp32"]["fidelity"]["max_abs_rel"] < 1e-3
    assert rows["teacher:sgbm"]["latency_ms"]["p50"] > 0 and rows["teacher:sgbm"]["accuracy"]
    assert rows["onnx-fp32"]["speedup_vs_student"] == pytest.approx(
        rows["onnx-fp32"]["fps"] / rows["student:torch-fp32"]["fps"], abs=0.01)
    # per bundle: 3 items (motorcycle + 2 scenes), 2 mirrored scenes, the noise images of the position prior,
    # 1 warm-up and 3 timed runs
    assert CountingRunner.calls == 2 * (3 + 2 + NOISE_IMAGES + 1 + 3)


def test_accuracy_and_timing_alone_and_merged(counting, student_ckpt, onnx_bundles):
    config = EvalConfig(procedural_scenes=0, threads=1, warmup=0, iters=2, motorcycle_width=96)
    accuracy = measure(student_ckpt, [onnx_bundles[0]], config, timing=False)
    timed = measure(student_ckpt, [onnx_bundles[0]], config, accuracy=False)
    assert all("latency_ms" not in row for row in accuracy["rows"])
    assert all("accuracy" not in row for row in timed["rows"]) and timed["datasets"] == {}
    latency = latency_by_artifact(timed)
    assert set(latency) == {"teacher:sgbm", "student:torch-fp32", "onnx-fp32"}
    merged = {row["artifact"]: row for row in merge_latency(accuracy, latency)["rows"]}
    assert merged["onnx-fp32"]["latency_ms"] == latency["onnx-fp32"]["latency_ms"]
    assert merged["onnx-fp32"]["accuracy"] and merged["onnx-fp32"]["speedup_vs_student"] > 0
    with pytest.raises(ValueError, match="accuracy, timing or both"):
        measure(student_ckpt, [], config, accuracy=False, timing=False)


def test_measure_bundle_turns_errors_into_rows(onnx_bundles):
    fp32 = onnx_bundles[0]
    measured = measure_bundle(fp32, 1, evaluate=lambda runner: runner.infer({"image": np.zeros((1, 3, 2, 2),
                                                                                               np.float32)}))
    assert measured.status == "failed" and measured.backend == "onnxruntime" and "shape" in measured.reason
    foreign = Bundle(fp32.path, {**fp32.manifest, "format": "nothing-runs-this"}, fp32.model_path)
    skipped = measure_bundle(foreign, 1)
    assert skipped.status == "skipped" and "no runner for bundle format" in skipped.reason
    timed = measure_bundle(fp32, 1, feed=lambda b: {"image": np.zeros(b.inputs[0]["shape"], np.float32)},
                           timing=Timing(warmup=0, iters=4))
    assert timed.ok and timed.latency["n"] == 4 and set(timed.latency_fields()) == {"latency_ms", "fps",
                                                                                    "timed_runs", "init_ms"}
    # the whole message on one line: backends put the useful part after the first line break
    assert one_line(ValueError("bad shape for the following indices\n index: 2 Got: 64 Expected: 128")) == \
        "ValueError: bad shape for the following indices index: 2 Got: 64 Expected: 128"
    assert one_line(ValueError("x" * 2000)).endswith("…") and len(one_line(ValueError("x" * 2000))) < 1020
