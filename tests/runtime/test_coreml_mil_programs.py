"""Whole MIL programs through the interpreter: built with coremltools' MIL builder, saved as mlpackages, read
back through the spec. Each fp16 op is rounded to float16 once, weights read from the weight file equal what
coremltools reads, an op without a kernel fails the bundle's row with the op's name, and a small ViT-based Depth
Anything (matmul, softmax, layer_norm, gelu, transpose, reshape, slice_by_index, conv_transpose) agrees with
torch."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

ct = pytest.importorskip("coremltools", reason="reading Core ML programs needs coremltools")

from coremltools.converters.mil import Builder as mb  # noqa: E402
from coremltools.converters.mil.mil import types  # noqa: E402

from runtime.bundle import load_bundle, write_manifest  # noqa: E402
from runtime.measure import measure_bundle  # noqa: E402
from runtime.runners.coreml_emulation import CoreMLMILRunner  # noqa: E402
from runtime.runners.coreml_mil import MLPackageInterpreter, UnsupportedOp  # noqa: E402
from runtime.runners.registry import emulation_for_format, get_runner  # noqa: E402
from tests.helpers import minimal_manifest  # noqa: E402

IOS17 = ct.target.iOS17
WEIGHT = np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)


def _save(program, path, precision=ct.precision.FLOAT32):
    model = ct.convert(program, convert_to="mlprogram", minimum_deployment_target=IOS17, compute_precision=precision)
    model.save(str(path))
    return path


@pytest.fixture(scope="module")
def rounding_package(tmp_path_factory):
    """fp16: y = ((x + 1000) − 1000) · 1, then a linear layer; float16 spacing at 1000 is 0.5."""

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4, 6), dtype=types.fp32)], opset_version=IOS17)
    def program(x):
        h = mb.cast(x=x, dtype="fp16")
        big = np.float16(1000.0)
        h = mb.sub(x=mb.add(x=h, y=big), y=big)
        h = mb.linear(x=h, weight=WEIGHT.astype(np.float16))
        return mb.cast(x=h, dtype="fp32", name="y")

    return _save(program, tmp_path_factory.mktemp("mil") / "rounding.mlpackage", ct.precision.FLOAT16)


@pytest.fixture(scope="module")
def topk_package(tmp_path_factory):
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4, 6), dtype=types.fp32)], opset_version=IOS17)
    def program(x):
        h = mb.linear(x=x, weight=WEIGHT)
        return mb.topk(x=h, k=2, axis=-1, name="y")[0]

    return _save(program, tmp_path_factory.mktemp("mil") / "topk.mlpackage")


def test_every_fp16_op_is_rounded_once(rounding_package):
    x = np.random.default_rng(1).normal(size=(1, 4, 6)).astype(np.float32)
    got = MLPackageInterpreter(rounding_package).predict({"x": x})["y"]
    h = x.astype(np.float16)
    h = ((h.astype(np.float32) + 1000).astype(np.float16).astype(np.float32) - 1000).astype(np.float16)
    assert np.all(np.abs(h.astype(np.float32) * 2 - np.round(h.astype(np.float32) * 2)) == 0)  # multiples of 0.5
    want = (h.astype(np.float32) @ WEIGHT.astype(np.float16).astype(np.float32).T).astype(np.float16)
    np.testing.assert_array_equal(got, want.astype(np.float32))
    unrounded = x @ WEIGHT.T
    assert np.abs(got - unrounded).max() > 0.1  # evaluating in float32 throughout would not show the steps


def test_weights_read_as_coremltools_reads_them(rounding_package):
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    model = ct.models.MLModel(str(rounding_package), skip_model_load=True)
    spec = model.get_spec()
    reference = load_milproto(spec, spec.specificationVersion, model.weights_dir)
    consts = {op.outputs[0].name: op.outputs[0].val for op in reference.functions["main"].operations
              if op.op_type == "const"}
    ours = MLPackageInterpreter(rounding_package).program.constants
    assert set(consts) == set(ours)
    blob_backed = [name for name, value in consts.items() if np.asarray(value).size == WEIGHT.size]
    assert blob_backed  # the weight lives in weight.bin, not inline
    for name, value in consts.items():
        np.testing.assert_array_equal(np.asarray(ours[name]), np.asarray(value), err_msg=name)
        assert np.asarray(ours[name]).dtype == np.asarray(value).dtype or isinstance(value, str)


def test_unknown_op_fails_the_row_with_its_name(topk_package, tmp_path):
    with pytest.raises(UnsupportedOp, match=r"no kernel for op topk \(×1\)"):
        MLPackageInterpreter(topk_package)
    bundle_dir = tmp_path / "topk-bundle"
    bundle_dir.mkdir()
    shutil.copytree(topk_package, bundle_dir / "model.mlpackage")
    manifest = minimal_manifest("topk-bundle", fmt="coreml")
    manifest["inputs"] = [{"name": "x", "shape": [1, 4, 6], "dtype": "float32", "layout": "NCHW",
                           "normalization": "baked-in"}]
    manifest["outputs"] = [{"name": "y", "shape": [1, 4, 2], "dtype": "float32", "kind": "relative_inverse_depth"}]
    write_manifest(bundle_dir, manifest)
    measured = measure_bundle(load_bundle(bundle_dir), 1, runner_cls=CoreMLMILRunner)
    assert measured.status == "failed" and "topk" in measured.reason and "\n" not in measured.reason


def test_runner_is_the_coreml_emulation():
    assert get_runner("coreml-mil") is CoreMLMILRunner and emulation_for_format("coreml") is CoreMLMILRunner
    assert CoreMLMILRunner.emulates and CoreMLMILRunner.available() == (True, "")
    assert "not by Core ML" in CoreMLMILRunner.emulation_note and "never its speed" in CoreMLMILRunner.emulation_note


def _fixed_position_embeddings(model, example):
    """DINOv2 interpolates its position embeddings while tracing (bicubic, which Core ML lacks): fix them at the
    export size, as an export of an original does."""
    import types as pytypes

    import torch

    embeddings = model.backbone.embeddings
    original = embeddings.interpolate_pos_encoding
    fixed = {}

    def at_export_size(self, tokens, height, width):
        if not torch.jit.is_tracing():
            fixed["value"] = original(tokens, height, width).detach()
        return fixed["value"]

    embeddings.interpolate_pos_encoding = pytypes.MethodType(at_export_size, embeddings)
    with torch.no_grad():
        model(pixel_values=example)


@pytest.mark.slow
def test_depth_anything_runs_as_torch_does(tmp_path):
    """A tiny Depth Anything V2 (ViT backbone, DPT head) converted at fp32 and fp16: the interpreter covers every op
    and agrees with torch."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from runtime.metrics import agreement
    from tests.helpers import tiny_depth_anything

    model = tiny_depth_anything(1, 4, [1, 2, 3, 4]).eval()
    torch.manual_seed(2)  # torch's default initialisation: activations of order 1 (the HF one leaves outputs ~1e-7,
    for module in model.modules():  # below float16's normal range, where no fp16 program could agree)
        if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Linear):
            module.reset_parameters()
    with torch.no_grad():  # an output that varies around 2, so the final ReLU passes most of it
        model.head.conv3.weight.mul_(50.0)
        model.head.conv3.bias.fill_(2.0)
    x = torch.randn(1, 3, 56, 84, generator=torch.Generator().manual_seed(0))
    _fixed_position_embeddings(model, x)

    class Depth(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model(pixel_values=pixels).predicted_depth

    wrapper = Depth().eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, x, check_trace=False)
        reference = wrapper(x).numpy()
    assert reference.std() > 0.05 * np.abs(reference).mean() > 0
    results = {}
    for name, precision in (("fp32", ct.precision.FLOAT32), ("fp16", ct.precision.FLOAT16)):
        mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=x.shape)],
                             outputs=[ct.TensorType(name="depth", dtype=np.float32)], convert_to="mlprogram",
                             minimum_deployment_target=IOS17, compute_precision=precision)
        mlmodel.save(str(tmp_path / f"{name}.mlpackage"))
        interpreter = MLPackageInterpreter(tmp_path / f"{name}.mlpackage")
        ops = set(interpreter.program.op_counts)
        assert {"matmul", "softmax", "layer_norm", "gelu", "transpose", "reshape", "linear"} <= ops
        results[name] = agreement(reference, interpreter.predict({"x": x.numpy()})["depth"])
    assert results["fp32"]["psnr_db"] >= 100, results
    assert 40 <= results["fp16"]["psnr_db"] < results["fp32"]["psnr_db"], results
