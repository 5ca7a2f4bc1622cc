"""Checks a CoreML bundle passes on any OS (prediction itself needs macOS): the package reloads, its MIL program
re-loads and type-checks, its inputs/outputs/metadata match the manifest, and its weights have the precision the
manifest promises (float32/float16 consts, int8 `constexpr_affine_dequantize`, 2^bits-entry
`constexpr_lut_to_dense`, 8-bit activations through `quantize`). Any mismatch raises CoreMLCheckError.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from export.precision import Precision
from export.registry import get_exporter
from runtime.bundle import Bundle
from runtime.errors import first_line

# Ops whose `weight` input holds the learned weights the precision applies to.
WEIGHT_OPS = ("conv", "conv_transpose", "linear")
# MIL compressed-weight ops, by the kind of storage they decode.
_AFFINE_OPS = ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")
_LUT_OPS = ("constexpr_lut_to_dense",)
_MULTIARRAY_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "DOUBLE": "float64", "INT32": "int32"}


class CoreMLCheckError(RuntimeError):
    """A CoreML package that does not hold what its manifest says (one-line reason)."""


def check_coreml_bundle(bundle: Bundle, precision: Precision | None = None) -> dict[str, Any]:
    """Every check that needs no CoreML runtime; returns what was verified, raises CoreMLCheckError if off.
    `precision` is the exporter's table row the weights must match (default: the row of the manifest's precision)."""
    import coremltools as ct

    row = precision or _table_row(bundle.precision)

    try:
        model = ct.models.MLModel(str(bundle.model_path), skip_model_load=True)
        spec = model.get_spec()
    except Exception as exc:  # coremltools raises several types for a broken package
        raise CoreMLCheckError(f"{bundle.model_path.name} does not reload: {first_line(exc)}") from exc
    program = _load_program(spec, model.weights_dir)
    io = _check_io(spec, bundle.manifest)
    weights = weight_census(program)
    activations = activation_census(program)
    _check_precision(weights, activations, bundle.manifest, row)
    # Every image input is checked; the first one's record is kept (a stereo pair shares one normalisation).
    normalizations = [_check_baked_normalization(program, spec) for spec in bundle.manifest["inputs"]]
    normalization = normalizations[0]
    metadata = _check_metadata(spec, bundle.manifest)
    storage = dict(sorted(Counter(w["storage"] for w in weights).items()))
    return {
        "status": "ok",
        "summary": _summary(len(list(program.functions["main"].operations)), storage, activations, normalization),
        "reloaded": True,
        "specification_version": int(spec.specificationVersion),
        "mil_ops": len(list(program.functions["main"].operations)),
        "io": io,
        "baked_normalization": normalization,
        "metadata": metadata,
        "weights": storage,
        "weight_elements": dict(sorted(_elements_by_storage(weights).items())),
        "compute": sorted({w["compute"] for w in weights}),
        "quantized_activations": activations,
    }


def _summary(ops: int, storage: dict[str, int], activations: dict[str, int],
             normalization: dict[str, Any] | None) -> str:
    """One line for a report row: what was verified without running the model."""
    weights = ", ".join(f"{count} {kind}" for kind, count in storage.items())
    parts = ["reloads", f"{ops} MIL ops type-check", "I/O and metadata match the manifest", f"weights: {weights}"]
    quantized = sum(activations.values())
    if quantized:
        parts.append(f"{quantized} int8 activation quantize ops")
    if normalization is not None:
        parts.append("ImageNet normalisation baked in")
    return "; ".join(parts)


def _load_program(spec: Any, weights_dir: str) -> Any:
    """The package's MIL program, re-built op by op (types inferred again, weights read from the blob file)."""
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    if spec.WhichOneof("Type") != "mlProgram":
        raise CoreMLCheckError(f"expected an mlprogram, the package holds a {spec.WhichOneof('Type')}")
    if not spec.IsInitialized():
        raise CoreMLCheckError("the model spec lacks required fields")
    try:
        program = load_milproto(spec, spec.specificationVersion, weights_dir)
    except Exception as exc:  # an op that fails type inference, a weight blob that cannot be read
        raise CoreMLCheckError(f"the MIL program does not validate: {first_line(exc)}") from exc
    if "main" not in program.functions:
        raise CoreMLCheckError("the MIL program has no 'main' function")
    return program


def _feature_summary(feature: Any) -> dict[str, Any]:
    """Name, kind, shape and dtype of one model input/output as the spec declares it."""
    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        image = feature.type.imageType
        color = type(image).ColorSpace.Name(image.colorSpace)
        return {"name": feature.name, "type": "image", "shape": [1, int(image.height), int(image.width), 3],
                "dtype": "uint8", "color": color}
    if kind == "multiArrayType":
        array = feature.type.multiArrayType
        dtype_name = type(array).ArrayDataType.Name(array.dataType)
        return {"name": feature.name, "type": "multiarray", "shape": [int(d) for d in array.shape],
                "dtype": _MULTIARRAY_DTYPES.get(dtype_name, dtype_name.lower())}
    return {"name": feature.name, "type": str(kind)}


