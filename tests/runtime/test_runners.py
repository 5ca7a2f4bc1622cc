"""Runners, registry, bench and verify on a tiny ONNX model built here (Conv → Relu → Resize → Squeeze),
checked against the same computation in numpy; plus the rule that runtime never imports torch or edgedepth."""

import os
import subprocess
import sys

import numpy as np
import pytest

from runtime.bench import latency_stats, machine_info, set_thread_env, time_callable
from runtime.bundle import BundleError, load_bundle
from runtime.compare import check_tolerance, compare_outputs, compare_runners
from runtime.runners.base import Runner, check_inputs, shape_matches
from runtime.runners.onnxruntime import OnnxRuntimeRunner
from runtime.runners.registry import get_runner, list_runners, runner_for_format
from tests.helpers import RNG, H, W, make_onnx_bundle, numpy_reference


@pytest.fixture
def bundle(tmp_path):
    return make_onnx_bundle(tmp_path / "tiny-onnx")


def test_registry():
    assert "onnxruntime" in list_runners()
    assert runner_for_format("onnx") is OnnxRuntimeRunner is get_runner("onnxruntime")
    assert OnnxRuntimeRunner.available() == (True, "")
    for call, match in ((lambda: runner_for_format("pytorch"), "no runner for bundle format 'pytorch'"),
                        (lambda: get_runner("tensorflow"), "unknown runner 'tensorflow'")):
        with pytest.raises(ValueError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_unavailable_backend_says_why():
    class Missing(Runner):
        name, formats, requires = "missing", ("nothing",), ("a_module_that_is_not_installed",)

        def load(self, bundle, threads=1):
            raise AssertionError

        def infer(self, inputs):
            raise AssertionError

    ok, reason = Missing.available()
    assert not ok and "a_module_that_is_not_installed" in reason and "\n" not in reason


def test_onnxruntime_matches_numpy(bundle, monkeypatch):
    monkeypatch.delenv("EDGEDEPTH_MAX_THREADS", raising=False)  # the runner's own count, no cap
    x = RNG.normal(size=(1, 3, H, W)).astype(np.float32)
    with OnnxRuntimeRunner() as runner:
        runner.load(bundle, threads=2)
        assert runner.init_ms > 0
        options = runner.session.get_session_options()
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
        assert runner.session.get_providers() == ["CPUExecutionProvider"]
        out = runner.infer({"image": x})
    assert list(out) == ["depth"] and out["depth"].shape == (1, 2 * H, 2 * W)
    np.testing.assert_allclose(out["depth"], numpy_reference(x), rtol=1e-5, atol=1e-5)
    assert runner.session is None  # closed by the context manager


@pytest.mark.parametrize("feed, match", [
    ({"img": np.zeros((1, 3, H, W), np.float32)}, "unexpected input 'img'"),
    ({}, "missing input 'image'"),
    ({"image": np.zeros((1, 3, H + 1, W), np.float32)}, r"shape \[1, 3, 9, 12\], the bundle takes \[1, 3, 8,"),
    ({"image": np.zeros((1, 3, H, W), np.float64)}, "dtype float64, the bundle takes float32"),
])
def test_bad_feeds_are_one_line_errors(bundle, feed, match):
    with OnnxRuntimeRunner() as runner:
        runner.load(bundle, 1)
        with pytest.raises(ValueError, match=match) as info:
            runner.infer(feed)
    assert "\n" not in str(info.value)


def test_runner_template_guards_every_backend(bundle, monkeypatch):
    monkeypatch.delenv("EDGEDEPTH_MAX_THREADS", raising=False)
    """infer before load, after close, and a bad feed never reach a backend's infer_impl."""
    calls = []

    class Probe(Runner):
        name, formats = "probe", ("onnx",)

        def load_impl(self, bundle, threads):
            calls.append(("load", threads))

        def infer_impl(self, feed):
            calls.append(("infer", sorted(feed)))
            return {"depth": np.zeros((1, 2 * H, 2 * W), np.float32)}

    runner = Probe()
    with pytest.raises(RuntimeError, match="load"):
        runner.infer({"image": np.zeros((1, 3, H, W), np.float32)})
    with pytest.raises(ValueError, match="threads"):
        runner.load(bundle, 0)
    runner.load(bundle, 2)
    assert runner.bundle is bundle and runner.init_ms >= 0
    with pytest.raises(ValueError, match="dtype"):
        runner.infer({"image": np.zeros((1, 3, H, W), np.float64)})
    assert runner.infer({"image": np.zeros((1, 3, H, W), np.float32)})["depth"].shape == (1, 2 * H, 2 * W)
    runner.close()
    with pytest.raises(RuntimeError, match="load"):
        runner.infer({"image": np.zeros((1, 3, H, W), np.float32)})
    assert calls == [("load", 2), ("infer", ["image"])]


@pytest.mark.parametrize("shape, expected, fits", [
    ((1, 3, 4, 5), [1, 3, 4, 5], True), ((2, 3, 4, 5), ["N", 3, None, -1], True),
    ((1, 3, 4, 5), [1, 3, 4, 6], False), ((1, 3, 4), [1, 3, 4, 5], False)])
def test_one_shape_rule(shape, expected, fits):
    assert shape_matches(shape, expected) is fits


def test_check_inputs_accepts_dynamic_dims():
    specs = [{"name": "x", "shape": ["batch", 3, None, -1], "dtype": "float32"}]
    feed = check_inputs({"x": np.zeros((4, 3, 5, 6), np.float32)}, specs)
    assert feed["x"].shape == (4, 3, 5, 6)


def test_manifest_that_misnames_the_model_is_refused(tmp_path):
    stale = make_onnx_bundle(tmp_path / "stale", input_name="input", manifest_input="image")
    with pytest.raises(ValueError, match="differ from the manifest"), OnnxRuntimeRunner() as runner:
        runner.load(stale, 1)


def test_tampered_model_fails_load_bundle(bundle):
    with open(bundle.model_path, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="model.onnx sha256 mismatch"):
        load_bundle(bundle.path)


def test_verify_compares_runners(bundle):
    x = RNG.normal(size=(1, 3, H, W)).astype(np.float32)
    with OnnxRuntimeRunner() as a, OnnxRuntimeRunner() as b:
        a.load(bundle, 1)
        b.load(bundle, 2)
        worst = compare_runners(a.infer, {"ort-2-threads": b.infer}, [{"image": x}, {"image": 2 * x}])
    stats = worst["ort-2-threads"]["depth"]
    assert stats["max_abs_rel"] <= 1e-6 and stats["shape"] == [1, 2 * H, 2 * W]
    ref = numpy_reference(x)
    noisy = ref + 0.01 * (ref.max() - ref.min())
    result = compare_outputs({"depth": ref}, {"depth": noisy[0]})  # N×H×W vs H×W: compared after reshaping
    assert result["depth"]["reshaped"] and result["depth"]["max_abs_rel"] == pytest.approx(0.01, rel=1e-4)
    assert result["depth"]["psnr_db"] == pytest.approx(40.0, abs=0.01)
    assert check_tolerance(result, max_abs_rel=0.02, min_psnr_db=35) == (True, "")
    ok, reason = check_tolerance(result, max_abs_rel=0.001)
    assert not ok and reason.startswith("depth: max |Δ|/range 0.01 > 0.001")
    ok, reason = check_tolerance(compare_outputs({"depth": ref, "conf": ref}, {"depth": ref}), min_psnr_db=30)
    assert not ok and "'conf' is missing" in reason
    assert check_tolerance({"depth": {"psnr_db": "inf", "max_abs_rel": 0.0}}, 1e-6, 100.0) == (True, "")


def test_latency_stats_by_hand():
    s = latency_stats([4.0, 1.0, 10.0, 2.0, 3.0])
    assert (s["p50"], s["mean"], s["min"], s["max"], s["n"]) == (3.0, 4.0, 1.0, 10.0, 5)
    assert s["p90"] == pytest.approx(4 + 0.6 * 6)  # linear between the 4th (4) and 5th (10) values
    assert s["p99"] == pytest.approx(4 + 0.96 * 6)
    assert s["fps"] == pytest.approx(1000 / 3)
    with pytest.raises(ValueError):
        latency_stats([])


def test_time_callable_never_times_warmup():
    calls = []
    stats = time_callable(lambda: calls.append(1), warmup=3, iters=7)
    assert len(calls) == 10 and stats["n"] == 7 and stats["warmup"] == 3
    assert 0 < stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    stats = time_callable(lambda: None, warmup=0, iters=1, min_seconds=0.02)
    assert stats["n"] > 1 and stats["total_s"] >= 0.02


def test_machine_info_and_thread_env(monkeypatch):
    monkeypatch.delenv("EDGEDEPTH_MAX_THREADS", raising=False)
    info = machine_info(3)
    assert info["threads"] == 3 and info["cores"] >= 1 and info["logical_cores"] >= info["cores"]
    assert isinstance(info["cpu"], str) and info["cpu"] and info["numpy"] == np.__version__
    assert "onnxruntime" in info["backends"]
    if hasattr(os, "getloadavg"):
        assert info["load_average_1m"] >= 0
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert set_thread_env(2)["OMP_NUM_THREADS"] == "2"

    assert os.environ["OPENBLAS_NUM_THREADS"] == "2"


def test_runtime_imports_neither_torch_nor_edgedepth():
    code = ("import runtime.runners.onnxruntime, runtime.metrics, runtime.rows, runtime.gate, runtime.bench, "
            "runtime.compare, runtime.measure, runtime.preprocess, runtime.feeds, runtime.__main__; "
            "import runtime.runners.registry as r; "
            "r.runner_for_format('onnx'); import sys; "
            "assert 'torch' not in sys.modules and 'edgedepth' not in sys.modules, 'heavy import'; "
            "assert not [m for m in sys.modules if m.startswith('runtime.host')], 'host tools imported'; "
            "assert 'onnxruntime' not in sys.modules, 'backend imported eagerly'; "
            "assert 'PIL' not in sys.modules and 'cv2' not in sys.modules, 'optional import'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
