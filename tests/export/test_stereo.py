"""Stereo student exports: ONNX (onnxruntime parity and static int8 QDQ) and CoreML (conversion to an mlprogram
of standard ops), two inputs with static shapes, no sampling or gather ops. The TFLite bundle of a stereo
student is checked where the stage verbs export it (tests/e2e/test_stereo_pipeline.py): parity at export,
portable ops."""

import io
import logging
import warnings
from collections import Counter
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch

from edgedepth.data import get_dataset
from edgedepth.models import create_model
from runtime.metrics import agreement
from runtime.preprocess import prepare_input
from tests.helpers import STEREO_FORBIDDEN_OPS

pytestmark = pytest.mark.slow

SIZE = (64, 128)
MAX_DISPARITY = 32


@pytest.fixture(scope="module")
def pairs():
    """Four procedural stereo pairs, normalised like the student's inputs (left and right alike)."""
    model = create_model("stereo_small", max_disparity=MAX_DISPARITY)
    spec = {"name": "x", "shape": [1, 3, *SIZE], "dtype": "float32", "layout": "NCHW", "color": "RGB",
            "normalization": {"mean": list(model.input_mean), "std": list(model.input_std), "scale": 1 / 255}}
    samples = get_dataset("procedural", n=4, seed=3, height=SIZE[0], width=SIZE[1])
    return [(prepare_input(s.left, spec), prepare_input(s.right, spec)) for s in samples]


@pytest.fixture(scope="module")
def model(pairs):
    """A random-init student whose BatchNorm statistics are measured on the pairs: realistic activation ranges."""
    torch.manual_seed(0)
    net = create_model("stereo_small", max_disparity=MAX_DISPARITY)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batch
    net.train()
    with torch.no_grad():
        net(torch.from_numpy(np.concatenate([p[0] for p in pairs])),
            torch.from_numpy(np.concatenate([p[1] for p in pairs])))
    return net.eval()


def _torch_out(model, left, right):
    with torch.no_grad():
        return model(torch.from_numpy(left), torch.from_numpy(right)).numpy()


@pytest.fixture(scope="module")
def onnx_path(model, pairs, tmp_path_factory):
    pytest.importorskip("onnxscript", reason="ONNX export needs onnx and onnxscript")
    import onnx

    from export.onnx import OPSET, strip_trace_metadata

    path = tmp_path_factory.mktemp("stereo-onnx") / "model.onnx"
    left, right = (torch.from_numpy(a) for a in pairs[0])
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (left, right), str(path), dynamo=True, external_data=False,
                          opset_version=OPSET, input_names=["left", "right"], output_names=["disparity"])
    proto = onnx.load(str(path))
    strip_trace_metadata(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def _session(path):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_onnx_has_two_static_inputs_and_portable_ops(onnx_path):
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*graph.input, *graph.output)}
    assert shapes == {"left": [1, 3, *SIZE], "right": [1, 3, *SIZE], "disparity": [1, *SIZE]}
    ops = Counter(node.op_type for node in graph.node)
    assert not {op.lower() for op in ops} & STEREO_FORBIDDEN_OPS, ops
    assert ops["Softmax"] == 1 and ops["Conv"] > 40


def test_onnxruntime_matches_torch(model, pairs, onnx_path):
    session = _session(onnx_path)
    for left, right in pairs[:2]:
        reference = _torch_out(model, left, right)
        got = session.run(None, {"left": left, "right": right})[0]
        stats = agreement(reference, got)
        assert stats["max_abs_rel"] <= 1e-4, stats
    assert float(np.ptp(reference)) > 1.0  # the comparison is over a real range of disparities


def test_onnxruntime_static_int8_qdq_stays_close(pairs, onnx_path, tmp_path):
    """The toolkit's static QDQ (quantize.onnxruntime_qdq), calibrated on stereo pairs (two inputs per item)."""
    import onnx

    from quantize.onnxruntime_qdq import quantize_onnx_qdq

    int8 = tmp_path / "int8.onnx"
    quantize_onnx_qdq(onnx_path, [(a, b) for a, b in pairs], ["left", "right"], int8)
    fp32, quantized = _session(onnx_path), _session(int8)
    assert sum(node.op_type == "QuantizeLinear" for node in onnx.load(str(int8)).graph.node) > 50
    reference = np.stack([fp32.run(None, {"left": a, "right": b})[0] for a, b in pairs])
    got = np.stack([quantized.run(None, {"left": a, "right": b})[0] for a, b in pairs])
    stats = agreement(reference, got)
    print(f"stereo_small int8 QDQ vs fp32: PSNR {stats['psnr_db']:.1f} dB, max |Δ|/range {stats['max_abs_rel']:.3f}")
    assert stats["psnr_db"] >= 25.0, stats


def test_coreml_converts_to_standard_ops(model, pairs, tmp_path):
    ct = pytest.importorskip("coremltools")
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    left, right = (torch.from_numpy(a) for a in pairs[0])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model.eval(), (left, right), check_trace=False)
        mlmodel = ct.convert(
            traced, inputs=[ct.TensorType(name=name, shape=x.shape) for name, x in (("left", left), ("right", right))],
            outputs=[ct.TensorType(name="disparity", dtype=np.float32)], convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS17, compute_precision=ct.precision.FLOAT32,
        )
    package = tmp_path / "stereo.mlpackage"
    mlmodel.save(str(package))
    reloaded = ct.models.MLModel(str(package), skip_model_load=True)
    spec = reloaded.get_spec()
    program = load_milproto(spec, spec.specificationVersion, reloaded.weights_dir)
    ops = Counter(op.op_type for op in program.functions["main"].operations)
    standard = {"const", "conv", "clip", "relu", "add", "mul", "slice_by_index", "upsample_bilinear", "concat",
                "pad", "split", "softmax", "reduce_sum", "reduce_mean", "squeeze", "cast"}
    assert set(ops) <= standard, ops
    assert [i.name for i in spec.description.input] == ["left", "right"]
    assert list(spec.description.input[0].type.multiArrayType.shape) == [1, 3, *SIZE]
