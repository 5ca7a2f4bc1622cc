"""TensorRT bundles: ONNX made for TensorRT's rules (symmetric int8 Q/DQ, per-channel weights, float bias, static
shapes), the rule checker, build_engine.sh, the runner's skip here, and the onnxruntime emulation rows."""

from __future__ import annotations

import os
import stat
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from edgedepth.checkpoint import checkpoint_sha256, load_student
from edgedepth.data.calibration import calibration_inputs
from edgedepth.stages.measure import EvalConfig, measure
from export.base import ExportRequest
from export.parity import parity_inputs
from export.registry import get_exporter
from quantize.onnxruntime_qdq import quantize_onnx_qdq
from quantize.registry import get_method
from runtime.bundle import load_bundle
from runtime.host.report import render_markdown
from runtime.host.tensorrt_rules import TensorRTRuleViolation, check_model, require_tensorrt_rules
from runtime.measure import measure_bundle
from runtime.metrics import agreement
from runtime.runners.registry import emulation_for_format, runner_for_format
from runtime.runners.tensorrt import TensorRTRunner
from runtime.runners.tensorrt_emulation import TensorRTEmulationRunner
from tests.helpers import make_student, tiny_onnx_model

pytestmark = pytest.mark.slow

SIZE = (64, 96)
PRECISIONS = ("fp32", "fp16", "int8")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_student(tmp_path_factory.mktemp("trt-student") / "s.safetensors", size=SIZE)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, checkpoint):
    """One TensorRT bundle per precision, calibrated like every other int8 format."""
    model, info = load_student(checkpoint)
    request = ExportRequest(model, info, checkpoint_sha256(checkpoint), "spec")
    calibration = calibration_inputs(request.input_specs()[0], 8, seed=0)
    out = tmp_path_factory.mktemp("trt-bundles")
    exporter = get_exporter("tensorrt")
    return {p: exporter.export(ExportRequest(model, info, request.checkpoint_sha256, f"tensorrt-{p}", precision=p,
                                             calibration=calibration), out) for p in PRECISIONS}


def _run(runner_cls, bundle, x):
    with runner_cls() as runner:
        runner.load(bundle, 1)
        return runner.infer({"image": x})["depth"]


def test_int8_graph_is_symmetric_per_channel_with_float_bias(bundles):
    model = onnx.load(str(bundles["int8"].model_path))
    inits = {i.name: i for i in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert len(qdq) > 100
    for node in qdq:
        zero_point = inits[node.input[2]]
        assert zero_point.data_type == TensorProto.INT8 and not numpy_helper.to_array(zero_point).any(), node.name
    producers = {out: n for n in model.graph.node for out in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    quantized = [n for n in convs if producers.get(n.input[1]) is not None]
    assert len(quantized) == len(convs) - 1  # the 1-channel output head stays float
    for conv in quantized:
        dq = producers[conv.input[1]]
        scale = numpy_helper.to_array(inits[dq.input[1]])
        assert scale.size == inits[dq.input[0]].dims[0] > 0, conv.name  # one scale per output channel
        assert len(conv.input) < 3 or conv.input[2] in inits  # the bias is a float initializer, no DQ
    report = check_model(model)
    assert report.violations == []
    assert report.counts["residual_adds"] > 0
    assert report.counts["residual_adds_quantized"] == report.counts["residual_adds"]
    entry = bundles["int8"].manifest["quantization"]
    assert entry["activations"].startswith("int8 per-tensor symmetric") and "not quantized" in entry["bias"]


def test_every_precision_is_static_and_passes_the_rules(bundles):
    for precision, bundle in bundles.items():
        model = onnx.load(str(bundle.model_path))
        assert check_model(model).violations == [], precision
        for value in [*model.graph.input, *model.graph.output]:
            assert value.type.tensor_type.elem_type == TensorProto.FLOAT  # float32 I/O, fp16 included
            assert all(d.dim_value > 0 for d in value.type.tensor_type.shape.dim)
        assert bundle.manifest["checks"]["summary"].startswith("TensorRT rules hold")
        assert bundle.manifest["model_file"] == "model.onnx" and bundle.manifest["opset"] >= 13
    fp16 = onnx.load(str(bundles["fp16"].model_path))
    kinds = {i.data_type for i in fp16.graph.initializer if len(i.dims) == 4}
    assert kinds == {TensorProto.FLOAT16}


def test_build_script_is_in_the_bundle_and_sealed(bundles, tmp_path):
    for precision, bundle in bundles.items():
        script = bundle.path / "build_engine.sh"
        assert "build_engine.sh" in bundle.manifest["files"]
        assert script.stat().st_mode & stat.S_IXUSR
        text = script.read_text()
        assert "--onnx=model.onnx" in text and "--saveEngine=" in text and "--stronglyTyped" in text
        assert "--memPoolSize=workspace:" in text and "--useDLACore=" in text and "--allowGPUFallback" in text
        assert {"fp32": 'FLAGS=""', "fp16": 'FLAGS="--fp16"', "int8": 'FLAGS="--int8 --fp16"'}[precision] in text
    # Run it with a stand-in trtexec that prints its arguments: the command lines are what the README says.
    fake = tmp_path / "trtexec"
    fake.write_text("#!/bin/sh\necho \"$@\"\n")
    fake.chmod(0o755)
    script = bundles["int8"].path / "build_engine.sh"
    env = {**os.environ, "TRTEXEC": str(fake)}
    typed = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, check=True).stdout
    assert typed.split() == ["--onnx=model.onnx", "--saveEngine=model.engine", "--memPoolSize=workspace:1024",
                             "--stronglyTyped"]
    dla = subprocess.run(["sh", str(script), "weakly"], capture_output=True, text=True, check=True,
                         env={**env, "DLA_CORE": "0", "WORKSPACE_MIB": "512"}).stdout
    assert dla.split()[2:] == ["--memPoolSize=workspace:512", "--int8", "--fp16", "--useDLACore=0",
                               "--allowGPUFallback"]
    refused = subprocess.run(["sh", str(script)], capture_output=True, text=True, env={**env, "DLA_CORE": "0"})
    assert refused.returncode == 2 and "weakly" in refused.stderr


def test_checker_rejects_onnxruntime_style_asymmetric_uint8(bundles, tmp_path):
    """The CPU-style QDQ graph (uint8 asymmetric activations, int32 bias) breaks TensorRT's rules; the export's
    own int8 graph passes."""
    calibration = [x for x in parity_inputs([1, 3, *SIZE], count=4, seed=3)]
    cpu_style = tmp_path / "cpu-style.onnx"
    quantize_onnx_qdq(bundles["fp32"].model_path, calibration, "image", cpu_style)
    with pytest.raises(TensorRTRuleViolation) as caught:
        require_tensorrt_rules(cpu_style)
    message = str(caught.value)
    assert "\n" not in message and "uses uint8, TensorRT takes int8 only" in message and "more violations" in message
    violations = check_model(onnx.load(str(cpu_style))).violations
    assert any("non-zero zero point" in v for v in violations)
    assert any("quantized bias" in v for v in violations)
    require_tensorrt_rules(bundles["int8"].model_path)  # accepted


def test_checker_catches_per_tensor_weights_dynamic_dims_and_old_opsets(bundles, tmp_path):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    class Reader:
        def __init__(self):
            self.items = iter([{"image": x} for x in parity_inputs([1, 3, *SIZE], count=2, seed=5)])

        def get_next(self):
            return next(self.items, None)

    per_tensor = tmp_path / "per-tensor.onnx"
    quantize_static(str(bundles["fp32"].model_path), str(per_tensor), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=False, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False})
    violations = check_model(onnx.load(str(per_tensor))).violations
    assert violations and all("per-tensor weight scales where per-channel was asked" in v for v in violations)
    assert check_model(onnx.load(str(per_tensor)), per_channel=False).violations == []

    model = tiny_onnx_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.opset_import[:]
    model.opset_import.append(onnx.helper.make_opsetid("", 11))
    violations = check_model(model).violations
    assert any("opset 11 is below 13" in v for v in violations)
    assert any("dynamic or unknown dims ['batch'" in v for v in violations)


