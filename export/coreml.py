"""CoreML exporter: an mlprogram package (minimum deployment target iOS 17 / macOS 14) whose input is an RGB
image with the ImageNet normalisation inside the model, in fp32, fp16, int8-weight (w8), 6/4-bit palettized or
W8A8 precision.

Conversion traces the student with `torch.jit.trace` at its fixed input size. iOS 17 is the target for every
precision so the bundles stay comparable: W8A8's activation `quantize`/`dequantize` ops need it, and w8/palettized
weights decode through the iOS 16+ `constexpr_*` ops. `ct.ImageType` applies one scale and a per-channel bias, so
the image arrives as x/255 − mean; the per-channel 1/std is an explicit multiply, the first op of the traced
module (exact, and it keeps the encoder's weights untouched for quantization).

Prediction needs macOS: elsewhere the bundle's parity runs through the numpy MIL interpreter (`coreml-mil`,
emulated numerics), and `check_coreml_bundle` checks everything that can be checked without running the program
(reload, MIL validation, I/O, metadata, weight precision).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedepth.checkpoint import StudentInfo
from edgedepth.version import __version__
from export.base import Exporter, ExportRequest
from export.cache import ConversionCache, module_fingerprint
from export.coreml_checks import check_coreml_bundle
from export.parity import reference_inputs, torch_vs_bundle
from export.precision import Precision
from export.registry import register_exporter
from quantize.calibration import item_arrays
from runtime.bundle import Bundle
from runtime.errors import first_line
from runtime.runners.coreml import MACOS_ONLY
from runtime.runners.coreml_mil.errors import MILError
from runtime.runners.registry import runner_here

MODEL_FILE = "model.mlpackage"
DEPLOYMENT_TARGET = "iOS17"
_MLPROGRAMS = ConversionCache(size=2)  # converted programs of the last modules (see to_mlprogram)
# Weights with more elements than this are compressed (w8, palettized); smaller ones stay float16.
WEIGHT_THRESHOLD = 512
# A fusion pass that fails on a graph (coremltools' `fuse_elementwise_to_batchnorm` gives ZoeDepth's attractors a
# var of the wrong shape) is left out and the conversion retried: fusions only merge ops, so the program without
# one computes the same; the interpreter's parity check then holds it to torch. The manifest lists what was left out.
SKIPPABLE_PASSES = ("common::fuse_",)
MAX_SKIPPED_PASSES = 3
SKIPPED_PASSES_KEY = "edgedepth.skipped_mil_passes"
AUTHOR = "edgedepth"
LICENSE = "Apache-2.0 (edgedepth); the distilled weights also follow their teacher's license"


class _ImageToModel(nn.Module):
    """The traced module: CoreML's ImageType hands over x/255 − mean; divide by std per channel, run the model."""

    def __init__(self, model: nn.Module, std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("inv_std", (1.0 / torch.tensor(std, dtype=torch.float32)).view(1, 3, 1, 1))

    def forward(self, *images: torch.Tensor) -> torch.Tensor:
        return self.model(*(x * self.inv_std for x in images))


class _PixelsToModel(nn.Module):
    """Torch reference on the pixels CoreML sees: uint8 N×3×H×W → (x/255 − mean)/std → the model."""

    def __init__(self, model: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, *pixels: torch.Tensor) -> torch.Tensor:
        return self.model(*((p.float() / 255.0 - self.mean) / self.std for p in pixels))


def image_input_spec(info: StudentInfo, name: str) -> dict[str, Any]:
    """Manifest input entry for the CoreML image input: 1×H×W×3 uint8 RGB, normalisation baked in."""
    height, width = info.input_size
    return {
        "name": name,
        "shape": [1, height, width, 3],
        "dtype": "uint8",
        "layout": "NHWC",
        "color": "RGB",
        "normalization": "baked-in",
        "coreml_type": "image",
        "baked_in": {
            "mean": list(info.mean), "std": list(info.std), "scale": 1.0 / 255.0,
            "how": "ImageType scale 1/255 and per-channel bias -mean; per-channel 1/std is the graph's first multiply",
        },
    }


def to_mlprogram(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], inputs: list[Any],
                 output_name: str, compute: str = "fp16") -> Any:
    """Trace `module` on `example` (one tensor, or one per input) and convert it to an iOS 17 mlprogram (fp16 or
    fp32 compute, float32 output); remembered per process, so w8 and the palettes of one student compress the
    same fp16 program (the compressions return new models and leave it as it is)."""
    examples = example if isinstance(example, tuple) else (example,)
    described = [(type(i).__name__, i.name, str(getattr(i.shape, "shape", i.shape)), getattr(i, "scale", None),
                  getattr(i, "bias", None), str(getattr(i, "color_layout", None))) for i in inputs]
    key = module_fingerprint(module, examples, f"{described}|{output_name}|{compute}")
    return _MLPROGRAMS.get_or_make(key, lambda: _convert(module, example, inputs, output_name, compute))


