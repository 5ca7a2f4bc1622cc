"""`edgedepth profile --adb`: time TFLite bundles on an Android phone with LiteRT's own `benchmark_model`
(and, optionally, compare the delegate's outputs with the CPU's with `inference_diff_run_eval`), and write the
rows as a device JSON shaped like `python -m runtime bench --json`, ready for `edgedepth report --merge`.

Everything the command can refuse (a bundle that is not TFLite, a missing binary, an existing output, no adb,
no device, output that is not benchmark_model's) is refused before device.json is written, and nothing else is."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedepth.errors import EdgeDepthError
from edgedepth.stages.adb import Adb, device_machine, find_adb
from runtime.bundle import Bundle, load_bundle, sha256_file
from runtime.host.litert_benchmark import (
    TOOL,
    benchmark_fields,
    benchmark_flags,
    diff_fields,
    diff_flags,
    parse_benchmark_output,
    parse_inference_diff,
)
from runtime.rows import bundle_row

REMOTE_DIR = "/data/local/tmp/edgedepth"
OUT_FILE = "device.json"


@dataclass
class ProfileRequest:
    """What to time where: bundles, the tools pushed to the phone, the run settings and the output folder."""

    bundles: list[Path]
    benchmark_binary: Path
    out: Path
    serial: str | None = None
    adb_path: str | None = None
    threads: int = 2
    runs: int = 50
    warmup: int = 10
    delegates: list[str] = field(default_factory=lambda: ["xnnpack"])
    inference_diff: Path | None = None
    diff_runs: int = 20
    peak_memory: bool = False
    force: bool = False


def tflite_bundles(paths: list[Path]) -> list[Bundle]:
    """The bundles, sha256-checked; a bundle of another format is refused (benchmark_model reads TFLite only)."""
    bundles = [load_bundle(path) for path in paths]
    for bundle in bundles:
        if bundle.format != "tflite":
            raise EdgeDepthError(f"bundle {bundle.path} is format {bundle.format}; profile --adb times TFLite bundles "
                                 "only (export with --format tflite)")
    return bundles


def _check_tool(path: Path | None, flag: str) -> None:
    if path is not None and not Path(path).is_file():
        raise EdgeDepthError(f"{flag} {path}: no such file")


def _remote_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "model"


def _failure(output: str, code: int) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR", "FATAL")) or "rror" in line]
    return (errors or lines or [f"exit {code}"])[-1][:500] + f" (exit {code})"


def _measure(adb: Adb, bundle: Bundle, remote_model: str, request: ProfileRequest, delegate: str,
             tools: dict[str, str]) -> dict[str, Any]:
    """One bundle with one delegate: benchmark_model's latency and memory, then inference_diff's output
    difference when that tool was given."""
    row = bundle_row(bundle, f"{TOOL} ({delegate})", request.threads, delegate=delegate)
    flags = benchmark_flags(remote_model, request.threads, request.runs, request.warmup, delegate,
                            request.peak_memory)
    code, output = adb.shell([tools["benchmark"], *flags])
    if code != 0:
        return {**row, "status": "failed", "reason": f"benchmark_model: {_failure(output, code)}"}
    row.update(benchmark_fields(parse_benchmark_output(output)))
    if "diff" in tools:
        code, output = adb.shell([tools["diff"], *diff_flags(remote_model, request.threads, request.diff_runs,
                                                              delegate)])
        if code != 0:
            row["output_diff"] = {"delegate": delegate, "reason": f"inference_diff: {_failure(output, code)}"}
        else:
            row.update(diff_fields(parse_inference_diff(output), delegate))
    return row


def _push_tools(adb: Adb, request: ProfileRequest) -> dict[str, str]:
    """Push benchmark_model (and inference_diff_run_eval) to REMOTE_DIR and make them executable."""
    adb.shell_checked(["mkdir", "-p", REMOTE_DIR])
    tools = {"benchmark": (request.benchmark_binary, f"{REMOTE_DIR}/benchmark_model")}
    if request.inference_diff is not None:
        tools["diff"] = (request.inference_diff, f"{REMOTE_DIR}/inference_diff_run_eval")
    for local, remote in tools.values():
        adb.push(local, remote)
        adb.shell_checked(["chmod", "+x", remote])
    return {key: remote for key, (_, remote) in tools.items()}


def run_profile(request: ProfileRequest) -> dict[str, Any]:
    """Time every bundle with every delegate on the phone; returns the device JSON (not written here)."""
    from edgedepth.outputs import check_writable

    for delegate in request.delegates:
        benchmark_flags("x", 1, 1, 0, delegate)  # an unknown delegate is refused before any work
    _check_tool(request.benchmark_binary, "--benchmark-binary")
    _check_tool(request.inference_diff, "--inference-diff")
    bundles = tflite_bundles(request.bundles)
    check_writable(request.out / OUT_FILE, request.force)
    adb = Adb(find_adb(request.adb_path), request.serial)
    adb.check_device()
    machine = device_machine(adb.properties(), request.threads)
    tools = _push_tools(adb, request)
    rows = []
    for bundle in bundles:
        remote_model = f"{REMOTE_DIR}/{_remote_name(bundle.name)}.tflite"
        adb.push(bundle.model_path, remote_model)
        rows += [_measure(adb, bundle, remote_model, request, delegate, tools) for delegate in request.delegates]
    settings = {"threads": request.threads, "warmup": request.warmup, "iters": request.runs,
                "delegates": list(request.delegates), "inputs": "random (benchmark_model's own)",
                "tool": TOOL, "benchmark_binary_sha256": sha256_file(request.benchmark_binary)}
    if request.inference_diff is not None:
        settings.update(diff_runs=request.diff_runs,
                        inference_diff_sha256=sha256_file(request.inference_diff))
    return {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "source": "edgedepth profile --adb", "machine": machine, "settings": settings, "rows": rows}


def profile_table(rows: list[dict[str, Any]]) -> str:
    """A compact plain-text table of profile rows, then one line per failed row."""
    from runtime.rows import format_value

    headers = ["Artifact", "Backend", "Thr", "Status", "p50 ms", "FPS", "init ms", "mem MB", "diff vs CPU"]
    lines = [[str(r["artifact"]), str(r["backend"]), str(r["threads"]), str(r["status"]),
              format_value((r.get("latency_ms") or {}).get("p50"), "ms"), format_value(r.get("fps"), "fps"),
              format_value(r.get("init_ms"), "fps"),
              format_value((r.get("memory_mb") or {}).get("peak", (r.get("memory_mb") or {}).get("overall")),
                           "size"),
              format_value((r.get("output_diff") or {}).get("avg_error"), "general")] for r in rows]
    widths = [max(len(c) for c in column) for column in zip(headers, *lines, strict=True)]
    text = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
            for row in [headers, *lines]]
    return "\n".join(text + [f"{r['artifact']} ({r['backend']}): {r['reason']}" for r in rows if r["status"] != "ok"])


def adb_target(adb: str | None, bundles: list[Path]) -> tuple[str | None, list[Path]]:
    """(serial, bundles) from `--adb [SERIAL] BUNDLE...`: argparse hands the first bundle to --adb when no serial
    was given, and a bundle directory is never a serial."""
    if adb and Path(adb).is_dir():
        return None, [Path(adb), *bundles]
    if not bundles:
        raise EdgeDepthError("name at least one TFLite BUNDLE to profile")
    return adb or None, list(bundles)


def write_profile(request: ProfileRequest) -> dict[str, Any]:
    """Run the profile and write it atomically to `request.out`/device.json; returns what was written."""
    from runtime.atomic import atomic_write_json

    result = run_profile(request)
    atomic_write_json(request.out / OUT_FILE, result)
    return result
