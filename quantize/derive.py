"""A quantized bundle derived from an fp32 bundle: same inputs and outputs, a new model file, the method recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quantize.calibration import calibration_sha256
from quantize.verify import verify_quantized
from runtime.atomic import atomic_directory
from runtime.bundle import Bundle, load_bundle, write_manifest
from runtime.errors import ArtifactFailed, BundleError, RequestError, one_line


def derive_bundle(fp32: Bundle, out_dir: Path, name: str, precision: str, calibration: list,
                  write_model: Callable[[Path], dict[str, Any]], force: bool = False,
                  finish: Callable[[Path, dict[str, Any]], None] | None = None) -> Bundle:
    """Write `out_dir/name` atomically: `write_model(tmp_dir)` writes the model file(s) and returns the manifest's
    "quantization" entry; the manifest is the fp32 one with its name, precision and calibration updated, then
    `finish(tmp_dir, manifest)` adds what the format keeps beside the model file (when given). The new bundle is
    then run on its backend beside the fp32 one (`quantize.verify`): one that does not load or run is never kept
    (ArtifactFailed), and the agreement is the manifest's "parity"."""
    model_file = fp32.model_path.name
    final = Path(out_dir) / name
    with atomic_directory(final, force) as tmp:
        try:
            quantization = write_model(tmp)
        except (BundleError, ArtifactFailed, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # a model file the quantizer cannot read (corrupt, yet re-hashed) is the input's
            raise BundleError(f"cannot quantize {fp32.name}/{model_file}: {one_line(exc)}") from exc
        manifest: dict[str, Any] = json.loads(json.dumps(fp32.manifest))
        for stale in ("files", "parity", "checks"):
            manifest.pop(stale, None)
        manifest["name"] = name
        manifest["precision"] = precision
        manifest["source"]["calibration_sha256"] = calibration_sha256(calibration) if calibration else None
        manifest["quantization"] = {**quantization,
                                    "from": {"name": fp32.name, "sha256": fp32.manifest["files"][model_file]}}
        if finish is not None:
            finish(tmp, manifest)
        write_manifest(tmp, manifest)
        manifest["parity"] = verify_quantized(fp32, tmp, calibration)
        write_manifest(tmp, manifest)
    return load_bundle(final)


def require_fp32(fp32: Bundle, fmt: str, method: str) -> None:
    """One-line refusal of a bundle the method cannot start from."""
    if fp32.format != fmt or fp32.precision != "fp32":
        raise RequestError(f"{method} needs an fp32 {fmt} bundle, got {fp32.format}/{fp32.precision}")
