"""CoreML export: every precision converts and passes the export checks, bundles are sha256-pinned file by file,
the baked-in image normalisation is exact, the runner says it needs macOS elsewhere, and the decoder's bilinear
upsampling keeps its align_corners semantics."""

import json
import shutil
import sys

import numpy as np
import pytest
import torch

ct = pytest.importorskip("coremltools", reason="CoreML export needs coremltools (pip install 'edgedepth[coreml]')")

from edgedepth.checkpoint import checkpoint_sha256, load_student  # noqa: E402
from edgedepth.models.blocks import Upsample2x  # noqa: E402
from export.base import ExportRequest  # noqa: E402
from export.coreml import CoreMLExporter, to_mlprogram  # noqa: E402
from export.coreml_checks import CoreMLCheckError, check_coreml_bundle  # noqa: E402
from export.parity import parity_inputs  # noqa: E402
from export.registry import get_exporter  # noqa: E402
from runtime.bundle import BundleError, load_bundle, write_manifest  # noqa: E402
from runtime.feeds import random_inputs  # noqa: E402
from runtime.preprocess import prepare_input  # noqa: E402
from runtime.runners.base import check_inputs  # noqa: E402
from runtime.runners.coreml import MACOS_ONLY, CoreMLRunner  # noqa: E402
from runtime.runners.registry import get_runner, runner_for_format  # noqa: E402
from tests.helpers import make_student  # noqa: E402

pytestmark = pytest.mark.slow

SIZE = (64, 96)
PRECISIONS = ("fp32", "fp16", "w8", "palettized-6bit", "palettized-4bit", "w8a8")
# What the export checks must report for each precision (the tiny student's 73 conv weights; w8/palettized leave
# the 5 weights with ≤ 512 elements in float16).
EXPECTED_WEIGHTS = {
    "fp32": {"fp32": 73},
    "fp16": {"fp16": 73},
    "w8": {"fp16": 5, "int8": 68},
    "palettized-6bit": {"fp16": 5, "lut64": 68},
    "palettized-4bit": {"fp16": 5, "lut16": 68},
    "w8a8": {"int8": 73},
}
on_macos = pytest.mark.skipif(sys.platform != "darwin", reason=MACOS_ONLY)
off_macos = pytest.mark.skipif(sys.platform == "darwin", reason="checks the runner's refusal off macOS")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = make_student(tmp_path_factory.mktemp("coreml-student") / "s.safetensors", size=SIZE, features=16)
    model, info = load_student(path)
    return path, model, info


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, student):
    """One bundle per precision (w8a8 calibrated on two inputs), exported once for the module."""
    path, model, info = student
    out = tmp_path_factory.mktemp("coreml-bundles")
    calibration = parity_inputs([1, 3, *SIZE], count=2, seed=11)
    exporter = get_exporter("coreml")
    made = {}
    for precision in PRECISIONS:
        request = ExportRequest(model, info, checkpoint_sha256(path), f"coreml-{precision}", precision=precision,
                                calibration=calibration if precision == "w8a8" else None)
        made[precision] = exporter.export(request, out)
    return made


def _program(package):
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    model = ct.models.MLModel(str(package), skip_model_load=True)
    spec = model.get_spec()
    return spec, load_milproto(spec, spec.specificationVersion, model.weights_dir)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_each_precision_passes_the_export_checks(bundles, precision):
    bundle = load_bundle(bundles[precision].path)  # sha256 of every file inside the package
    checks = bundle.manifest["checks"]
    assert checks["status"] == "ok" and checks["reloaded"] and checks["specification_version"] == 8
    assert checks["weights"] == EXPECTED_WEIGHTS[precision]
    assert checks["compute"] == (["fp32"] if precision == "fp32" else ["fp16"])
    assert sum(checks["weight_elements"].values()) == sum(bundles["fp32"].manifest["checks"]["weight_elements"]
                                                          .values())
    if precision == "w8a8":
        assert set(checks["quantized_activations"]) <= {"int8", "uint8"} and sum(
            checks["quantized_activations"].values()) > 50
    else:
        assert checks["quantized_activations"] == {}
    assert check_coreml_bundle(bundle) == checks  # the recorded checks are reproducible from the bundle alone
    storage = next(iter(EXPECTED_WEIGHTS[precision]))
    assert checks["summary"].startswith("reloads; ") and f"{EXPECTED_WEIGHTS[precision][storage]} {storage}" in \
        checks["summary"] and "normalisation baked in" in checks["summary"]


