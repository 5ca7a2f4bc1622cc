"""The measuring stage, in one pass: the checkpoint is read once, the teacher built once, and each bundle's runner
loaded once to give its outputs on the evaluation set (accuracy, fidelity, sanity) and its latency on one fixed
input; the result is a Contract-2 report (rows in the order: teacher, torch student, baselines, artifacts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.checkpoint import StudentInfo
from edgedepth.data import get_dataset
from edgedepth.errors import EdgeDepthError
from edgedepth.evaluation.items import (
    PROCEDURAL,
    EvalItem,
    add_accuracy_drop,
    alignment_text,
    baseline_outputs,
    benchmark_sets,
    build_eval_items,
    collect_outputs,
    evaluation_sets,
    ground_truth_input_dependence,
    outputs_on_pixels,
    sample_feed,
    sanity_items,
    sanity_metrics,
    sgbm_row_metrics,
    takes_pixels,
    teacher_row_metrics,
)
from edgedepth.evaluation.pictures import write_pictures
from edgedepth.originals import Original
from edgedepth.stages.export import ExportFailure
from edgedepth.tasks import Task, get_task
from edgedepth.teachers.base import Teacher
from edgedepth.teachers.cache import build_teacher
from edgedepth.torch_runner import TorchRunner
from edgedepth.version import __version__
from runtime.bench import machine_info, time_callable
from runtime.bundle import DISPARITY, Bundle
from runtime.measure import Measurement, Timing, measure_bundle, measure_loaded, size_mb
from runtime.protocols import ALIGNMENTS, check_alignment, default_alignment, get_protocol
from runtime.rows import (
    BASELINE_FORMAT,
    ORIGINAL_PREFIX,
    ORIGINAL_REFERENCE,
    STUDENT_REFERENCE,
    ReportRow,
    report_row,
)
from runtime.runners.base import Runner
from runtime.runners.registry import emulation_for_format
from runtime.threads import capped_threads


@dataclass
class EvalConfig:
    """What the measuring stage measures on, and how."""

    procedural_scenes: int = 32  # the sanity checks and held-out δ1 need ≥ 32 unrelated scenes to mean much
    procedural_seed: int = 1_000_003  # far from any training seed: held-out scenes
    motorcycle_width: int = 448
    threads: int = 2
    warmup: int = 10
    iters: int = 50
    images: str | None = None  # evaluate on this photo folder instead of the student's held-out photos
    teacher_cache: str | None = None  # teacher-output cache directory (None: predictions computed afresh)
    benchmarks: list[tuple[str, str]] = field(default_factory=list)  # (dataset, folder): instead of the embedded sets
    protocols: list[str] = field(default_factory=list)  # a protocol per benchmark that offers several
    limit: int | None = None  # the first N samples of each benchmark
    alignment: str | None = None  # depth alignment (runtime.protocols.ALIGNMENTS); None: by output kind

    @property
    def timing(self) -> Timing:
        return Timing(self.warmup, self.iters)


def teacher_of(identity: dict, cache: str | None = None) -> Teacher:
    """Rebuild the teacher a checkpoint was distilled from (its identity names it and its parameters), behind
    the output cache when a cache directory is given."""
    if "name" not in identity:
        raise EdgeDepthError("the student checkpoint does not name its teacher; measuring needs one as reference")
    return build_teacher(identity.get("reference", identity["name"]), identity.get("params", {}), cache)


@dataclass
class _Accuracy:
    """The evaluation every runner goes through: raw outputs on the same items (and, for mono, the sanity
    numbers), scored against the teacher, ground truth and the torch student's outputs."""

    info: StudentInfo
    items: list[EvalItem]
    reference_raw: list[np.ndarray] | None = None
    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    pixel_references: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @property
    def task(self) -> Task:
        return get_task(self.info.task)

    def evaluate(self, runner: Any) -> tuple[list[np.ndarray], dict | None]:
        """(raw outputs on every item, sanity numbers or None) of a loaded runner."""
        specs, output = runner.bundle.inputs, runner.bundle.outputs[0]["name"]
        raw = collect_outputs(runner.infer, specs, output, self.items)
        sanity = sanity_metrics(runner.infer, specs, output, self.items, raw) if self.task.sanity else None
        return raw, sanity

    def reference_on_pixels(self, student: TorchRunner, bundle: Bundle) -> list[np.ndarray] | None:
        """The torch student's outputs on the 8-bit pixels a bundle with image inputs receives (CoreML's), so its
        fidelity measures the model and not the rounding of its input; None for other bundles."""
        if not takes_pixels(bundle.inputs):
            return None
        key = repr(bundle.inputs)
        if key not in self.pixel_references:
            self.pixel_references[key] = outputs_on_pixels(student.infer, student.bundle.inputs, bundle.inputs,
                                                           student.bundle.outputs[0]["name"], self.items)
        return self.pixel_references[key]

    def row_fields(self, name: str, result: tuple[list[np.ndarray], dict | None],
                   reference: list[np.ndarray] | None = None, compare: bool = True) -> dict:
        """A row's metrics from `evaluate`'s result; the first row scored (the torch student) is the reference,
        unless `reference` (the student on the artifact's own 8-bit pixels) is given. Without `compare` (another
        model: an original beside a student), no fidelity, and its outputs are not kept for the pictures."""
        raw, sanity = result
        if not compare:
            fields = self.task.row_metrics(raw, None, self.items, self.info.output_kind)
            return {**fields, "sanity": sanity} if sanity is not None else fields
        if self.reference_raw is None:
            self.reference_raw = raw
        self.outputs[name] = raw
        fields = self.task.row_metrics(raw, self.reference_raw if reference is None else reference, self.items,
                                       self.info.output_kind)
        if reference is not None and "fidelity" in fields:
            fields["fidelity"]["inputs"] = "8-bit pixels"
        if sanity is not None:
            fields["sanity"] = sanity
        return fields

    def baseline_rows(self, threads: int) -> list[ReportRow]:
        """Rows for maps that ignore the image (a constant, a top-to-bottom gradient), scored like any artifact:
        what a student has to beat to show it reads its input."""
        height, width = self.info.input_size
        rows = []
        for name, (raw, notes) in baseline_outputs(self.items, height, width, self.info.output_kind).items():
            rows.append(_row(name, BASELINE_FORMAT, "fp32", "numpy", threads, reference=True, notes=notes,
                             **self.task.row_metrics(raw, None, self.items, self.info.output_kind)))
        return rows


