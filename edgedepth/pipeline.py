"""The main job, stage by stage: distill → export → quantize → verify → bench → report.

Each stage reads the previous stage's files (a checkpoint, bundle directories) so that it can also run alone
from the CLI; `run_demo` chains them on the embedded data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.checkpoint import checkpoint_sha256, load_student
from edgedepth.data import get_dataset
from edgedepth.distill.mono import DistillConfig, distill
from edgedepth.errors import EdgeDepthError
from edgedepth.evaluation import (
    EvalItem,
    build_eval_items,
    collect_outputs,
    eval_datasets,
    student_row_metrics,
    teacher_row_metrics,
)
from edgedepth.pictures import write_pictures
from edgedepth.specs import input_spec
from edgedepth.teachers import create_teacher
from edgedepth.torch_runner import TorchRunner
from edgedepth.version import __version__
from export.base import ExportRequest
from export.registry import get_exporter
from quantize.registry import get_method, method_for_format
from runtime.bench import machine_info, time_callable
from runtime.bundle import Bundle, BundleError, load_bundle
from runtime.preprocess import prepare_input
from runtime.report import write_report
from runtime.runners.registry import runner_for_format


@dataclass
class EvalConfig:
    """What verify and bench measure on, and how."""

    procedural_scenes: int = 8
    procedural_seed: int = 1_000_003  # far from any training seed: held-out scenes
    motorcycle_width: int = 448
    threads: int = 2
    warmup: int = 10
    iters: int = 50


@dataclass
class DemoConfig:
    """The demo's settings: a distillation config plus what to export and how to evaluate."""

    distill: DistillConfig = field(default_factory=DistillConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    calibration_samples: int = 32

    @classmethod
    def quick(cls) -> DemoConfig:
        """A run of about a minute: few steps and scenes; numbers are real but the student is barely trained."""
        return cls(
            distill=DistillConfig(scenes=48, steps=120),
            evaluation=EvalConfig(procedural_scenes=3, warmup=3, iters=15),
            calibration_samples=8,
        )


# ---------------------------------------------------------------------------------------------- export


def export_student(checkpoint: Path, out_dir: Path, fmt: str = "onnx", layout: str = "NCHW",
                   force: bool = False) -> Bundle:
    """Export the fp32 student in `checkpoint` to a `<fmt>-fp32` bundle under `out_dir`."""
    model, info = load_student(checkpoint)
    request = ExportRequest(model, info, checkpoint_sha256(checkpoint), name=f"{fmt}-fp32", layout=layout)
    return get_exporter(fmt).export(request, Path(out_dir), force=force)


def calibration_inputs(spec: dict, count: int, seed: int) -> list[np.ndarray]:
    """Calibration inputs from the distillation's data module: procedural scenes, prepared for `spec`."""
    height, width = (spec["shape"][2], spec["shape"][3]) if spec["layout"] == "NCHW" else spec["shape"][1:3]
    scenes = get_dataset("procedural", n=count, seed=seed, height=height * 2, width=width * 2)
    return [prepare_input(s.left, spec) for s in scenes]


def quantize_student(fp32: Bundle, out_dir: Path, samples: int = 32, seed: int = 0, method: str | None = None,
                     force: bool = False) -> Bundle:
    """Quantize an fp32 bundle to int8 with the format's default method, calibrated on procedural scenes."""
    method = method or method_for_format(fp32.format)
    fmt, quantize_fn = get_method(method)
    if fmt != fp32.format:
        raise EdgeDepthError(f"method '{method}' applies to {fmt} bundles, not {fp32.format}")
    calibration = calibration_inputs(fp32.inputs[0], samples, seed)
    return quantize_fn(fp32, calibration, Path(out_dir), f"{fp32.format}-int8", force=force)


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


def _teacher_of(identity: dict) -> Any:
    """Rebuild the teacher a checkpoint was distilled from (its identity names it and its parameters)."""
    if "name" not in identity:
        raise EdgeDepthError("the student checkpoint does not name its teacher; verify needs one as reference")
    return create_teacher(identity["name"], **identity.get("params", {}))


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 3)


def _row(artifact: str, fmt: str, precision: str, backend: str, threads: int, **extra: Any) -> dict:
    return {"artifact": artifact, "format": fmt, "precision": precision, "backend": backend,
            "threads": threads, "status": "ok", **extra}