def test_packages_shrink_with_precision(bundles):
    def size(precision):
        return sum(p.stat().st_size for p in bundles[precision].model_path.rglob("*") if p.is_file())

    assert size("fp16") < 0.55 * size("fp32")
    assert size("w8") < 0.6 * size("fp16")
    assert size("palettized-4bit") < size("palettized-6bit") < size("w8")


def test_manifest_describes_the_image_input(bundles, student):
    path, _, info = student
    for precision, bundle in bundles.items():
        m = bundle.manifest
        assert (m["format"], m["precision"], m["task"]) == ("coreml", precision, "mono")
        spec = m["inputs"][0]
        assert {k: spec[k] for k in ("name", "shape", "dtype", "layout", "color", "normalization", "coreml_type")} \
            == {"name": "image", "shape": [1, 64, 96, 3], "dtype": "uint8", "layout": "NHWC", "color": "RGB",
                "normalization": "baked-in", "coreml_type": "image"}
        assert spec["baked_in"]["mean"] == list(info.mean) and spec["baked_in"]["std"] == list(info.std)
        assert m["outputs"][0] == {"name": "depth", "shape": [1, 64, 96], "dtype": "float32",
                                   "kind": "relative_inverse_depth"}
        assert m["coreml"]["deployment_target"] == "iOS17"
        assert m["source"]["checkpoint_sha256"] == checkpoint_sha256(path)
        assert sorted(m["files"]) == ["model.mlpackage/Data/com.apple.CoreML/model.mlmodel",
                                      "model.mlpackage/Data/com.apple.CoreML/weights/weight.bin",
                                      "model.mlpackage/Manifest.json"]
        # Off macOS, parity runs through the MIL interpreter and says so.
        assert m["parity"]["status"] == "ok" and m["parity"]["runner"] == (
            "coreml" if sys.platform == "darwin" else "coreml-mil")
    assert "quantization" not in bundles["fp16"].manifest and "quantization" not in bundles["fp32"].manifest
    assert bundles["w8"].manifest["quantization"]["weight_threshold"] == 512
    assert bundles["palettized-4bit"].manifest["quantization"]["nbits"] == 4
    assert bundles["w8a8"].manifest["quantization"]["calibration_samples"] == 2
    assert len(bundles["w8a8"].manifest["source"]["calibration_sha256"]) == 64
    assert bundles["w8"].manifest["source"]["calibration_sha256"] is None


def test_baked_normalisation_is_exact(bundles, student):
    _, _, info = student
    mean, std = np.asarray(info.mean), np.asarray(info.std)
    for bundle in bundles.values():
        baked = bundle.manifest["checks"]["baked_normalization"]
        np.testing.assert_allclose(baked["gain"], 1.0 / (255.0 * std), rtol=2e-3)
        np.testing.assert_allclose(baked["offset"], -mean / std, rtol=2e-3)


def test_preprocess_feeds_what_the_model_takes(bundles):
    bundle = bundles["fp16"]
    spec = bundle.inputs[0]
    image = np.random.default_rng(0).integers(0, 256, size=(128, 192, 3), dtype=np.uint8)
    feed = prepare_input(image, spec)
    assert feed.dtype == np.uint8 and feed.shape == (1, 64, 96, 3)
    assert abs(float(feed.mean()) - float(image.mean())) < 2.0  # pixels, not normalised values
    check_inputs({"image": feed}, bundle.inputs)
    check_inputs(random_inputs(bundle), bundle.inputs)


def test_package_spec_has_image_input_and_metadata(bundles):
    spec, _ = _program(bundles["w8"].model_path)
    (inp,) = spec.description.input
    assert inp.type.WhichOneof("Type") == "imageType"
    assert (inp.type.imageType.width, inp.type.imageType.height) == (96, 64)
    assert type(inp.type.imageType).ColorSpace.Name(inp.type.imageType.colorSpace) == "RGB"
    meta = spec.description.metadata
    assert meta.author == "edgedepth" and meta.versionString and meta.license.startswith("Apache-2.0")
    assert "relative inverse depth" in meta.shortDescription
    assert meta.userDefined["edgedepth.output_kind"] == "relative_inverse_depth"
    assert meta.userDefined["edgedepth.input_size"] == "64x96"
    assert meta.userDefined["edgedepth.precision"] == "w8"


def test_palettes_have_two_to_the_bits_entries(bundles):
    for precision, entries in (("palettized-6bit", 64), ("palettized-4bit", 16)):
        _, program = _program(bundles[precision].model_path)
        luts = [op for op in program.functions["main"].operations if op.op_type == "constexpr_lut_to_dense"]
        assert len(luts) == 68
        assert {op.lut.val.shape for op in luts} == {(entries,)}
        assert {str(op.lut.val.dtype) for op in luts} == {"float16"}


