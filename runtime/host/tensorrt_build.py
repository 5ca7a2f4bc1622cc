"""What a TensorRT bundle holds beside model.onnx: build_engine.sh, the trtexec command lines that turn it into an
engine on the device that will run it (an engine is tied to its GPU and TensorRT version, so it is never
shipped), and its manifest entries; written the same way by the exporter and by `edgedepth quantize`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runtime.host.tensorrt_rules import require_tensorrt_rules

MODEL_FILE = "model.onnx"
BUILD_SCRIPT = "build_engine.sh"

# trtexec precision flags for TensorRT 10's weakly typed build, per bundle precision. Explicit Q/DQ int8 still
# needs --int8 there, and --fp16 lets the layers left in float (the output head) run in half precision.
WEAKLY_TYPED_FLAGS = {"fp32": "", "fp16": "--fp16", "int8": "--int8 --fp16"}
DEFAULT_WORKSPACE_MIB = 1024

SCRIPT = """#!/bin/sh
# Build the TensorRT engine of the edgedepth bundle '{name}' ({precision}) on the machine that will run it.
#   sh build_engine.sh            strongly typed (TensorRT >= 10; the only mode TensorRT 11 has)
#   sh build_engine.sh weakly     TensorRT 10 weakly typed, precision flags: {weak_flags_or_none}
#   DLA_CORE=0 sh build_engine.sh weakly   on a Jetson's DLA, falling back to the GPU for what DLA cannot run
# Environment: TRTEXEC (default: trtexec on PATH, else JetPack's /usr/src/tensorrt/bin/trtexec),
#              ENGINE (default model.engine), WORKSPACE_MIB (default {workspace}), DLA_CORE (unset: GPU only).
set -eu
cd "$(dirname "$0")"
TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}}"
ENGINE="${{ENGINE:-model.engine}}"
WORKSPACE_MIB="${{WORKSPACE_MIB:-{workspace}}}"
MODE="${{1:-typed}}"
case "$MODE" in
  typed)  FLAGS="--stronglyTyped" ;;
  weakly) FLAGS="{weak_flags}" ;;
  *) echo "usage: sh build_engine.sh [typed|weakly]" >&2; exit 2 ;;
esac
if [ -n "${{DLA_CORE:-}}" ]; then
  if [ "$MODE" = typed ]; then echo "DLA needs a weakly typed build: sh build_engine.sh weakly" >&2; exit 2; fi
  FLAGS="$FLAGS --useDLACore=$DLA_CORE --allowGPUFallback"
fi
# Input shapes are static ({shapes}), so no optimisation profile is needed.
exec "$TRTEXEC" --onnx=model.onnx --saveEngine="$ENGINE" --memPoolSize=workspace:"$WORKSPACE_MIB" $FLAGS
"""


def build_script(name: str, precision: str, shapes: str) -> str:
    """The shell script for one bundle: strongly typed by default, TensorRT 10 weakly typed and DLA on request."""
    flags = WEAKLY_TYPED_FLAGS[precision]
    return SCRIPT.format(name=name, precision=precision, weak_flags=flags, weak_flags_or_none=flags or "none",
                         workspace=DEFAULT_WORKSPACE_MIB, shapes=shapes)


def _umask() -> int:
    """The process umask (read by setting it and putting it back), so the script's mode follows it."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def finish_bundle(bundle_dir: Path, manifest: dict[str, Any]) -> None:
    """Check model.onnx in `bundle_dir` against TensorRT's rules (TensorRTRuleViolation, one line, if it breaks
    one), write build_engine.sh for the manifest's precision, and record both in the manifest."""
    precision = manifest["precision"]
    report = require_tensorrt_rules(Path(bundle_dir) / MODEL_FILE, per_channel=precision == "int8")
    shapes = ", ".join(f"{spec['name']} {'x'.join(map(str, spec['shape']))}" for spec in manifest["inputs"])
    script = Path(bundle_dir) / BUILD_SCRIPT
    script.write_text(build_script(manifest["name"], precision, shapes))
    script.chmod(0o755 & ~_umask())
    manifest["opset"] = report.counts["opset"]
    manifest["tensorrt"] = {"build": BUILD_SCRIPT, "min_version": "10.0", "explicit_quantization": precision == "int8",
                            "emulated_by": "onnxruntime on the CPU, Q/DQ run as operators"}
    manifest["checks"] = {"status": "ok", "summary": report.summary()}