def _row(artifact: str, fmt: str, precision: str, backend: str, threads: int, **extra: Any) -> ReportRow:
    """A host row: `report_row` at the thread count this machine really runs."""
    return report_row(artifact, fmt, precision, backend, capped_threads(threads), **extra)


def _export_checks(bundle: Bundle) -> dict:
    """{status, summary} of the checks the exporter ran on the saved artifact (CoreML's off-macOS checks)."""
    checks = bundle.manifest.get("checks")
    if not isinstance(checks, dict):
        return {}
    return {"status": checks.get("status", "ok"), "summary": checks.get("summary", "checked")}


def _measured_row(row: ReportRow, measured: Measurement, accuracy: _Accuracy | None,
                  reference: list[np.ndarray] | None = None, compare: bool = True) -> ReportRow:
    """Fill a row from one runner's measurement: status, backend, metrics (fidelity against `reference` when
    given), latency."""
    row["backend"] = measured.backend or row["backend"]
    row.update(measured.status_fields())
    if measured.device:
        row["accelerator"] = measured.device
    if not measured.ok:
        return row
    if accuracy is not None:
        row.update(accuracy.row_fields(row["artifact"], measured.result, reference, compare))
    row.update(measured.latency_fields())
    return row


def check_eval_request(info: StudentInfo, config: EvalConfig) -> None:
    """One-line refusals of benchmark options that do not fit: --limit or --protocol without --dataset, --images
    with it, an alignment for a stereo student or one its output kind cannot take."""
    if not config.benchmarks and (config.limit is not None or config.protocols):
        raise EdgeDepthError("--limit and --protocol go with --dataset NAME:DIR")
    if config.benchmarks and config.images is not None:
        raise EdgeDepthError("--images and --dataset each choose the evaluation data: give one of them")
    if config.alignment is not None:
        if info.output_kind == DISPARITY:
            raise EdgeDepthError("--alignment applies to depth students; disparity is scored as predicted")
        check_alignment(config.alignment, info.output_kind)