def test_tampered_package_is_refused(bundles, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundles["w8"].path, copy)
    weights = copy / "model.mlpackage/Data/com.apple.CoreML/weights/weight.bin"
    original = weights.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="weight.bin sha256 mismatch"):
        load_bundle(copy)
    weights.write_bytes(original)
    load_bundle(copy)
    (copy / "model.mlpackage/Manifest.json").unlink()
    with pytest.raises(BundleError, match="Manifest.json is listed in the manifest but missing"):
        load_bundle(copy)


def _relabelled(bundle, tmp_path, edit):
    """A copy of `bundle` whose manifest was edited and re-sealed (valid sha256, wrong description)."""
    copy = tmp_path / "relabelled"
    shutil.copytree(bundle.path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest)
    write_manifest(copy, manifest)
    return load_bundle(copy)


def test_wrong_manifest_shape_fails_the_check(bundles, tmp_path):
    def wrong_shape(manifest):
        manifest["inputs"][0]["shape"] = [1, 64, 64, 3]

    with pytest.raises(CoreMLCheckError, match=r"inputs 'image' has shape \[1, 64, 96, 3\], the manifest says"):
        check_coreml_bundle(_relabelled(bundles["fp16"], tmp_path, wrong_shape))


def test_wrong_precision_label_fails_the_check(bundles, tmp_path):
    def claim_w8(manifest):
        manifest["precision"] = "w8"
        manifest["quantization"] = {"weight_threshold": 512}

    with pytest.raises(CoreMLCheckError, match="stored as fp16, expected int8"):
        check_coreml_bundle(_relabelled(bundles["fp16"], tmp_path, claim_w8))


def test_wrong_normalisation_record_fails_the_check(bundles, tmp_path):
    def other_std(manifest):
        manifest["inputs"][0]["baked_in"]["std"] = [0.5, 0.5, 0.5]

    with pytest.raises(CoreMLCheckError, match="is normalised as"):
        check_coreml_bundle(_relabelled(bundles["fp32"], tmp_path, other_std))


def test_requests_are_checked(student):
    path, model, info = student
    exporter = CoreMLExporter()
    with pytest.raises(ValueError, match="not 'int8'"):
        exporter.export(ExportRequest(model, info, "0" * 64, "x", precision="int8"), path.parent)
    with pytest.raises(ValueError, match="w8a8 needs calibration"):
        exporter.export(ExportRequest(model, info, "0" * 64, "x", precision="w8a8"), path.parent)
    assert not (path.parent / "x").exists()


def test_existing_bundle_is_refused_without_force(bundles, student):
    path, model, info = student
    request = ExportRequest(model, info, checkpoint_sha256(path), "coreml-fp16", precision="fp16")
    out = bundles["fp16"].path.parent
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(FileExistsError, match="--force"):
        CoreMLExporter().export(request, out)
    assert sorted(p.name for p in out.iterdir()) == before  # nothing converted, no temporary left behind


@off_macos
def test_runner_needs_macos(bundles):
    assert get_runner("coreml") is CoreMLRunner and runner_for_format("coreml") is CoreMLRunner
    assert CoreMLRunner.available() == (False, MACOS_ONLY)
    with pytest.raises(RuntimeError, match="needs macOS"):
        CoreMLRunner().load(bundles["fp16"], 1)


@on_macos
def test_coreml_matches_torch_on_macos(bundles, student):
    _, model, info = student
    assert bundles["fp32"].manifest["parity"]["max_abs_rel"] <= 1e-3
    image = np.random.default_rng(3).integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    x = (image.astype(np.float32) / 255 - np.asarray(info.mean, np.float32)) / np.asarray(info.std, np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x.transpose(2, 0, 1)[None].copy())).numpy()
    with CoreMLRunner() as runner:
        runner.load(bundles["fp32"], 1)
        got = runner.infer({"image": prepare_input(image, bundles["fp32"].inputs[0])})["depth"]
    assert np.abs(got - ref).max() <= 1e-3 * (ref.max() - ref.min())


def _mil_bilinear_2x(x: np.ndarray, align_corners: bool) -> np.ndarray:
    """MIL `upsample_bilinear` by 2 as its specification defines the sampling grid (numpy, N×C×H×W)."""

    def grid(n_in):
        n_out = 2 * n_in
        if align_corners:
            src = np.arange(n_out) * (n_in - 1) / (n_out - 1)
        else:
            src = np.arange(n_out) * 0.5 + 0.25 - 0.5
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    (h0, h1, fh), (w0, w1, fw) = grid(x.shape[2]), grid(x.shape[3])
    rows = x[:, :, h0] * (1 - fh)[:, None] + x[:, :, h1] * fh[:, None]
    return rows[..., w0] * (1 - fw) + rows[..., w1] * fw