def _failed(row: dict, exc: BaseException) -> dict:
    row.update(status="failed", reason=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    return row


def verify(checkpoint: Path, bundles: list[Bundle], config: EvalConfig, pictures_dir: Path | None = None) -> dict:
    """Contract-2 report without latency: reference rows (teacher, torch student) + one row per bundle."""
    student = TorchRunner(checkpoint)
    student.load(None, config.threads)
    info = student.info
    teacher = _teacher_of(info.teacher)
    _, _, height, width = input_spec(info)["shape"]
    datasets = eval_datasets(config.procedural_scenes, config.procedural_seed, height * 2, width * 2,
                             config.motorcycle_width)
    items = build_eval_items(datasets, teacher)
    teacher_row = _row(f"teacher:{teacher.name}", "opencv", "fp32", teacher.name, config.threads,
                       reference=True, kind=items[0].teacher.kind, **teacher_row_metrics(items))
    reference_raw = collect_outputs(student.infer, student.input_spec, "depth", items)
    student_row = _row("student:torch-fp32", "torch", "fp32", "torch", config.threads, reference=True,
                       size_mb=_size_mb(Path(checkpoint)), **student_row_metrics(reference_raw, reference_raw, items))
    rows = [teacher_row, student_row]
    outputs = {"student:torch-fp32": reference_raw}
    for bundle in bundles:
        row = _row(bundle.name, bundle.format, bundle.precision, "", config.threads,
                   size_mb=_size_mb(bundle.model_path))
        rows.append(row)
        try:
            runner_cls = runner_for_format(bundle.format)
            row["backend"] = runner_cls.name
            ok, reason = runner_cls.available()
            if not ok:
                row.update(status="skipped", reason=reason)
                continue
            with runner_cls() as runner:
                runner.load(bundle, config.threads)
                raw = collect_outputs(runner.infer, bundle.inputs[0], bundle.outputs[0]["name"], items)
            row.update(student_row_metrics(raw, reference_raw, items))
            outputs[bundle.name] = raw
        except Exception as exc:  # one failing artifact must not take the others down
            _failed(row, exc)
    report = {
        "toolkit_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(config.threads),
        "task": info.task,
        "reference": {
            "teacher": info.teacher,
            "student": {"checkpoint": str(checkpoint), "model": info.config, "input_size": list(info.input_size)},
            "alignment": "relative outputs aligned per image by least-squares scale and shift in inverse-depth "
                         "space (MiDaS protocol); fidelity is raw output agreement with the torch fp32 student",
        },
        "datasets": {name: {"samples": len(samples), "resolution": list(samples[0].left.shape[:2])}
                     for name, samples in datasets.items()},
        "rows": rows,
    }
    student.close()
    if pictures_dir is not None:
        report["pictures"] = write_pictures(pictures_dir, items, outputs)
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
    student.load(None, config.threads)
    teacher = _teacher_of(student.info.teacher)
    results[f"teacher:{teacher.name}"] = {
        **_latency_fields(time_callable(lambda: teacher.predict(sample), max(2, config.warmup // 3),
                                        max(5, config.iters // 3))),
        "input_hw": list(sample.left.shape[:2]),
    }
    feed = {student.input_spec["name"]: prepare_input(sample.left, student.input_spec)}
    results["student:torch-fp32"] = _latency_fields(
        time_callable(lambda: student.infer(feed), config.warmup, config.iters), student.init_ms)
    student.close()
    for bundle in bundles:
        try:
            runner_cls = runner_for_format(bundle.format)
            ok, reason = runner_cls.available()
            if not ok:
                results[bundle.name] = {"status": "skipped", "reason": reason}
                continue
            spec = bundle.inputs[0]
            with runner_cls() as runner:
                runner.load(bundle, config.threads)
                feed = {spec["name"]: prepare_input(sample.left, spec)}
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
    base = latency.get("student:torch-fp32", {}).get("fps")
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
    with atomic_directory(out_dir, force=True) as work:
        checkpoint = distill(config.distill, work / "student.safetensors", progress=progress)
        fp32 = export_student(checkpoint, work / "bundles", "onnx")
        int8 = quantize_student(fp32, work / "bundles", config.calibration_samples, seed=config.distill.seed)
        bundles = [fp32, int8]
        report = verify(checkpoint, bundles, config.evaluation, pictures_dir=work / "pictures")
        report = merge_latency(report, bench(checkpoint, bundles, config.evaluation))
        report["stages"] = {"distill": load_student(checkpoint)[1].training}
        _relocate(report, work, out_dir)
        write_report(work, report)
    return report


def _relocate(report: dict, work: Path, final: Path) -> None:
    """Paths recorded while building in the temporary directory point at the final one."""
    ref = report["reference"]["student"]
    ref["checkpoint"] = str(Path(ref["checkpoint"]).as_posix()).replace(str(work), str(final))
    if "pictures" in report:
        report["pictures"] = [p.replace(str(work) + "/", "") for p in report["pictures"]]


def load_existing_report(path: Path) -> dict | None:
    """A previous verify's report.json, or None."""
    import json

    if not Path(path).exists():
        return None
    try:
        return json.loads(Path(path).read_text())
    except ValueError as exc:
        raise EdgeDepthError(f"{path} is not valid JSON ({exc})") from exc


__all__ = ["DemoConfig", "EvalConfig", "EvalItem", "BundleError", "bench", "export_student", "find_bundles",
           "merge_latency", "quantize_student", "run_demo", "verify"]