def _convert(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], inputs: list[Any],
             output_name: str, compute: str) -> Any:
    import coremltools as ct

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # A W8A8 model's reference-quantized graph creates quantized tensors, which torch marks deprecated.
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions", category=UserWarning)
        traced = torch.jit.trace(module.eval(), example, check_trace=False)
    precision = ct.precision.FLOAT32 if compute == "fp32" else ct.precision.FLOAT16
    skipped: list[str] = []
    while True:
        pipeline = ct.PassPipeline.DEFAULT
        pipeline.remove_passes(skipped)
        try:
            mlmodel = ct.convert(
                traced, inputs=inputs, outputs=[ct.TensorType(name=output_name, dtype=np.float32)],
                convert_to="mlprogram", minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
                compute_precision=precision, pass_pipeline=pipeline,
            )
            break
        except Exception as exc:
            graph_pass = failing_graph_pass(exc)
            if graph_pass and graph_pass.startswith(SKIPPABLE_PASSES) and len(skipped) < MAX_SKIPPED_PASSES:
                skipped.append(graph_pass)
                continue
            op = failing_torch_op(exc)
            if op is None:
                raise
            raise RuntimeError(f"coremltools cannot convert torch op {op}: {first_line(exc)}") from exc
    if skipped:
        mlmodel.user_defined_metadata[SKIPPED_PASSES_KEY] = ",".join(skipped)
    return mlmodel


def failing_graph_pass(exc: BaseException) -> str | None:
    """The MIL graph pass ('common::…') coremltools was running when `exc` was raised, read off the traceback's
    frames; None when the failure was not in a graph pass."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        local = tb.tb_frame.f_locals
        if "graph_pass" in local and isinstance(local.get("pass_name"), str):
            found = local["pass_name"]
        tb = tb.tb_next
    return found


def failing_torch_op(exc: BaseException) -> str | None:
    """The torch op ('kind' at 'node name') coremltools was converting when `exc` was raised, read off the
    traceback's frames; None when the failure was not in one op's conversion."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        node = tb.tb_frame.f_locals.get("node")
        if node is not None and hasattr(node, "kind") and hasattr(node, "name"):
            found = f"'{node.kind}' (at {node.name})"
        tb = tb.tb_next
    return found


def palette_bits(precision: Precision) -> int | None:
    """Bits per weight of a palettized precision (its storage "lutN" holds N = 2^bits entries), else None."""
    storage = precision.weight_storage
    return int(storage[3:]).bit_length() - 1 if storage.startswith("lut") else None


def compress_weights(mlmodel: Any, precision: Precision) -> Any:
    """int8 per-channel symmetric weights (w8) or a k-means palette (palettized-*bit); other precisions as they are
    (w8a8 is quantized in torch before conversion)."""
    import coremltools.optimize as cto

    bits = palette_bits(precision)
    if precision.weight_storage == "int8" and not precision.calibrated:
        op_config = cto.coreml.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=WEIGHT_THRESHOLD)
        return cto.coreml.linear_quantize_weights(mlmodel, cto.coreml.OptimizationConfig(global_config=op_config))
    if bits is not None:
        op_config = cto.coreml.OpPalettizerConfig(
            mode="kmeans", nbits=bits, granularity="per_tensor", weight_threshold=WEIGHT_THRESHOLD)
        return cto.coreml.palettize_weights(mlmodel, cto.coreml.OptimizationConfig(global_config=op_config))
    return mlmodel


def _calibration_tensors(calibration: list[np.ndarray], info: StudentInfo) -> list[torch.Tensor]:
    """Normalised 1×3×H×W float tensors from calibration inputs given as such or as 1×H×W×3 uint8 images."""
    height, width = info.input_size
    mean = np.asarray(info.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(info.std, dtype=np.float32).reshape(1, 3, 1, 1)
    tensors = []
    for item in calibration:
        if isinstance(item, tuple | list):
            tensors.append(tuple(_calibration_tensors(list(item), info)))
            continue
        array = np.asarray(item)
        if array.dtype == np.uint8 and list(array.shape) == [1, height, width, 3]:
            array = (array.transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - mean) / std
        elif array.dtype.kind != "f" or list(array.shape) != [1, 3, height, width]:
            raise ValueError(f"calibration inputs must be 1×3×{height}×{width} normalised floats or "
                             f"1×{height}×{width}×3 uint8 images, got {array.dtype} {list(array.shape)}")
        tensors.append(torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)))
    return tensors