@pytest.mark.parametrize("align_corners", [True, False])
def test_upsampling_keeps_align_corners(tmp_path, align_corners):
    """align_corners=True is a known source of wrong CoreML depth models (coremltools #774): the converted op must
    be `upsample_bilinear` with the same align_corners (and half-pixel centres exactly when it is False)."""
    x = torch.randn(1, 4, 5, 7, generator=torch.Generator().manual_seed(0))
    module = Upsample2x(align_corners=align_corners)
    mlmodel = to_mlprogram(module, x, [ct.TensorType(name="x", shape=tuple(x.shape))], "y", "fp32")
    mlmodel.save(str(tmp_path / "up.mlpackage"))
    _, program = _program(tmp_path / "up.mlpackage")
    ops = list(program.functions["main"].operations)
    resizes = [op for op in ops if op.op_type in ("upsample_bilinear", "resize_bilinear", "resize")]
    assert [op.op_type for op in resizes] == ["upsample_bilinear"]
    (op,) = resizes
    assert bool(op.align_corners.val) is align_corners
    half_pixel = op.inputs.get("half_pixel_centers")
    assert half_pixel is None or bool(half_pixel.val) is (not align_corners)  # iOS 16+: defaults to !align_corners
    assert (float(op.scale_factor_height.val), float(op.scale_factor_width.val)) == (2.0, 2.0)
    with torch.no_grad():
        ref = module(x).numpy()
    # The MIL semantics of this flag reproduce torch's; the other flag would not.
    np.testing.assert_allclose(_mil_bilinear_2x(x.numpy(), align_corners), ref, atol=1e-5)
    assert np.abs(_mil_bilinear_2x(x.numpy(), not align_corners) - ref).max() > 1e-2


@off_macos
def test_verify_rows_are_export_checked_and_emulated(bundles, student):
    """Off macOS a CoreML bundle gets two rows: Core ML's, skipped with what the export checks verified, and the MIL
    interpreter's, with fidelity and accuracy, untimed and said to be emulated numerics."""
    from edgedepth.stages.measure import EvalConfig, measure

    report = measure(student[0], [bundles["palettized-4bit"]], EvalConfig(procedural_scenes=2, threads=1,
                                                                        motorcycle_width=96), timing=False)
    rows = {row["artifact"]: row for row in report["rows"]}
    row = rows["coreml-palettized-4bit"]
    assert row["status"] == "skipped"
    assert row["export_checks"] == {"status": "ok",
                                    "summary": bundles["palettized-4bit"].manifest["checks"]["summary"]}
    assert row["reason"].startswith(MACOS_ONLY) and "68 lut16" in row["reason"]
    emulated = rows["coreml-palettized-4bit (coreml-mil)"]
    assert emulated["status"] == "ok" and emulated["backend"] == "coreml-mil" and "latency_ms" not in emulated
    assert emulated["notes"].startswith("emulated numerics (coreml-mil)")
    assert emulated["fidelity"]["inputs"] == "8-bit pixels" and 10 < emulated["fidelity"]["psnr_db"] < 60
    for dataset in ("middlebury-motorcycle", "procedural-heldout"):
        assert {"absrel", "delta1", "delta1_drop"} <= set(emulated["accuracy"][dataset])


def _psnr_vs_torch(bundle, model, info, runner_cls):
    """PSNR of a bundle's output against the torch student on the same 8-bit pixels (two seeded images)."""
    from export.coreml import _PixelsToModel
    from runtime.metrics import agreement

    reference = _PixelsToModel(model.eval(), info.mean, info.std)
    worst = np.inf
    with runner_cls() as runner:
        runner.load(bundle, 1)
        for seed in (3, 4):
            image = np.random.default_rng(seed).integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
            feed = prepare_input(image, bundle.inputs[0])
            with torch.no_grad():
                want = reference(torch.from_numpy(feed.transpose(0, 3, 1, 2).copy())).numpy()
            worst = min(worst, agreement(want, runner.infer({"image": feed})["depth"])["psnr_db"])
    return worst