def test_tensorrt_runner_is_skipped_here_and_the_emulation_runs(bundles):
    assert runner_for_format("tensorrt") is TensorRTRunner  # never the emulation
    assert emulation_for_format("tensorrt") is TensorRTEmulationRunner
    ok, reason = TensorRTRunner.available()
    if ok:
        pytest.skip("this machine runs TensorRT: the skip path cannot be shown here")
    assert reason.startswith("tensorrt")
    measured = measure_bundle(bundles["int8"], 1)
    assert measured.status == "skipped" and measured.reason == reason
    # The emulation runs the Q/DQ as written: its output differs from onnxruntime's fused int8 kernels, and sits
    # near the float graph.
    x = parity_inputs([1, 3, *SIZE], count=1, seed=9)[0]
    emulated = _run(TensorRTEmulationRunner, bundles["int8"], x)
    float_out = _run(TensorRTEmulationRunner, bundles["fp32"], x)
    assert agreement(float_out, emulated)["psnr_db"] > 20.0
    parity = bundles["int8"].manifest["parity"]
    assert parity["runner"] == "tensorrt-emulation" and parity["inputs_from"] == "calibration"
    assert bundles["fp32"].manifest["parity"]["max_abs_rel"] < 1e-4


def test_quantize_derives_a_tensorrt_int8_bundle_with_its_script(bundles, tmp_path):
    calibration = calibration_inputs(bundles["fp32"].inputs[0], 4, seed=1)
    derived = get_method("trt-qdq").quantize_bundle(bundles["fp32"], calibration, tmp_path, "derived-int8")
    assert derived.precision == "int8" and (derived.path / "build_engine.sh").is_file()
    assert '"--int8 --fp16"' in (derived.path / "build_engine.sh").read_text().replace("FLAGS=", "")
    assert derived.manifest["checks"]["summary"].startswith("TensorRT rules hold")
    assert load_bundle(derived.path).manifest["tensorrt"]["explicit_quantization"] is True


def test_measuring_pass_gives_a_skipped_row_and_an_emulation_row(checkpoint, bundles):
    config = EvalConfig(procedural_scenes=4, motorcycle_width=192, threads=1, warmup=1, iters=2)
    report = measure(checkpoint, [bundles["int8"]], config, timing=False)
    rows = {row["artifact"]: row for row in report["rows"]}
    native = rows["tensorrt-int8"]
    assert native["status"] == "skipped" and native["reason"].startswith("tensorrt")
    assert "the export itself is checked: TensorRT rules hold" in native["reason"]
    emulated = rows["tensorrt-int8 (tensorrt-emulation)"]
    assert emulated["status"] == "ok" and emulated["backend"] == "tensorrt-emulation"
    assert "never its speed" in emulated["notes"] and "fps" not in emulated
    assert emulated["fidelity"]["vs"] == "student-fp32" and np.isfinite(emulated["fidelity"]["psnr_db"])
    assert "delta1_drop" in emulated["accuracy"]["middlebury-motorcycle"]
    assert "tensorrt-int8 (tensorrt-emulation): emulated numerics (tensorrt-emulation): the bundle's graph run" in \
        render_markdown(report)