def quantize_w8a8(model: nn.Module, calibration: list[torch.Tensor]) -> nn.Module:
    """Post-training W8A8 with coremltools.optimize.torch: int8 per-channel weights, 8-bit activations from min/max
    observers over `calibration`, BatchNorm frozen (running statistics) throughout; returns the finalized model."""
    import coremltools.optimize.torch.quantization as ctq

    config = ctq.LinearQuantizerConfig(global_config=ctq.ModuleLinearQuantizerConfig(
        quantization_scheme="symmetric", weight_dtype=torch.qint8, weight_per_channel=True,
        activation_dtype=torch.quint8, activation_observer="min_max",
        # step 0: observers on, fake quantization on, BatchNorm statistics frozen; observers are never switched off.
        milestones=[0, 0, -1, 0],
    ))
    quantizer = ctq.LinearQuantizer(copy.deepcopy(model).eval(), config)
    first = calibration[0] if isinstance(calibration[0], tuple) else (calibration[0],)
    prepared = quantizer.prepare(example_inputs=first)
    quantizer.step()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for x in calibration:
            prepared(*(x if isinstance(x, tuple) else (x,)))
        return quantizer.finalize().eval()


def pixels_from_normalized(x: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """uint8 N×3×H×W pixels whose normalisation is (close to) the normalised float input `x`."""
    m = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
    return np.clip(np.rint((x * s + m) * 255.0), 0, 255).astype(np.uint8)


def measure_parity(request: ExportRequest, bundle: Bundle) -> dict[str, Any]:
    """Agreement with the torch fp32 model on the same pixels: through Core ML on macOS, elsewhere through the MIL
    interpreter (`coreml-mil`, emulated numerics, said so in `runner`); skipped with the reason where neither runs
    (an op the interpreter lacks is named)."""
    runner_cls, reason = runner_here(bundle.format)
    if runner_cls is None:
        return {"status": "skipped", "reason": reason}
    height, width = request.info.input_size
    info = request.info
    inputs, _ = reference_inputs(Precision("fp32"), None, [1, 3, height, width], len(bundle.inputs))
    images = [tuple(pixels_from_normalized(x, info.mean, info.std) for x in item_arrays(item)) for item in inputs]
    try:
        stats = torch_vs_bundle(_PixelsToModel(request.model.eval(), info.mean, info.std), bundle, images,
                                runner_cls=runner_cls)
    except MILError as exc:
        return {"status": "skipped", "reason": f"{MACOS_ONLY}; the MIL interpreter cannot run it: {first_line(exc)}"}
    return {"status": "ok", **stats, "runner": runner_cls.name}


def _describe(mlmodel: Any, request: ExportRequest, input_names: list[str], output_name: str) -> None:
    """Model metadata: description, author, license, version, and the edgedepth facts a CoreML user needs."""
    info = request.info
    height, width = info.input_size
    kind = info.output_kind
    original = info.config.get("original")
    model_name = original or info.config.get("name", "student")
    what = f"edgedepth export of the {original} network" if original else f"edgedepth {model_name} depth student"
    source = "one RGB image" if len(input_names) == 1 else "a rectified RGB stereo pair"
    mlmodel.short_description = (f"{what} ({request.precision}): "
                                 f"{kind.replace('_', ' ')} from {source} at {width}x{height}")
    mlmodel.author = AUTHOR
    mlmodel.license = LICENSE
    mlmodel.version = __version__
    for input_name in input_names:
        view = "" if len(input_names) == 1 else f"{input_name} view, "
        mlmodel.input_description[input_name] = (f"RGB image, {view}{width}x{height} (width x height); the "
                                                 "ImageNet mean/std normalisation happens inside the model")
    mlmodel.output_description[output_name] = f"{kind} at input resolution, 1x{height}x{width}"
    meta = mlmodel.user_defined_metadata
    meta["edgedepth.output_kind"] = kind
    meta["edgedepth.input_size"] = f"{height}x{width}"
    meta["edgedepth.precision"] = request.precision
    meta["edgedepth.task"] = info.task
    meta["edgedepth.model"] = model_name
    meta["edgedepth.weights_sha256" if original else "edgedepth.checkpoint_sha256"] = request.checkpoint_sha256


def _quantization_entry(precision: Precision, calibration_samples: int) -> dict[str, Any] | None:
    """The manifest's "quantization" entry for a compressed precision, None for float ones."""
    bits = palette_bits(precision)
    if precision.weight_storage == "int8" and not precision.calibrated:
        return {"method": "coremltools-linear-quantize-weights", "weights": "int8 per-channel symmetric",
                "activations": "float16", "calibration_samples": 0, "weight_threshold": WEIGHT_THRESHOLD}
    if bits is not None:
        return {"method": "coremltools-palettize-weights", "weights": f"{bits}-bit k-means palette per tensor "
                f"({2 ** bits} float16 entries)", "activations": "float16", "calibration_samples": 0,
                "weight_threshold": WEIGHT_THRESHOLD, "nbits": bits}
    if precision.calibrated:
        return {"method": "coremltools-optimize-torch-linear-quantizer", "weights": "int8 per-channel symmetric",
                "activations": "8-bit per-tensor symmetric, min/max calibration (uint8 after ReLU, int8 elsewhere)",
                "calibration_samples": calibration_samples}
    return None


@register_exporter
class CoreMLExporter(Exporter):
    """CoreML mlprogram bundles (iOS 17+) with an image input; checked off macOS, parity-checked on macOS.

    The input is always a CoreML image (H×W RGB pixels), whatever `request.layout` says: the manifest records it
    as 1×H×W×3 uint8 NHWC with normalisation "baked-in", which is what `runtime.preprocess.prepare_input` feeds.
    Weights of at most WEIGHT_THRESHOLD elements stay float16 in the compressed precisions.
    """

    format = "coreml"
    model_file = MODEL_FILE
    table = (
        Precision("fp32"),
        Precision("fp16", weight_storage="fp16"),
        Precision("w8", weight_storage="int8", small_weight_storage="fp16"),
        Precision("palettized-6bit", weight_storage="lut64", small_weight_storage="fp16"),
        Precision("palettized-4bit", weight_storage="lut16", small_weight_storage="fp16"),
        # Quantized in torch (coremltools.optimize.torch) before conversion; parity runs on image pixels.
        Precision("w8a8", calibrated=True, weight_storage="int8"),
    )
    requires = (("coremltools", "coremltools"),)
    install_hint = "pip install 'edgedepth[coreml]'"
    converter = "coremltools converts torch and TensorFlow models only; its ONNX frontend is gone since version 6"

    def convert(self, request: ExportRequest, precision: Precision, bundle_dir: Path,
                manifest: dict[str, Any]) -> None:
        """Trace (after W8A8 quantization in torch, for w8a8), convert to an mlprogram, compress the weights."""
        import coremltools as ct

        info = request.info
        height, width = info.input_size
        manifest["coreml"] = {
            "deployment_target": DEPLOYMENT_TARGET, "converted_from": "torch.jit.trace",
            "compute_precision": "float32" if precision.is_float_reference else "float16",
            "coremltools_version": ct.__version__,
        }
        input_names, output_name = [spec["name"] for spec in manifest["inputs"]], manifest["outputs"][0]["name"]
        manifest["inputs"] = [image_input_spec(info, name) for name in input_names]
        quantization = _quantization_entry(precision, len(request.calibration or []))
        if quantization:
            manifest["quantization"] = quantization
        images = [ct.ImageType(name=name, shape=(1, 3, height, width), scale=1.0 / 255.0,
                               bias=[-m for m in info.mean], color_layout=ct.colorlayout.RGB) for name in input_names]
        examples = tuple(torch.zeros(1, 3, height, width) for _ in input_names)
        model = request.model.eval()
        if precision.calibrated:
            model = quantize_w8a8(model, _calibration_tensors(request.calibration or [], info))
        mlmodel = to_mlprogram(_ImageToModel(model, info.std), examples, images, output_name,
                               "fp32" if precision.is_float_reference else "fp16")
        skipped = mlmodel.user_defined_metadata[SKIPPED_PASSES_KEY] if SKIPPED_PASSES_KEY in \
            mlmodel.user_defined_metadata else ""
        if skipped:
            manifest["coreml"]["skipped_graph_passes"] = skipped.split(",")
        mlmodel = compress_weights(mlmodel, precision)
        _describe(mlmodel, request, input_names, output_name)
        mlmodel.save(str(bundle_dir / MODEL_FILE))

    def check_bundle(self, bundle: Bundle, precision: Precision) -> dict[str, Any]:
        """Reload, MIL validation, I/O, metadata and weight storage: everything that needs no CoreML runtime."""
        return check_coreml_bundle(bundle, precision)

    def measure_parity(self, request: ExportRequest, precision: Precision, bundle: Bundle) -> dict[str, Any]:
        """Agreement with torch on the same pixels: Core ML on macOS, the MIL interpreter elsewhere."""
        return measure_parity(request, bundle)