# Emulated PSNR vs torch of each precision of the random-init test student (weights of a trained student quantize
# better): fp32 is exact up to float32 summation order; the rest lose what their storage loses.
MIN_PSNR = {"fp32": 100, "fp16": 55, "w8": 38, "palettized-6bit": 28, "palettized-4bit": 16, "w8a8": 24}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_runs_in_the_mil_interpreter(bundles, student, precision):
    from runtime.runners.coreml_emulation import CoreMLMILRunner

    _, model, info = student
    psnr = _psnr_vs_torch(bundles[precision], model, info, CoreMLMILRunner)
    assert psnr >= MIN_PSNR[precision]
    if precision != "fp32":
        assert psnr < 100  # the compression shows: the interpreter decodes it rather than reading fp32 weights
    parity = bundles[precision].manifest["parity"]
    if sys.platform != "darwin":
        assert parity["runner"] == "coreml-mil" and parity["psnr_db"] >= MIN_PSNR[precision]


def _flip_align_corners(module):
    """A copy of `module` whose bilinear upsampling uses the other align_corners: a conversion that is well-formed
    (it reloads, type-checks, keeps every weight's precision) and wrong."""
    import copy

    flipped = copy.deepcopy(module)
    for sub in flipped.modules():
        if isinstance(sub, Upsample2x):
            sub.align_corners = not sub.align_corners
    return flipped


@off_macos
def test_wrong_align_corners_is_caught_while_the_export_checks_pass(student, tmp_path, monkeypatch):
    import export.coreml as coreml_module
    from edgedepth.stages.measure import EvalConfig, measure
    from runtime.gate import over_budget

    path, model, info = student
    convert = coreml_module._convert
    monkeypatch.setattr(coreml_module, "_convert",
                        lambda module, *args: convert(_flip_align_corners(module), *args))
    checked = []
    monkeypatch.setattr(CoreMLExporter, "check_bundle",
                        lambda self, bundle, precision: checked.append(check_coreml_bundle(bundle, precision))
                        or checked[-1])
    exporter = get_exporter("coreml")
    with pytest.raises(RuntimeError, match="coreml fp32 export disagrees with torch"):
        exporter.export(ExportRequest(model, info, checkpoint_sha256(path), "wrong-fp32", precision="fp32"), tmp_path)
    assert checked[-1]["status"] == "ok" and "73 fp32" in checked[-1]["summary"]  # the checks saw nothing wrong
    assert not (tmp_path / "wrong-fp32").exists()
    # fp16 is not held to the fp32 bar at export: it is sealed, and the measuring gate stops it.
    wrong = exporter.export(ExportRequest(model, info, checkpoint_sha256(path), "wrong-fp16", precision="fp16"),
                            tmp_path)
    assert wrong.manifest["checks"]["status"] == "ok" and wrong.manifest["parity"]["psnr_db"] < 40
    report = measure(path, [wrong], EvalConfig(procedural_scenes=0, threads=1, motorcycle_width=96), timing=False)
    problems = over_budget(report["rows"], min_psnr=45)
    assert [p.split(":")[0] for p in problems] == ["wrong-fp16 (coreml-mil)"]


@on_macos
@pytest.mark.parametrize("precision", PRECISIONS)
def test_interpreter_matches_core_ml(bundles, precision):
    """Where Core ML runs, the interpreter's output is Core ML's up to float16 arithmetic (CPU_ONLY compute)."""
    from runtime.metrics import agreement
    from runtime.runners.coreml_emulation import CoreMLMILRunner

    bundle = bundles[precision]
    image = np.random.default_rng(5).integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    feed = {"image": prepare_input(image, bundle.inputs[0])}
    outputs = {}
    for runner_cls in (CoreMLRunner, CoreMLMILRunner):
        with runner_cls() as runner:
            runner.load(bundle, 1)
            outputs[runner_cls.name] = runner.infer(feed)["depth"]
    psnr = agreement(outputs["coreml"], outputs["coreml-mil"])["psnr_db"]
    assert psnr >= (90 if precision == "fp32" else 45)


def test_failing_graph_pass_names_the_pass_coremltools_was_running():
    """The retry that leaves out a failing fusion reads the pass's name off coremltools' own pipeline frames."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.passes.graph_pass import AbstractGraphPass
    from coremltools.converters.mil.mil.passes.pass_pipeline import PassPipeline, PassPipelineManager
    from coremltools.converters.mil.mil.passes.pass_registry import register_pass

    from export.coreml import failing_graph_pass

    @register_pass(namespace="edgedepth_test", override=True)
    class fails(AbstractGraphPass):  # noqa: N801 - coremltools names a pass after its class
        def apply(self, prog):
            raise ValueError("a var of the wrong shape")

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))])
    def prog(x):
        return mb.relu(x=x)

    with pytest.raises(ValueError) as raised:
        PassPipelineManager.apply_pipeline(prog, PassPipeline(pass_names=["edgedepth_test::fails"]))
    assert failing_graph_pass(raised.value) == "edgedepth_test::fails"
    assert failing_graph_pass(ValueError("raised outside any pass")) is None