def _check_io(spec: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    """Inputs and outputs: same names, types, shapes and dtypes as the manifest declares."""
    found = {}
    for key, features in (("inputs", spec.description.input), ("outputs", spec.description.output)):
        got = [_feature_summary(f) for f in features]
        names = [g["name"] for g in got]
        expected = [entry["name"] for entry in manifest[key]]
        if names != expected:
            raise CoreMLCheckError(f"model {key} {names} differ from the manifest's {expected}")
        for entry, summary in zip(manifest[key], got, strict=True):
            _check_feature(key, entry, summary)
        found[key] = got
    return found


def _check_feature(key: str, entry: dict[str, Any], summary: dict[str, Any]) -> None:
    name = entry["name"]
    wants_image = entry.get("coreml_type") == "image"
    if wants_image != (summary["type"] == "image"):
        raise CoreMLCheckError(f"{key} '{name}' is a CoreML {summary['type']}, the manifest says "
                               f"{'image' if wants_image else 'multiarray'}")
    if summary["shape"] != list(entry["shape"]):
        raise CoreMLCheckError(f"{key} '{name}' has shape {summary['shape']}, the manifest says {entry['shape']}")
    if summary["dtype"] != entry["dtype"]:
        raise CoreMLCheckError(f"{key} '{name}' is {summary['dtype']}, the manifest says {entry['dtype']}")
    if wants_image and summary["color"] != str(entry.get("color", "RGB")).upper():
        raise CoreMLCheckError(f"{key} '{name}' takes {summary['color']}, the manifest says {entry.get('color')}")


def baked_affine(program: Any, input_name: str) -> tuple[list[float], list[float]] | None:
    """Per-channel (gain, offset) the program applies to an image input before its first non-elementwise op,
    found by running the leading mul/add/sub/cast chain on pixel values 0 and 1; None if there is no chain."""
    ops = list(program.functions["main"].operations)
    current = input_name
    values = np.stack([np.zeros((1, 3, 1, 1)), np.ones((1, 3, 1, 1))]).astype(np.float64)
    applied = False
    for op in ops:
        names = {name: var for name, var in op.inputs.items() if not isinstance(var, (list, tuple))}
        if not any(var.name == current for var in names.values()):
            continue
        if op.op_type not in ("mul", "add", "sub", "cast"):
            break
        if op.op_type != "cast":
            other = names["y"] if names["x"].name == current else names["x"]
            if other.val is None:
                break
            const = np.asarray(other.val, dtype=np.float64)
            if op.op_type == "mul":
                values = values * const
            elif op.op_type == "add":
                values = values + const
            else:
                values = values - const if names["x"].name == current else const - values
        current, applied = op.outputs[0].name, True
    if not applied:
        return None
    gain = (values[1] - values[0]).reshape(-1)
    offset = values[0].reshape(-1)
    return [float(g) for g in gain], [float(o) for o in offset]


def _check_baked_normalization(program: Any, spec: dict[str, Any]) -> dict[str, Any] | None:
    """A baked-in image input must map pixel x to (x·scale − mean)/std per channel, as the manifest records."""
    if spec.get("normalization") != "baked-in":
        return None
    baked = spec.get("baked_in")
    if not isinstance(baked, dict):
        raise CoreMLCheckError(f"input '{spec['name']}' is baked-in but has no baked_in {{mean, std, scale}}")
    found = baked_affine(program, spec["name"])
    if found is None:
        raise CoreMLCheckError(f"input '{spec['name']}' has no normalisation ops in the program")
    mean, std = np.asarray(baked["mean"], dtype=np.float64), np.asarray(baked["std"], dtype=np.float64)
    want_gain, want_offset = float(baked["scale"]) / std, -mean / std
    gain, offset = np.asarray(found[0]), np.asarray(found[1])
    # float16 constants carry about 3 significant digits.
    if not (np.allclose(gain, want_gain, rtol=2e-3, atol=0) and np.allclose(offset, want_offset, rtol=2e-3, atol=1e-3)):
        raise CoreMLCheckError(f"input '{spec['name']}' is normalised as x*{np.round(gain, 5).tolist()} + "
                               f"{np.round(offset, 4).tolist()}, the manifest says (x*{baked['scale']:.6g} - mean)/std")
    return {"gain": [round(g, 6) for g in found[0]], "offset": [round(o, 5) for o in found[1]]}


def _check_metadata(spec: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    """Author, version, description and the user-defined output kind / input size the exporter writes."""
    meta = spec.description.metadata
    user = dict(meta.userDefined)
    found = {"author": meta.author, "license": meta.license, "version": meta.versionString,
             "short_description": meta.shortDescription,
             "user_defined": {k: v for k, v in sorted(user.items()) if k.startswith("edgedepth.")}}
    missing = [k for k in ("author", "license", "version", "short_description") if not found[k]]
    if missing:
        raise CoreMLCheckError(f"model metadata lacks {', '.join(missing)}")
    expected = {"edgedepth.output_kind": manifest["outputs"][0]["kind"],
                "edgedepth.precision": manifest["precision"]}
    for key, value in expected.items():
        if user.get(key) != value:
            raise CoreMLCheckError(f"model metadata {key} is {user.get(key)!r}, the manifest says {value!r}")
    if "edgedepth.input_size" not in user:
        raise CoreMLCheckError("model metadata lacks edgedepth.input_size")
    return found


def _dtype(var: Any) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(var.dtype)


def _storage(producer: Any) -> str:
    """How one weight is stored: 'fp16'/'fp32' const, 'int8'/'uint8' affine, 'lutN' palette, or the op type."""
    kind = producer.op_type
    if kind == "const":
        return _dtype(producer.outputs[0])
    if kind in _AFFINE_OPS:
        data = producer.quantized_data if kind == "constexpr_affine_dequantize" else producer.data
        return _dtype(data)
    if kind in _LUT_OPS:
        lut = producer.lut.val
        # iOS 16/17: lut is (entries,); iOS 18: (..., entries, vector size).
        entries = lut.shape[0] if lut.ndim == 1 else lut.shape[-2]
        return f"lut{entries}"
    return kind


def weight_census(program: Any) -> list[dict[str, Any]]:
    """One entry per conv/linear weight of the main function: {op, storage, elements, shape, compute dtype}."""
    census = []
    for op in program.functions["main"].operations:
        if op.op_type not in WEIGHT_OPS:
            continue
        weight = op.weight
        shape = [int(d) for d in weight.shape]
        elements = 1
        for dim in shape:
            elements *= dim
        producer = weight.op
        storage = _storage(producer) if producer is not None else "input"
        census.append({"op": op.name, "storage": storage, "elements": elements, "shape": shape,
                       "compute": _dtype(op.outputs[0])})
    return census


def activation_census(program: Any) -> dict[str, int]:
    """Count of `quantize` ops by output dtype (activations held in 8 bits between ops)."""
    counts: Counter[str] = Counter()
    for op in program.functions["main"].operations:
        if op.op_type == "quantize":
            counts[_dtype(op.outputs[0])] += 1
    return dict(sorted(counts.items()))


def _elements_by_storage(weights: list[dict[str, Any]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for weight in weights:
        totals[weight["storage"]] += weight["elements"]
    return totals


def _table_row(name: str) -> Precision:
    """The CoreML exporter's table row for precision `name`; CoreMLCheckError for one it does not write."""
    try:
        return get_exporter("coreml").precision(name)
    except ValueError as exc:
        raise CoreMLCheckError(f"no weight-precision rule for precision '{name}'") from exc


def expected_storage(precision: Precision, manifest: dict[str, Any]) -> tuple[str, str | None, int]:
    """(storage of weights above the threshold, storage below it or None if the same, threshold) for a bundle:
    the table row's storage, the threshold the manifest's quantization entry records."""
    threshold = int((manifest.get("quantization") or {}).get("weight_threshold", 0))
    return precision.weight_storage, precision.small_weight_storage, threshold


def _check_precision(weights: list[dict[str, Any]], activations: dict[str, int], manifest: dict[str, Any],
                     precision: Precision) -> None:
    """Weights above the threshold must use the promised storage (the rest stay float16); w8a8 needs int8 acts."""
    if not weights:
        raise CoreMLCheckError("the MIL program has no conv/linear weights to check")
    large, small, threshold = expected_storage(precision, manifest)
    for weight in weights:
        # coremltools compresses weights with more than `threshold` elements and rank > 1.
        compressible = weight["elements"] > threshold and len(weight["shape"]) > 1
        want = large if compressible or small is None else small
        if weight["storage"] != want:
            raise CoreMLCheckError(
                f"{manifest['precision']} weight of {weight['op']} ({weight['elements']} elements) is stored as "
                f"{weight['storage']}, expected {want}")
    if small is not None and not any(w["storage"] == large for w in weights):
        raise CoreMLCheckError(f"{manifest['precision']}: no weight is stored as {large}")
    compute = {w["compute"] for w in weights}
    want_compute = {"fp32"} if precision.is_float_reference else {"fp16"}
    if compute != want_compute:
        raise CoreMLCheckError(f"{manifest['precision']} convolutions compute in {sorted(compute)}, "
                               f"expected {sorted(want_compute)}")
    quantized = sum(activations.values())
    if precision.calibrated:
        if not quantized or set(activations) - {"int8", "uint8"}:
            raise CoreMLCheckError(f"w8a8 needs 8-bit quantize ops on activations, found {activations or 'none'}")
    elif quantized:
        raise CoreMLCheckError(f"{manifest['precision']} should keep float activations, found quantize ops "
                               f"{activations}")
