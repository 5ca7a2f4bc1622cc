"""The main job, stage by stage: distill → export → quantize → verify → bench → report.

Each stage reads the previous stage's files (a checkpoint, bundle directories) so that it can also run alone
from the CLI; `run_demo` chains them on the embedded data.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.checkpoint import checkpoint_sha256, load_student
from edgedepth.data import get_dataset
from edgedepth.data.images import ImageFolder, list_images
from edgedepth.distill.mono import DistillConfig, distill
from edgedepth.distill.stereo import StereoDistillConfig, distill_stereo
from edgedepth.errors import EdgeDepthError
from edgedepth.evaluation import (
    PROCEDURAL,
    EvalItem,
    add_accuracy_drop,
    baseline_outputs,
    build_eval_items,
    collect_outputs,
    eval_datasets,
    ground_truth_input_dependence,
    held_out_images,
    row_metrics,
    sample_feed,
    sanity_items,
    sanity_metrics,
    teacher_row_metrics,
)
from edgedepth.pictures import write_pictures
from edgedepth.specs import input_specs
from edgedepth.teachers.cache import build_teacher
from edgedepth.torch_runner import TorchRunner
from edgedepth.version import __version__
from export.base import ExportRequest
from export.registry import get_exporter, list_formats
from quantize.registry import get_method, method_for_format
from runtime.bench import machine_info, time_callable
from runtime.bundle import METRIC, MONO, STEREO, TASKS, Bundle, BundleError, load_bundle
from runtime.report import write_report
from runtime.report_model import STUDENT_REFERENCE
from runtime.runners.registry import runner_for_format

ALIGNMENT_MONO = ("relative outputs aligned per image by least-squares scale and shift in inverse-depth space (MiDaS "
                  "protocol); fidelity is raw output agreement with the torch fp32 student")
ALIGNMENT_METRIC = ("metric depth compared raw (no alignment) with the metric teacher and with ground truth; "
                    "fidelity is raw output agreement with the torch fp32 student")
ALIGNMENT_STEREO = ("disparity compared unaligned, in pixels of the evaluated image; depth from disparity through the "
                    "pair's calibration (f·B/(d + doffs)); fidelity is raw output agreement with the torch fp32 "
                    "student")


@dataclass
class EvalConfig:
    """What verify and bench measure on, and how."""

    procedural_scenes: int = 32  # the sanity checks and held-out δ1 need ≥ 32 unrelated scenes to mean much
    procedural_seed: int = 1_000_003  # far from any training seed: held-out scenes
    motorcycle_width: int = 448
    threads: int = 2
    warmup: int = 10
    iters: int = 50
    images: str | None = None  # evaluate on this photo folder instead of the student's held-out photos
    teacher_cache: str | None = None  # teacher-output cache directory (None: predictions computed afresh)


@dataclass
class DemoConfig:
    """The demo's settings: a distillation config plus what to export and how to evaluate."""

    distill: DistillConfig = field(default_factory=DistillConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    calibration_samples: int = 32
    formats: list[str] = field(default_factory=lambda: ["onnx"])
    precisions: list[str] = field(default_factory=lambda: ["fp32", "int8"])
    task: str = MONO  # "stereo" distils `stereo` instead of `distill`
    stereo: StereoDistillConfig = field(default_factory=StereoDistillConfig)

    @property
    def training(self) -> DistillConfig | StereoDistillConfig:
        """The distillation config of the task."""
        return self.stereo if self.task == STEREO else self.distill

    @classmethod
    def quick(cls) -> DemoConfig:
        """A run of about a minute: few steps and scenes; numbers are real but the student is barely trained."""
        return cls(
            distill=DistillConfig(scenes=48, steps=120),
            evaluation=EvalConfig(procedural_scenes=3, warmup=3, iters=15),
            calibration_samples=8,
            stereo=StereoDistillConfig(scenes=48, steps=120),
        )


# ---------------------------------------------------------------------------------------------- export


@dataclass
class ExportFailure:
    """A (format, precision) that produced no bundle, and why: it becomes a failed/skipped report row."""

    name: str
    format: str
    precision: str
    status: str  # "failed" | "skipped"
    reason: str


def export_student(checkpoint: Path, out_dir: Path, fmt: str = "onnx", precision: str = "fp32",
                   layout: str = "NCHW", calibration_samples: int = 32, seed: int = 0,
                   force: bool = False) -> Bundle:
    """Export the student in `checkpoint` to one `<fmt>-<precision>` bundle under `out_dir`."""
    model, info = load_student(checkpoint)
    source = _ExportSource(model, info, checkpoint_sha256(checkpoint), calibration_samples, seed)
    return source.export(out_dir, fmt, precision, layout, force)


@dataclass
class _ExportSource:
    """A loaded student and its calibration set (made once, on first need) for a series of exports."""

    model: Any
    info: Any
    sha256: str
    calibration_samples: int
    seed: int
    _calibration: list | None = None

    def export(self, out_dir: Path, fmt: str, precision: str, layout: str, force: bool) -> Bundle:
        exporter = get_exporter(fmt)
        calibration = None
        if exporter.precision(precision).calibrated:
            if self._calibration is None:
                self._calibration = calibration_inputs(input_specs(self.info), self.calibration_samples, self.seed,
                                                       *training_images(self.info))
            calibration = self._calibration
        # Each exporter gets its own copy: tracing, fusing and quantization may rewrite the module.
        request = ExportRequest(copy.deepcopy(self.model), self.info, self.sha256, name=f"{fmt}-{precision}",
                                layout=layout, precision=precision, calibration=calibration)
        return exporter.export(request, Path(out_dir), force=force)


def calibration_inputs(specs: dict | list[dict], count: int, seed: int, images: str | None = None,
                       files: list[str] | None = None) -> list:
    """Calibration inputs from the data the student was distilled on: procedural scenes (seeded), or `count`
    photos spread evenly over `files` of the folder `images`; prepared for the input spec(s), one array per
    sample for one input, a tuple (in spec order) for a stereo pair."""
    specs = [specs] if isinstance(specs, dict) else list(specs)
    spec = specs[0]
    if images is not None:
        folder = ImageFolder(images, files)
        picks = np.unique(np.linspace(0, len(folder) - 1, num=min(count, len(folder))).round().astype(int))
        samples = [folder[int(i)] for i in picks]
    else:
        height, width = (spec["shape"][2], spec["shape"][3]) if spec["layout"] == "NCHW" else spec["shape"][1:3]
        samples = get_dataset("procedural", n=count, seed=seed, height=height * 2, width=width * 2)
    feeds = [sample_feed(s, specs) for s in samples]
    if len(specs) == 1:
        return [feed[spec["name"]] for feed in feeds]
    return [tuple(feed[item["name"]] for item in specs) for feed in feeds]


def training_images(info: Any) -> tuple[str | None, list[str] | None]:
    """(folder, its training files) when the student was distilled on photos, else (None, None)."""
    record = (info.training or {}).get("data", {})
    if record.get("dataset") != "images":
        return None, None
    held_out = set(record.get("holdout", []))
    return record["folder"], [f for f in list_images(record["folder"]) if f not in held_out]


def plan_exports(formats: list[str], precisions: list[str]) -> list[tuple[str, str]]:
    """(format, precision) pairs to export; 'all' expands to every registered format / every precision a
    format writes. Pairs a format cannot write are kept: they become skipped rows that say so."""
    formats = list_formats() if "all" in formats else list(dict.fromkeys(formats))
    known = {p for fmt in list_formats() for p in get_exporter(fmt).precisions}
    unknown = sorted(set(precisions) - known - {"all"})
    if unknown:
        raise EdgeDepthError(f"unknown precision {', '.join(unknown)} (known: all, {', '.join(sorted(known))})")
    plan = []
    for fmt in formats:
        supported = get_exporter(fmt).precisions
        wanted = supported if "all" in precisions else list(dict.fromkeys(precisions))
        plan.extend((fmt, precision) for precision in wanted)
    return plan


def export_many(checkpoint: Path, out_dir: Path, formats: list[str], precisions: list[str], layout: str = "NCHW",
                calibration_samples: int = 32, seed: int = 0, force: bool = False,
                report=print) -> tuple[list[Bundle], list[ExportFailure]]:
    """One bundle per (format, precision); a missing library or a failing conversion costs only its own row."""
    plan = plan_exports(formats, precisions)
    model, info = load_student(checkpoint)  # a missing or corrupt checkpoint is the user's error, not a row
    source = _ExportSource(model, info, checkpoint_sha256(checkpoint), calibration_samples, seed)
    bundles: list[Bundle] = []
    failures: list[ExportFailure] = []
    for fmt, precision in plan:
        name = f"{fmt}-{precision}"
        exporter = get_exporter(fmt)
        ok, why = exporter.available()
        if not ok:
            failures.append(ExportFailure(name, fmt, precision, "skipped", why))
        elif precision not in exporter.precisions:
            failures.append(ExportFailure(name, fmt, precision, "skipped",
                                          f"{fmt} exports {', '.join(exporter.precisions)}, not {precision}"))
        else:
            try:
                bundle = source.export(out_dir, fmt, precision, layout, force)
            except (FileExistsError, KeyboardInterrupt):
                raise
            except Exception as exc:  # one failing conversion must not take the other formats down
                failures.append(ExportFailure(name, fmt, precision, "failed", _one_line(exc)))
            else:
                bundles.append(bundle)
                report(f"wrote {bundle.path}  ({_parity_text(bundle.manifest.get('parity', {}))})")
                continue
        report(f"{failures[-1].status} {name}: {failures[-1].reason}")
    return bundles, failures


EXPORT_INDEX = "exports.json"


def record_failures(out_dir: Path, bundles: list[Bundle], failures: list[ExportFailure]) -> None:
    """Keep `out_dir/exports.json` listing exports that produced no bundle, so verify can report them:
    entries of earlier runs stay unless this run wrote that bundle or failed it again."""
    from runtime.atomic import atomic_write_json

    index = Path(out_dir) / EXPORT_INDEX
    kept = {entry["name"]: entry for entry in load_failures(out_dir, as_dicts=True)}
    for bundle in bundles:
        kept.pop(bundle.name, None)
    kept.update({f.name: asdict(f) for f in failures})
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(index, {"failures": list(kept.values())})


def load_failures(bundles_dir: Path, as_dicts: bool = False) -> list:
    """The failures recorded in `bundles_dir/exports.json` (none when the file is absent)."""
    import json

    index = Path(bundles_dir) / EXPORT_INDEX
    if not index.is_file():
        return []
    try:
        entries = json.loads(index.read_text())["failures"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EdgeDepthError(f"{index} is not a valid export index ({exc})") from exc
    return entries if as_dicts else [ExportFailure(**entry) for entry in entries]


def _parity_text(parity: dict) -> str:
    if "max_abs_rel" not in parity:
        return f"parity {parity.get('status', 'not measured')}: {parity.get('reason', '')}".rstrip(": ")
    return f"vs torch: max |Δ|/range {parity['max_abs_rel']:.2e}, PSNR {parity['psnr_db']:.1f} dB"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def quantize_student(fp32: Bundle, out_dir: Path, samples: int = 32, seed: int = 0, method: str | None = None,
                     force: bool = False, images: str | None = None) -> Bundle:
    """Quantize an fp32 bundle with `method` (default: the format's), calibrated on procedural scenes or on the
    photos in `images`; the new bundle is named `<format>-<precision>`, as `export` names it."""
    name = method or method_for_format(fp32.format)
    chosen = get_method(name)
    if chosen.format != fp32.format:
        raise EdgeDepthError(f"method '{name}' applies to {chosen.format} bundles, not {fp32.format}")
    calibration = calibration_inputs(fp32.inputs, samples, seed, images) if chosen.calibrated else []
    return chosen.quantize_bundle(fp32, calibration, Path(out_dir), f"{fp32.format}-{chosen.precision}", force=force)


def find_bundles(paths: list[Path]) -> list[Bundle]:
    """Bundles named directly or found one level below the given directories (sha256-checked)."""
    found: list[Bundle] = []
    for path in paths:
        path = Path(path)
        if (path / "manifest.json").exists():
            found.append(load_bundle(path))
        elif path.is_dir():
            found.extend(load_bundle(p.parent) for p in sorted(path.glob("*/manifest.json")))
        else:
            raise EdgeDepthError(f"no bundle at {path}")
    if not found:
        raise EdgeDepthError(f"no bundle found under {', '.join(str(p) for p in paths)}")
    return found


# ---------------------------------------------------------------------------------------------- verify


def _teacher_of(identity: dict, cache: str | None = None) -> Any:
    """Rebuild the teacher a checkpoint was distilled from (its identity names it and its parameters), behind
    the output cache when a cache directory is given."""
    if "name" not in identity:
        raise EdgeDepthError("the student checkpoint does not name its teacher; verify needs one as reference")
    return build_teacher(identity["name"], identity.get("params", {}), cache)


def _alignment(info: Any) -> str:
    """How the report's rows compare outputs, for the student's task and output kind."""
    if info.task == STEREO:
        return ALIGNMENT_STEREO
    return ALIGNMENT_METRIC if info.output_kind == METRIC else ALIGNMENT_MONO


def _evaluation_sets(info: Any, config: EvalConfig) -> dict:
    """A student distilled on photos is measured on its held-out photos (or `config.images`); others on the
    embedded sets: the motorcycle pair and held-out procedural scenes at twice the input size, and for stereo
    the motorcycle pair at the student's input width as well."""
    record = (info.training or {}).get("data", {})
    if config.images is not None or record.get("dataset") == "images":
        return held_out_images(record, config.images)
    height, width = info.input_size
    return eval_datasets(config.procedural_scenes, config.procedural_seed, height * 2, width * 2,
                         config.motorcycle_width, input_width=width if info.task == STEREO else None)


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 3)


def _row(artifact: str, fmt: str, precision: str, backend: str, threads: int, **extra: Any) -> dict:
    return {"artifact": artifact, "format": fmt, "precision": precision, "backend": backend,
            "threads": threads, "status": "ok", **extra}


def _failed(row: dict, exc: BaseException) -> dict:
    row.update(status="failed", reason=_one_line(exc))
    return row


def _export_checks(bundle: Bundle) -> dict:
    """{status, summary} of the checks the exporter ran on the saved artifact (CoreML's off-macOS checks)."""
    checks = bundle.manifest.get("checks")
    if not isinstance(checks, dict):
        return {}
    return {"status": checks.get("status", "ok"), "summary": checks.get("summary", "checked")}


def _add_sanity(row: dict, sanity: dict | None) -> None:
    """Attach a mono row's sanity numbers (input dependence, mirror), when there were scenes to measure them on."""
    if sanity is not None:
        row["sanity"] = sanity


def _baseline_rows(items: list[EvalItem], info: Any, threads: int) -> list[dict]:
    """Rows for maps that ignore the image (a constant, a top-to-bottom gradient), scored like any artifact: what a
    student has to beat to show it reads its input."""
    height, width = info.input_size
    rows = []
    for name, (raw, notes) in baseline_outputs(items, height, width, info.output_kind).items():
        rows.append(_row(name, "baseline", "fp32", "numpy", threads, reference=True, notes=notes,
                         **row_metrics(info.task, raw, None, items, info.output_kind)))
    return rows


def verify(checkpoint: Path, bundles: list[Bundle], config: EvalConfig, pictures_dir: Path | None = None,
           failures: list[ExportFailure] = ()) -> dict:
    """Contract-2 report without latency: reference rows (teacher, torch student; for mono, the baselines a
    student must beat, and sanity numbers on the student and each artifact) + one row per bundle, plus a
    failed/skipped row for every export that produced no bundle."""
    student = TorchRunner(checkpoint)
    student.load(student.student, config.threads)
    info = student.info
    teacher = _teacher_of(info.teacher, config.teacher_cache)
    datasets = _evaluation_sets(info, config)
    items = build_eval_items(datasets, teacher)
    teacher_row = _row(f"teacher:{teacher.name}", teacher.backend, "fp32", teacher.backend, config.threads,
                       reference=True, kind=items[0].teacher.kind, **teacher_row_metrics(items))
    output_name = student.output_spec["name"]
    reference_raw = collect_outputs(student.infer, student.input_specs, output_name, items)
    student_row = _row(STUDENT_REFERENCE, "torch", "fp32", "torch", config.threads, reference=True,
                       size_mb=_size_mb(Path(checkpoint)),
                       **row_metrics(info.task, reference_raw, reference_raw, items, info.output_kind))
    rows = [teacher_row, student_row]
    if info.task != STEREO:  # stereo: the SGBM teacher row is the baseline
        _add_sanity(student_row, sanity_metrics(student.infer, student.input_specs, output_name, items,
                                                reference_raw))
        rows += _baseline_rows(items, info, config.threads)
    outputs = {STUDENT_REFERENCE: reference_raw}
    for bundle in bundles:
        row = _row(bundle.name, bundle.format, bundle.precision, "", config.threads,
                   size_mb=_size_mb(bundle.model_path))
        checks = _export_checks(bundle)
        if checks:
            row["export_checks"] = checks
        rows.append(row)
        try:
            runner_cls = runner_for_format(bundle.format)
            row["backend"] = runner_cls.name
            ok, reason = runner_cls.available()
            if not ok:
                if checks.get("status") == "ok":
                    reason = f"{reason}; the export itself is checked: {checks['summary']}"
                row.update(status="skipped", reason=reason)
                continue
            with runner_cls() as runner:
                runner.load(bundle, config.threads)
                raw = collect_outputs(runner.infer, bundle.inputs, bundle.outputs[0]["name"], items)
                if info.task != STEREO:
                    _add_sanity(row, sanity_metrics(runner.infer, bundle.inputs, bundle.outputs[0]["name"], items,
                                                    raw))
            row.update(row_metrics(info.task, raw, reference_raw, items, info.output_kind))
            add_accuracy_drop(row, student_row)
            outputs[bundle.name] = raw
        except Exception as exc:  # one failing artifact must not take the others down
            _failed(row, exc)
    for failure in failures:
        rows.append(_row(failure.name, failure.format, failure.precision, "", config.threads,
                         status=failure.status, reason=failure.reason))
    report = {
        "toolkit_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(config.threads),
        "task": info.task,
        "reference": {
            "teacher": info.teacher,
            "student": {"checkpoint": str(checkpoint), "model": info.config, "input_size": list(info.input_size)},
            "alignment": _alignment(info),
        },
        "datasets": {name: {"samples": len(samples), "resolution": list(samples[0].left.shape[:2])}
                     for name, samples in datasets.items()},
        "rows": rows,
    }
    if info.task != STEREO and sanity_items(items):
        report["sanity"] = {"dataset": PROCEDURAL, "samples": len(sanity_items(items)),
                            "ground_truth_input_dependence": ground_truth_input_dependence(items)}
    student.close()
    if pictures_dir is not None:
        report["pictures"] = write_pictures(pictures_dir, items, outputs, info.output_kind)
    return report


# ---------------------------------------------------------------------------------------------- bench


def _latency_fields(stats: dict, init_ms: float | None = None) -> dict:
    fields = {"latency_ms": {k: round(stats[k], 3) for k in ("p50", "p90", "p99")},
              "fps": round(stats["fps"], 2), "timed_runs": stats["n"]}
    if init_ms is not None:
        fields["init_ms"] = round(init_ms, 1)
    return fields


def bench(checkpoint: Path, bundles: list[Bundle], config: EvalConfig) -> dict[str, dict]:
    """Latency per artifact at a fixed thread count on one fixed input: {artifact: fields or failure}."""
    sample = get_dataset("motorcycle", max_width=config.motorcycle_width)[0]
    results: dict[str, dict] = {}
    student = TorchRunner(checkpoint)
    student.load(student.student, config.threads)
    teacher = _teacher_of(student.info.teacher)
    results[f"teacher:{teacher.name}"] = {
        **_latency_fields(time_callable(lambda: teacher.predict(sample), max(2, config.warmup // 3),
                                        max(5, config.iters // 3))),
        "input_hw": list(sample.left.shape[:2]),
    }
    feed = sample_feed(sample, student.input_specs)
    results[STUDENT_REFERENCE] = _latency_fields(
        time_callable(lambda: student.infer(feed), config.warmup, config.iters), student.init_ms)
    student.close()
    for bundle in bundles:
        try:
            runner_cls = runner_for_format(bundle.format)
            ok, reason = runner_cls.available()
            if not ok:
                results[bundle.name] = {"status": "skipped", "reason": reason}
                continue
            with runner_cls() as runner:
                runner.load(bundle, config.threads)
                feed = sample_feed(sample, bundle.inputs)
                stats = time_callable(lambda r=runner, f=feed: r.infer(f), config.warmup, config.iters)
                results[bundle.name] = _latency_fields(stats, runner.init_ms)
        except Exception as exc:
            results[bundle.name] = _failed({}, exc)
    return results


def merge_latency(report: dict, latency: dict[str, dict]) -> dict:
    """Put bench results into the report's rows and add each row's speed-up over the torch fp32 student."""
    for row in report["rows"]:
        fields = latency.get(row["artifact"])
        if fields is None:
            continue
        if fields.get("status") in ("failed", "skipped") and row.get("status") == "ok":
            row.update(status=fields["status"], reason=fields["reason"])
        else:
            row.update({k: v for k, v in fields.items() if k not in ("status", "reason")})
    base = latency.get(STUDENT_REFERENCE, {}).get("fps")
    for row in report["rows"]:
        if base and row.get("fps"):
            row["speedup_vs_student"] = round(row["fps"] / base, 2)
    return report


# ---------------------------------------------------------------------------------------------- demo


def run_demo(out_dir: Path, config: DemoConfig, force: bool = False, progress: bool = True) -> dict:
    """Distill, export, quantize, verify and bench on the embedded data; write everything under `out_dir`."""
    from runtime.atomic import atomic_directory

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise EdgeDepthError(f"{out_dir} already holds a run (use --force to replace it)")
    plan_exports(config.formats, config.precisions)  # an unknown format or precision fails before training
    if config.task not in TASKS:
        raise EdgeDepthError(f"unknown task '{config.task}' (known: {', '.join(TASKS)})")
    with atomic_directory(out_dir, force=True) as work:
        train = distill_stereo if config.task == STEREO else distill
        checkpoint = train(config.training, work / "student.safetensors", progress=progress)
        bundles, failures = export_many(checkpoint, work / "bundles", config.formats, config.precisions,
                                        calibration_samples=config.calibration_samples, seed=config.training.seed,
                                        report=print if progress else _quiet)
        record_failures(work / "bundles", bundles, failures)
        report = verify(checkpoint, bundles, config.evaluation, pictures_dir=work / "pictures", failures=failures)
        report = merge_latency(report, bench(checkpoint, bundles, config.evaluation))
        report["stages"] = {"distill": load_student(checkpoint)[1].training}
        _relocate(report, work, out_dir)
        write_report(work, report)
    return report


def _quiet(_: str) -> None:
    """A progress reporter that says nothing."""


def _relocate(report: dict, work: Path, final: Path) -> None:
    """Paths recorded while building in the temporary directory point at the final one."""
    ref = report["reference"]["student"]
    checkpoint = Path(ref["checkpoint"])
    if checkpoint.is_relative_to(work):
        ref["checkpoint"] = (Path(final) / checkpoint.relative_to(work)).as_posix()
    if "pictures" in report:
        report["pictures"] = [_relative_to(Path(p), work) for p in report["pictures"]]


def _relative_to(path: Path, root: Path) -> str:
    """`path` relative to `root` (POSIX separators) when it lies inside it, else as it is."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def load_existing_report(path: Path) -> dict | None:
    """A previous verify's report.json, or None."""
    import json

    if not Path(path).exists():
        return None
    try:
        return json.loads(Path(path).read_text())
    except ValueError as exc:
        raise EdgeDepthError(f"{path} is not valid JSON ({exc})") from exc


__all__ = ["DemoConfig", "EvalConfig", "EvalItem", "BundleError", "ExportFailure", "bench", "export_many",
           "export_student", "find_bundles", "load_failures", "merge_latency", "plan_exports", "quantize_student",
           "record_failures", "run_demo", "verify"]
