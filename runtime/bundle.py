"""Contract 1, the bundle: a directory with one model file (or package) and a manifest.json that describes
its inputs and outputs and pins every file by sha256. Runtime refuses a bundle whose files do not match.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runtime.atomic import atomic_write_json, being_written, is_temporary
from runtime.errors import BundleError
from runtime.jsonsafe import json_safe
from runtime.validate import Invalid, load_json

MANIFEST = "manifest.json"
# The model file of each format's bundles written before manifests named theirs in `model_file` (exporters now do).
MODEL_FILES = {
    "onnx": "model.onnx",
    "tflite": "model.tflite",
    "coreml": "model.mlpackage",
    "openvino": "model.xml",
    "tensorrt": "model.onnx",  # built into an engine on the device by the bundle's build_engine.sh
}
MONO, STEREO = "mono", "stereo"
TASKS = (MONO, STEREO)
LAYOUTS = ("NCHW", "NHWC")
# What a model's output means; every other module takes these names from here.
RELATIVE = "relative_inverse_depth"  # inverse depth up to an unknown scale and shift
METRIC = "metric_depth"  # depth in metres
DISPARITY = "disparity"  # pixels, left view
OUTPUT_KINDS = (RELATIVE, METRIC, DISPARITY)
REQUIRED = ("name", "task", "format", "precision", "inputs", "outputs", "source")
INPUT_FIELDS = ("name", "shape", "dtype", "layout", "normalization")
OUTPUT_FIELDS = ("name", "shape", "dtype", "kind")
SOURCE_FIELDS = ("model", "teacher", "checkpoint_sha256", "calibration_sha256", "toolkit_version")
NORMALIZATION_FIELDS = ("mean", "std", "scale")
# Element types a manifest may declare (numpy's names): anything else cannot be fed or read back.
DTYPES = ("float32", "float16", "float64", "uint8", "int8", "uint16", "int16", "int32", "int64", "bool")
QUANTIZED_DTYPES = ("int8", "uint8")
_CHUNK = 1 << 20
DIGEST = "digest"  # sha256 of the manifest itself, written last by write_manifest
MAX_DIM = 16384  # a declared dimension larger than this is a lie or a mistake
MAX_ELEMENTS = 1 << 26  # 64 Mi elements (256 MB of float32) per declared tensor
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is a few KB; a CoreML package lists a few hundred files at most
# |std| and |scale| below this (or |mean|, |std|, |scale| above NORM_MAX) turn 0..255 pixels into inf or 1e30s
NORM_MIN, NORM_MAX = 1e-6, 1e6
MAX_NAME = 200  # a bundle's name is a folder name and a report row: printable, one line


@dataclass(frozen=True)
class Bundle:
    """A loaded, sha256-verified bundle directory."""

    path: Path
    manifest: dict[str, Any]
    model_path: Path

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    @property
    def task(self) -> str:
        return self.manifest["task"]

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return self.manifest["inputs"]

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return self.manifest["outputs"]


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_bundle_files(bundle_dir: str | os.PathLike) -> dict[str, str]:
    """{relative posix path: sha256} of every file in the bundle but manifest.json (packages file by file)."""
    root = Path(bundle_dir)
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel != MANIFEST:
            files[rel] = sha256_file(path)
    return files


def model_file(manifest: dict[str, Any]) -> str:
    """The model file's name inside the bundle (`model_file` in the manifest, else the format's default)."""
    return manifest.get("model_file") or MODEL_FILES[manifest["format"]]


def _check_entries(manifest: dict[str, Any], key: str, fields: tuple[str, ...]) -> str | None:
    entries = manifest[key]
    if not isinstance(entries, list) or not entries:
        return f"'{key}' must be a non-empty list"
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return f"{key}[{index}] must be an object"
        missing = [f for f in fields if f not in entry]
        if missing:
            return f"{key}[{index}] lacks {', '.join(missing)}"
        if not isinstance(entry["shape"], list) or not entry["shape"]:
            return f"{key}[{index}].shape must be a non-empty list"
    return None


def _channels(spec: dict[str, Any]) -> int | None:
    """The channel count an input entry declares through its layout (None when not a fixed image tensor)."""
    shape = spec["shape"]
    if len(shape) != 4:
        return None
    channels = shape[1] if spec["layout"] == "NCHW" else shape[3]
    return channels if isinstance(channels, int) and not isinstance(channels, bool) else None


# The resize filters of runtime.resize (named here too: the bundle contract must not import the resampling code).
RESIZE_FILTERS = ("bilinear", "bicubic", "bicubic-antialias", "bilinear-align-corners", "lanczos-pil")


def _check_entry_values(manifest: dict[str, Any]) -> str | None:
    for index, spec in enumerate(manifest["inputs"]):
        if spec["layout"] not in LAYOUTS:
            return f"inputs[{index}].layout '{spec['layout']}' is not one of {', '.join(LAYOUTS)}"
        norm = spec["normalization"]
        complete = isinstance(norm, dict) and all(k in norm for k in NORMALIZATION_FIELDS)
        if norm != "baked-in" and not complete:
            return f"inputs[{index}].normalization must be {{mean, std, scale}} or \"baked-in\""
        problem = _normalization_problem(norm, _channels(spec)) if complete else None
        if problem:
            return f"inputs[{index}].normalization: {problem}"
    for key in ("inputs", "outputs"):
        for index, spec in enumerate(manifest[key]):
            if spec["dtype"] not in DTYPES:
                return f"{key}[{index}].dtype '{spec['dtype']}' is not one of {', '.join(DTYPES)}"
    for key in ("inputs", "outputs"):
        for index, spec in enumerate(manifest[key]):
            problem = _shape_problem(spec["shape"])
            if problem:
                return f"{key}[{index}].shape {spec['shape']}: {problem}"
            resize = spec.get("resize")
            if resize is not None and not (isinstance(resize, dict) and resize.get("filter") in RESIZE_FILTERS):
                return f"{key}[{index}].resize must be {{\"filter\": one of {', '.join(RESIZE_FILTERS)}}}"
    for index, spec in enumerate(manifest["outputs"]):
        if spec["kind"] not in OUTPUT_KINDS:
            return f"outputs[{index}].kind '{spec['kind']}' is not one of {', '.join(OUTPUT_KINDS)}"
        if spec["dtype"] in QUANTIZED_DTYPES and not isinstance(spec.get("quant"), dict):
            return f"outputs[{index}] is {spec['dtype']} but has no quant {{scale, zero_point}}"
    return None


def _finite_numbers(value: Any) -> list[float] | None:
    """The numbers of a scalar or a list of them, or None when any is not a finite number."""
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                             for v in values):
        return None
    return [float(v) for v in values]


def _normalization_problem(norm: dict[str, Any], channels: int | None) -> str | None:
    """mean, std and scale must be finite numbers of a sane size, std and scale non-zero (else every input becomes
    NaN or inf), mean and std one value or one per channel (else they do not broadcast)."""
    for key in NORMALIZATION_FIELDS:
        values = _finite_numbers(norm[key])
        if values is None:
            return f"{key} {norm[key]!r} is not a finite number or a list of them"
        if key != "mean" and 0.0 in values:
            return f"{key} {norm[key]!r} holds a zero"
        if key != "mean" and any(abs(v) < NORM_MIN for v in values):
            return f"{key} {norm[key]!r} holds a value under {NORM_MIN:g} (inputs would overflow)"
        if any(abs(v) > NORM_MAX for v in values):
            return f"{key} {norm[key]!r} holds a value over {NORM_MAX:g}"
        if key == "scale" and isinstance(norm[key], list) and len(values) != 1:
            return f"scale {norm[key]!r} must be one number"
        if isinstance(norm[key], list) and len(values) not in (1, channels):
            return f"{key} has {len(values)} values for {channels} channels (one, or one per channel)"
    return None


def _printable(value: Any) -> bool:
    """Whether a manifest string is one printable line (no escape sequences, newlines or control characters)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME and value.isprintable()


