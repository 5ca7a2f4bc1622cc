"""The report row, the unit every measurement is written as: its schema (`ReportRow`, Contract 2), the one builder
the device CLI, the host's measuring stage and the phone profiler all use, and how one value prints in a table."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from runtime.bundle import Bundle
from runtime.jsonsafe import as_float
from runtime.measure import size_mb

MISSING = "—"
# The report row of the torch fp32 student, which every artifact's fidelity is measured against.
STUDENT_REFERENCE = "student:torch-fp32"
# The same role when the pass measures an original teacher network's bundles (`verify --model SPEC`).
ORIGINAL_REFERENCE = "original:torch-fp32"
# Rows of an original's bundles measured beside a student's: their artifact name starts with it.
ORIGINAL_PREFIX = "original:"
BASELINE_FORMAT = "baseline"


class ReportRow(TypedDict, total=False):
    """One row of a Contract-2 report (`report.json` → `rows`): an artifact, a reference (teacher, torch student) or
    a baseline map. Every row has the first six keys; the others appear when measured."""

    artifact: str  # bundle name, "teacher:NAME", STUDENT_REFERENCE or a baseline's name
    path: str  # the bundle's folder (rows measured by `python -m runtime bench` and `edgedepth profile`)
    format: str  # bundle format, "torch", the teacher's backend, or BASELINE_FORMAT
    precision: str
    backend: str  # the runner that ran it ("" when none could be chosen)
    threads: int
    status: Literal["ok", "skipped", "failed"]
    reason: str  # why not ok
    reference: bool  # teacher, torch student and baselines: what artifacts are compared with
    notes: str  # how a baseline map is made, or what an emulation row stands for
    kind: str  # the teacher's output kind
    size_mb: float
    export_checks: dict[str, str]  # {status, summary} of checks run on the saved artifact (CoreML off macOS)
    accuracy: dict[str, dict[str, float]]  # dataset → metrics (absrel, delta1, …; epe, bad2, … for disparity)
    vs_teacher: dict[str, float]  # agreement with the teacher's outputs
    fidelity: dict[str, Any]  # raw-output agreement with the torch fp32 student: vs, psnr_db, max_abs_rel, …
    sanity: dict[str, float]  # mono: input_dependence, mirror, samples
    latency_ms: dict[str, float]  # p50, p90, p99, mean, min, max
    fps: float  # 1000 / p50
    timed_runs: int
    init_ms: float  # the backend's load and compile time
    input_hw: list[int]  # the teacher's timed input size
    speedup_vs_student: float  # fps ÷ the torch fp32 student's fps
    speedup_vs_original: float  # a student bundle's fps ÷ its original's on the same format, precision, backend
    accelerator: dict[str, Any]  # the runner's device_info(): GPU, compute capability, TensorRT version, power mode
    # Rows measured on another device (report.json → `device_rows`, merged by `edgedepth report --merge`):
    device: dict[str, Any]  # {name, machine}: where the row was measured (machine as `python -m runtime bench`)
    delegate: str  # LiteRT delegate benchmark_model used: xnnpack, cpu, gpu or nnapi
    p50_source: str  # "median" (printed by the tool) or "mean" (a benchmark_model that prints no median)
    first_inference_ms: float
    warmup_mean_ms: float
    memory_mb: dict[str, float]  # benchmark_model: footprint delta after init and overall; peak when monitored
    output_diff: dict[str, Any]  # inference_diff: mean |delegate − single-threaded CPU| per output, avg_error = max


def report_row(artifact: str, fmt: str, precision: str, backend: str, threads: int, *, path: Any = None,
               status: str = "ok", reason: str | None = None, **extra: Any) -> ReportRow:
    """A row with its fixed keys in schema order (`path` and `reason` only when given), then `extra` in the order
    given: every producer writes the same keys the same way."""
    row: dict[str, Any] = {"artifact": artifact}
    if path is not None:
        row["path"] = str(path)
    row.update(format=fmt, precision=precision, backend=backend, threads=threads, status=status)
    if reason is not None:
        row["reason"] = reason
    row.update(extra)
    return ReportRow(**row)  # type: ignore[typeddict-item]


def bundle_row(bundle: Bundle, backend: str, threads: int, *, status: str = "ok", reason: str | None = None,
               **extra: Any) -> ReportRow:
    """A bundle's row as a device measures it: name, folder, format and precision from the bundle, then status,
    the model file's size and `extra`."""
    return report_row(bundle.name, bundle.format, bundle.precision, backend, threads, path=bundle.path,
                      status=status, reason=reason, size_mb=size_mb(bundle.model_path), **extra)


def format_value(value: Any, kind: str) -> str:
    """A table cell: numbers by column kind, ∞ for infinite PSNR, — for missing/NaN/non-numbers."""
    number = as_float(value)
    if number is None:
        return MISSING
    if number in (float("inf"), float("-inf")):
        return "∞" if number > 0 else "−∞"
    formats = {"size": "{:.2f}" if abs(number) < 10 else "{:.1f}", "ms": "{:.2f}", "fps": "{:.1f}",
               "speedup": "{:.2f}×", "psnr": "{:.1f}", "absrel": "{:.4f}", "delta": "{:.3f}", "px": "{:.2f}",
               "pct": "{:.1f}", "corr": "{:.2f}"}
    text = formats.get(kind, "{:.4g}").format(number)
    # A value that rounds to zero prints without a sign ("-0.000" reads as a loss where there is none).
    return text[1:] if text.startswith("-") and float(text.rstrip("×")) == 0 else text
