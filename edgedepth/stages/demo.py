"""The demo: distill → export → measure → report on the embedded data, written under one directory that
appears whole or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedepth.checkpoint import load_student
from edgedepth.distill.train import train
from edgedepth.errors import EdgeDepthError
from edgedepth.outputs import check_writable
from edgedepth.stages.export import Exports, export_many, plan_exports, record_failures
from edgedepth.stages.measure import EvalConfig, measure
from edgedepth.stages.showcase import showcase
from edgedepth.tasks import get_task
from runtime.bundle import MONO
from runtime.host.report import write_report

# What `--quick` trains: a run of about a minute whose numbers are real but whose student is barely trained.
QUICK_TRAINING = {"scenes": 48, "steps": 120}


@dataclass
class DemoConfig:
    """The demo's settings: the task and its distillation config, what to export, and how to measure."""

    task: str = MONO
    training: Any = None  # the task's distillation config (None: its defaults)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    calibration_samples: int = 32
    exports: Exports = field(default_factory=lambda: {"onnx": ["fp32", "int8"]})
    layout: str = "NCHW"

    def training_config(self) -> Any:
        """The distillation config to run: `training`, or the task's defaults."""
        return self.training if self.training is not None else get_task(self.task).config()

    @classmethod
    def quick(cls, task: str = MONO) -> DemoConfig:
        """A run of about a minute: few steps and scenes; numbers are real but the student is barely trained."""
        return cls(task=task, training=get_task(task).config(**QUICK_TRAINING),
                   evaluation=EvalConfig(procedural_scenes=3, warmup=3, iters=15), calibration_samples=8)


def run_demo(out_dir: Path, config: DemoConfig, force: bool = False, progress: bool = True) -> dict:
    """Distill, export (every requested format and precision), measure in one pass, and write the report."""
    from runtime.atomic import atomic_directory

    out_dir = Path(out_dir)
    if out_dir.exists() and out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise EdgeDepthError(f"{out_dir} already holds a run (use --force to replace it)")
    check_writable(out_dir, force=True, directory=True)  # before training, not after it
    get_task(config.task)  # an unknown task, format or precision fails before training
    plan_exports(config.exports)
    training = config.training_config()
    with atomic_directory(out_dir, force=True) as work:
        checkpoint = train(training, work / "student.safetensors", progress=progress)
        bundles, failures = export_many(checkpoint, work / "bundles", config.exports, config.layout,
                                        calibration_samples=config.calibration_samples, seed=training.seed,
                                        report=print if progress else _quiet)
        record_failures(work / "bundles", bundles, failures)
        report = measure(checkpoint, bundles, config.evaluation, pictures_dir=work / "pictures", failures=failures)
        report["stages"] = {"distill": load_student(checkpoint)[1].training}
        shown = showcase(work, bundles, threads=config.evaluation.threads)
        if shown is not None:
            report["use"] = shown
        relocate(report, work, out_dir)
        write_report(work, report)
    return report


def _quiet(_: str) -> None:
    """A progress reporter that says nothing."""


def relocate(report: dict, work: Path, final: Path) -> None:
    """Paths recorded while building in `work` are written relative to the run (pictures) or under `final`
    (the checkpoint), where the run ends up."""
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