def _shape_problem(shape: list) -> str | None:
    """Declared shapes are trusted to size buffers: sizes must be sane before anything is allocated."""
    fixed = [d for d in shape if isinstance(d, int) and not isinstance(d, bool) and d >= 0]
    if any(d > MAX_DIM for d in fixed):
        return f"a dimension over {MAX_DIM}"
    if math.prod(fixed) > MAX_ELEMENTS:
        return f"over {MAX_ELEMENTS:,} elements"
    return None


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 over the manifest's canonical JSON (its `digest` left out), `files` and their sha256s included:
    catches corruption and accidental edits of the manifest itself, not tampering (an editor can recompute it)."""
    body = {k: v for k, v in manifest.items() if k != DIGEST}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_problem(manifest: Any) -> str | None:
    """The first reason `manifest` breaks Contract 1, or None when it is valid (the `files` map aside)."""
    if not isinstance(manifest, dict):
        return "manifest must be a JSON object"
    missing = [f for f in REQUIRED if f not in manifest]
    if missing:
        return f"manifest lacks {', '.join(missing)}"
    for key in ("name", "precision"):
        if not _printable(manifest[key]):
            return f"{key} must be printable text on one line, at most {MAX_NAME} characters"
    if manifest["task"] not in TASKS:
        return f"task '{manifest['task']}' is not one of {', '.join(TASKS)}"
    if not isinstance(manifest["format"], str) or not manifest["format"]:
        return "format must be a non-empty string"
    named = manifest.get("model_file")
    if named is not None and (not isinstance(named, str) or not _safe_relative(named)):
        return f"model_file '{named}' is not a plain name inside the bundle"
    if named is None and manifest["format"] not in MODEL_FILES:
        return (f"format '{manifest['format']}' is not one of {', '.join(MODEL_FILES)} and the manifest names no "
                "model_file")
    for key, fields in (("inputs", INPUT_FIELDS), ("outputs", OUTPUT_FIELDS)):
        problem = _check_entries(manifest, key, fields)
        if problem:
            return problem
    problem = _check_entry_values(manifest)
    if problem:
        return problem
    source = manifest["source"]
    if not isinstance(source, dict):
        return "source must be an object"
    missing = [f for f in SOURCE_FIELDS if f not in source]
    return f"source lacks {', '.join(missing)}" if missing else None


def write_manifest(bundle_dir: str | os.PathLike, manifest: dict[str, Any]) -> dict[str, Any]:
    """Validate `manifest`, fill `files` with the sha256 of every bundle file, write manifest.json atomically.

    Returns the written manifest (a copy; the argument is not modified). Raises BundleError when a required
    field is missing or the model file is not in the directory yet.
    """
    bundle_dir = Path(bundle_dir)
    result = copy.deepcopy(manifest)
    result.pop("files", None)
    problem = manifest_problem(result)
    if problem:
        raise BundleError(f"bundle {bundle_dir}: {problem}")
    if not (bundle_dir / model_file(result)).exists():
        raise BundleError(f"bundle {bundle_dir}: {model_file(result)} is missing (write it first)")
    result["files"] = hash_bundle_files(bundle_dir)
    result[DIGEST] = manifest_digest(json.loads(json.dumps(json_safe(result))))
    atomic_write_json(bundle_dir / MANIFEST, result)
    return result


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"bundle {root}: {MANIFEST} is missing")
    if not path.resolve().is_relative_to(root.resolve()):
        raise BundleError(f"bundle {root}: {MANIFEST} is a link to a file outside the bundle")
    try:
        return load_json(path, f"bundle {root}:", MAX_MANIFEST_BYTES)
    except Invalid as exc:  # "bundle B: B/manifest.json …" reads better as "bundle B: manifest.json …"
        raise BundleError(str(exc).replace(f"{root}: {path}", f"{root}: {MANIFEST}", 1)) from None


def _safe_relative(name: str) -> bool:
    """Whether a `files` key stays inside the bundle (no absolute paths, no '..')."""
    pure = PurePosixPath(name)
    return bool(name) and not pure.is_absolute() and ".." not in pure.parts and "\\" not in name


def _check_file_names(root: Path, manifest: dict[str, Any]) -> None:
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"bundle {root}: manifest lacks files (sha256 per file)")
    model = model_file(manifest)
    if not any(name == model or name.startswith(model + "/") for name in files):
        raise BundleError(f"bundle {root}: {model} is not listed in the manifest's files")
    for name in files:
        if not _safe_relative(name):
            raise BundleError(f"bundle {root}: file name '{name}' points outside the bundle")


def _verify_files(root: Path, manifest: dict[str, Any]) -> None:
    for name, expected in manifest["files"].items():
        path = root / name
        if not path.is_file():
            raise BundleError(f"bundle {root}: {name} is listed in the manifest but missing")
        if not path.resolve().is_relative_to(root.resolve()):  # a link to a file elsewhere: never hashed
            raise BundleError(f"bundle {root}: {name} is a link to a file outside the bundle")
        got = sha256_file(path)
        if got != expected:
            raise BundleError(
                f"bundle {root}: {name} sha256 mismatch (expected {str(expected)[:16]}…, got {got[:16]}…)")


def load_bundle(path: str | os.PathLike, in_progress: bool = True) -> Bundle:
    """Load and sha256-verify a bundle directory (or its manifest.json); one-line BundleError if unusable. A
    `.partial` folder is never a bundle to a user: one a killed export left is always refused, and one a live
    export is still writing is refused with `in_progress=False` (what users name, what is measured); only the
    exporters' own checks of the folder they write (the default) read it."""
    root = Path(path)
    if root.name == MANIFEST and root.is_file():
        root = root.parent
    if not root.exists():
        raise BundleError(f"bundle {root}: no such directory")
    if not root.is_dir():
        raise BundleError(f"bundle {root}: not a directory")
    if is_temporary(root.resolve().name) and not (in_progress and being_written(root)):
        raise BundleError(f"bundle {root}: the temporary folder of an unfinished or interrupted export, not a "
                          "bundle")
    manifest = _read_manifest(root)
    problem = manifest_problem(manifest)
    if problem:
        raise BundleError(f"bundle {root}: {problem}")
    _check_file_names(root, manifest)
    if DIGEST not in manifest:  # optional, one flipped bit would switch the check off
        raise BundleError(f"bundle {root}: {MANIFEST} has no digest (made by an older edgedepth, or edited; export "
                          "again)")
    if manifest[DIGEST] != manifest_digest(manifest):
        raise BundleError(f"bundle {root}: {MANIFEST} does not match its digest (edited or corrupted after "
                          "export; export again)")
    _verify_files(root, manifest)
    return Bundle(path=root, manifest=manifest, model_path=root / model_file(manifest))