class _Pass:
    """One measuring pass over a student, its teacher and its bundles (see the module docstring)."""

    def __init__(self, student: TorchRunner, config: EvalConfig, accuracy: bool, timing: bool) -> None:
        self.student, self.config, self.info = student, config, student.info
        self.teacher = teacher_of(self.info.teacher, config.teacher_cache if accuracy else None)
        self.datasets: dict = {}
        self.accuracy: _Accuracy | None = None
        self.protocols: dict[str, str] = {}
        if accuracy:
            check_eval_request(self.info, config)
            if config.benchmarks:
                self.datasets, self.protocols = benchmark_sets(self.info.task, config.benchmarks, config.protocols,
                                                               config.limit)
            else:
                self.datasets = evaluation_sets(self.info, config.procedural_scenes, config.procedural_seed,
                                                config.motorcycle_width, config.images)
            items = build_eval_items(self.datasets, self.teacher, self.protocols, config.alignment)
            self.accuracy = _Accuracy(self.info, items)
        # Latency: every artifact on the same real picture, prepared for its own input spec.
        self.sample = get_dataset("motorcycle", max_width=config.motorcycle_width)[0] if timing else None

    def feed(self) -> Callable[[Bundle], dict[str, np.ndarray]] | None:
        sample = self.sample
        return None if sample is None else (lambda bundle: sample_feed(sample, bundle.inputs))

    def evaluate(self) -> Callable[[Any], Any] | None:
        return None if self.accuracy is None else self.accuracy.evaluate

    def teacher_row(self) -> ReportRow:
        threads = self.config.threads
        row = _row(f"teacher:{self.teacher.name}", self.teacher.backend, "fp32", self.teacher.backend, threads,
                   reference=True)
        if self.accuracy is not None:
            row.update(kind=self.teacher.kind, **teacher_row_metrics(self.accuracy.items))
        if self.sample is not None:
            # The real teacher is timed, never its output cache; it is slow, so fewer runs.
            real = getattr(self.teacher, "teacher", self.teacher)
            stats = time_callable(lambda: real.predict(self.sample), max(2, self.config.warmup // 3),
                                  max(5, self.config.iters // 3))
            row.update(Measurement(row["artifact"], latency=stats).latency_fields(),
                       input_hw=list(self.sample.left.shape[:2]))
        return row

    @property
    def of_original(self) -> bool:
        """Whether the pass measures an original's bundles (against the torch original) rather than a student's."""
        return self.student.student.name == ORIGINAL_REFERENCE

    def student_row(self) -> ReportRow:
        name = self.student.student.name
        measured = measure_loaded(self.student, name, self.evaluate(), self.feed(), self.config.timing)
        weights = self.student.checkpoint
        size = size_mb(weights) if weights.is_file() else round(
            sum(p.numel() * p.element_size() for p in self.student.model.parameters()) / 1e6, 3)
        row = _row(name, "torch", "fp32", "torch", self.config.threads, reference=True, size_mb=size)
        return _measured_row(row, measured, self.accuracy)

    def bundle_rows(self, bundle: Bundle, student_row: ReportRow) -> list[ReportRow]:
        """The bundle's row through its format's runner; where that runner cannot run here and the format has a
        CPU emulation (TensorRT), a second row with the emulation's accuracy and fidelity, untimed."""
        row = self.bundle_row(bundle, student_row)
        emulation = emulation_for_format(bundle.format)
        if row["status"] != "skipped" or emulation is None or self.accuracy is None:
            return [row]
        return [row, self.bundle_row(bundle, student_row, emulation)]

    def bundle_row(self, bundle: Bundle, student_row: ReportRow, emulation: type[Runner] | None = None) -> ReportRow:
        # An original's bundle beside a student's: timed and scored like any artifact, but not compared with the
        # student (another model, often at another size); `verify --model` measures its own fidelity.
        beside = not self.of_original and bool((bundle.manifest.get("source") or {}).get("original"))
        name = f"{ORIGINAL_PREFIX}{bundle.name}" if beside else bundle.name
        artifact = name if emulation is None else f"{name} ({emulation.name})"
        row = _row(artifact, bundle.format, bundle.precision, "", self.config.threads,
                   size_mb=size_mb(bundle.model_path))
        checks = _export_checks(bundle)
        if checks:
            row["export_checks"] = checks
        if emulation is not None:
            row["notes"] = f"emulated numerics ({emulation.name}): " + (
                emulation.emulation_note or "the bundle's graph run on this CPU to reproduce the numerics of the "
                "backend that cannot run here; accuracy and fidelity only, never its speed")
        feed = self.feed() if emulation is None else None
        measured = measure_bundle(bundle, self.config.threads, self.evaluate(), feed, self.config.timing,
                                  name=artifact, runner_cls=emulation)
        if measured.status == "skipped" and checks.get("status") == "ok":
            measured.reason = f"{measured.reason}; the export itself is checked: {checks['summary']}"
        reference = (self.accuracy.reference_on_pixels(self.student, bundle)
                     if measured.ok and self.accuracy and not beside else None)
        _measured_row(row, measured, self.accuracy, reference, compare=not beside)
        if beside:
            row["notes"] = ("the original this student was distilled from, exported (its fidelity to its torch "
                            "model: edgedepth verify --model)")
        elif measured.ok and self.accuracy is not None:
            add_accuracy_drop(row, student_row)
        return row


def measure(checkpoint: Path | Original, bundles: list[Bundle], config: EvalConfig, accuracy: bool = True,
            timing: bool = True, pictures_dir: Path | None = None, failures: list[ExportFailure] = ()) -> dict:
    """Contract-2 report of one pass: reference rows (teacher, torch student; for mono, the baselines a student
    must beat), one row per bundle, and a failed/skipped row for every export that produced no bundle. With
    `accuracy`, rows carry metrics on the evaluation set; with `timing`, latency on one fixed input. Given an
    Original instead of a student checkpoint, the torch original is the reference its bundles are held to."""
    if not (accuracy or timing):
        raise ValueError("measure accuracy, timing or both")
    if isinstance(checkpoint, Original):
        student = TorchRunner.of_module(checkpoint.module, checkpoint.info(), Path(checkpoint.spec),
                                        ORIGINAL_REFERENCE, (checkpoint.input_filter, checkpoint.output_filter))
    else:
        student = TorchRunner(checkpoint)  # the checkpoint, read once
    student.load(student.student, config.threads)
    try:
        run = _Pass(student, config, accuracy, timing)
        teacher_row = run.teacher_row()
        student_row = run.student_row()
        rows = [teacher_row, student_row]
        if run.accuracy is not None and run.accuracy.task.baselines:
            rows += run.accuracy.baseline_rows(config.threads)
        if run.accuracy is not None and run.info.output_kind == DISPARITY and run.teacher.name != "sgbm":
            rows.append(_row(SGBM_BASELINE, "opencv", "fp32", "opencv", config.threads, reference=True,
                             notes=SGBM_NOTES, **sgbm_row_metrics(run.accuracy.items)))
        rows += [row for bundle in bundles for row in run.bundle_rows(bundle, student_row)]
    finally:
        student.close()
    rows += [_row(f.name, f.format, f.precision, "", config.threads, status=f.status, reason=f.reason)
             for f in failures]
    _add_speedups(rows)
    report = _report(checkpoint, run, rows)
    if run.accuracy is not None and pictures_dir is not None:
        report["pictures"] = write_pictures(pictures_dir, run.accuracy.items, run.accuracy.outputs,
                                            run.info.output_kind)
    return report


SGBM_BASELINE = "baseline: SGBM"
SGBM_NOTES = ("OpenCV StereoSGBM (the sgbm teacher's settings, its disparity range from the benchmark's ndisp "
              "where it gives one), scored like the teacher: holes as misses, and on its own pixels (…_own)")


def _add_speedups(rows: list[dict]) -> None:
    """Each timed row's FPS over the torch fp32 reference's (student or original); and a student bundle's over
    its original's bundle on the same format, precision and backend, where the pass has one."""
    base = next((row.get("fps") for row in rows if row["artifact"] in (STUDENT_REFERENCE, ORIGINAL_REFERENCE)), None)
    originals = {(row["format"], row["precision"], row.get("backend")): row.get("fps") for row in rows
                 if row["artifact"].startswith(ORIGINAL_PREFIX) and row["artifact"] != ORIGINAL_REFERENCE}
    for row in rows:
        if base and row.get("fps"):
            row["speedup_vs_student"] = round(row["fps"] / base, 2)
        original = originals.get((row.get("format"), row.get("precision"), row.get("backend")))
        if original and row.get("fps") and not row["artifact"].startswith(ORIGINAL_PREFIX):
            row["speedup_vs_original"] = round(row["fps"] / original, 2)


def _report(checkpoint: Path | Original, run: _Pass, rows: list[dict]) -> dict:
    info = run.info
    report = {
        "toolkit_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(run.config.threads),
        "task": info.task,
        "reference": {
            "teacher": info.teacher,
            **({"original": checkpoint.origin()} if isinstance(checkpoint, Original) else
               {"student": {"checkpoint": str(checkpoint), "model": info.config,
                            "input_size": list(info.input_size)}}),
            "alignment": (f"depth aligned by {run.config.alignment}: {ALIGNMENTS[run.config.alignment]}"
                          if run.config.alignment else alignment_text(info.task, info.output_kind)),
        },
        "datasets": {name: _dataset_entry(run, name, samples) for name, samples in run.datasets.items()},
        "rows": rows,
    }
    items = run.accuracy.items if run.accuracy is not None else []
    if run.accuracy is not None and run.accuracy.task.sanity and sanity_items(items):
        report["sanity"] = {"dataset": PROCEDURAL, "samples": len(sanity_items(items)),
                            "ground_truth_input_dependence": ground_truth_input_dependence(items)}
    return report


def _dataset_entry(run: _Pass, name: str, samples: Any) -> dict:
    """A report's record of one evaluation set: its size, and for a scored set the protocol in words, the
    headline columns of the summary, and for a benchmark its folder, layout and what was left out."""
    entry: dict[str, Any] = {"samples": len(samples), "resolution": list(samples[0].left.shape[:2])}
    items = [item for item in (run.accuracy.items if run.accuracy else []) if item.dataset == name]
    protocol = items[0].protocol if items and items[0].protocol else None
    if protocol is None and name in run.protocols:
        protocol = get_protocol(run.protocols[name])
    if protocol is not None:
        stereo = run.info.output_kind == DISPARITY
        alignment = None if stereo else (run.config.alignment or default_alignment(run.info.output_kind))
        entry.update(protocol=protocol.name, protocol_text=protocol.describe(alignment),
                     headline=list(protocol.headline_stereo if stereo else protocol.headline_depth))
    if hasattr(samples, "root"):
        entry.update(folder=str(samples.root), layout=samples.layout, notes=list(samples.notes))
    return entry


def latency_by_artifact(report: dict) -> dict[str, dict]:
    """{artifact: latency fields, or status and reason} of a timing-only report: what bench.json records."""
    keys = ("latency_ms", "fps", "timed_runs", "init_ms", "input_hw")
    by_artifact = {}
    for row in report["rows"]:
        if row.get("status", "ok") != "ok":
            by_artifact[row["artifact"]] = {"status": row["status"], "reason": row.get("reason", "")}
        elif "fps" in row:
            by_artifact[row["artifact"]] = {k: row[k] for k in keys if k in row}
    return by_artifact


def merge_latency(report: dict, latency: dict[str, dict]) -> dict:
    """Put a bench run's latency into an accuracy report's rows (by artifact name: the two ran separately) and
    add each row's speed-up over the torch fp32 student."""
    for row in report["rows"]:
        fields = latency.get(row["artifact"])
        if fields is None:
            continue
        if fields.get("status") in ("failed", "skipped") and row.get("status") == "ok":
            row.update(status=fields["status"], reason=fields["reason"])
        else:
            row.update({k: v for k, v in fields.items() if k not in ("status", "reason")})
    _add_speedups(report["rows"])
    return report
