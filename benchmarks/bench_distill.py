"""Time the mono and the stereo distillation loops, whole steps as the real loop runs them; write JSON.

Usage:
  python benchmarks/bench_distill.py [--threads 2] [--warmup 10] [--steps 40] [--scenes 16] [--task mono,stereo]
                                     [--mixed-precision auto|bf16|off] [--out runs/bench]

Batch size, input size and model come from the `DistillConfig()` / `StereoDistillConfig()` defaults. Targets are
the procedural scenes' exact disparity on their non-occluded pixels (no teacher runs), so the numbers measure
the training step alone: batch sampling and augmentation, forward, loss, backward and the AdamW step. The
training entry point (`train_student` of the distill objective; in versions with a module per task,
`mono._optimise` and `stereo.train_stereo`) runs unchanged; only the loop's `batch_loss` is wrapped to stamp
the start of each step, so a step's time is the gap between two consecutive starts. The first `--warmup` steps
are not timed. Older versions' names are used where this one's are missing, so the same script measures before
and after a change (put the other version first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import edgedepth
from edgedepth.data import get_dataset
from edgedepth.data.sample import StereoSample
from edgedepth.distill.dataset import DistillSet
from edgedepth.distill.head import linear_head
from edgedepth.models import create_model
from edgedepth.models.midas_small import IMAGENET_MEAN, IMAGENET_STD
from edgedepth.version import __version__
from runtime.atomic import atomic_write_json
from runtime.bench import latency_stats, machine_info
from runtime.preprocess import prepare_input


def _spec(height: int, width: int, mean: tuple[float, ...], std: tuple[float, ...]) -> dict[str, Any]:
    """The student's input spec (RGB / 255, normalised, NCHW) for `prepare_input`."""
    return {"name": "image", "shape": [1, 3, height, width], "dtype": "float32", "layout": "NCHW", "color": "RGB",
            "normalization": {"mean": list(mean), "std": list(std), "scale": 1.0 / 255.0}}


def _scenes(n: int, height: int, width: int) -> list[StereoSample]:
    """`n` seeded procedural scenes at the student's input size (exact disparity, non-occlusion mask): the
    "classic" family, which every version has, so before and after train on the same pixels."""
    try:
        return list(get_dataset("procedural", n=n, seed=0, height=height, width=width, family="classic"))
    except ValueError:  # a version from before scene families: classic is all it makes
        return list(get_dataset("procedural", n=n, seed=0, height=height, width=width))


def _target(sample: StereoSample) -> tuple[np.ndarray, np.ndarray]:
    """Exact disparity and its mask (valid and visible in the right view: the pixels a stereo teacher keeps)."""
    mask = np.asarray(sample.valid, bool) & np.asarray(sample.nonoccluded, bool) & np.isfinite(sample.disparity)
    return np.where(mask, sample.disparity, 0.0).astype(np.float32), mask


def exact_set(task: str, config: Any, n: int, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """The task's distillation set on exact targets (disparity: inverse depth up to scale, what relative students
    learn; in input pixels for stereo), the one set of this version or an older version's set per task."""
    height, width = config.input_size
    spec = _spec(height, width, mean, std)
    samples = _scenes(n, height, width)
    pairs = [_target(s) for s in samples]
    views = {view: np.stack([prepare_input(getattr(s, view), spec)[0] for s in samples])
             for view in (("left",) if task == "mono" else ("left", "right"))}
    maps = (np.stack([t for t, _ in pairs]), np.stack([m for _, m in pairs]), tuple(mean), tuple(std))
    if "views" in DistillSet.__dataclass_fields__:
        return DistillSet(views, *maps)
    if task == "mono":
        return DistillSet(views["left"], *maps)
    from edgedepth.distill import stereo

    return stereo.StereoDistillSet(views["left"], views["right"], *maps)


def trainer(task: str) -> tuple[Any, Callable[[torch.nn.Module, Any, Any], Any]]:
    """(the module whose `optimise` the training calls, train(model, data, config)) of this version, or of an older
    one with a module per task."""
    try:
        from edgedepth.distill import run
        from edgedepth.distill.objectives.teacher import train_student
        from edgedepth.tasks import get_task
    except ImportError:
        from edgedepth.distill import mono, stereo

        if task == "stereo":
            return stereo, lambda model, data, config: stereo.train_stereo(model, data, config, progress=False)

        def train_mono(model: torch.nn.Module, data: Any, config: Any) -> Any:
            with linear_head(model):
                return mono._optimise(model, data, config, mono.RELATIVE, False)

        return mono, train_mono
    return run, lambda model, data, config: train_student(model, data, config, get_task(task), progress=False)


@contextmanager
def stamped_optimise(module: Any, stamps: list[float]) -> Iterator[dict[str, Any]]:
    """Replace `module.optimise` for the block by one that records perf_counter at the start of each batch_loss
    call (and once when the loop returns); yields a dict that receives the loop's own log."""
    real: Callable[..., dict] = module.optimise
    seen: dict[str, Any] = {}

    def optimise(model: torch.nn.Module, batch_loss: Callable[..., torch.Tensor], config: Any, *args: Any,
                 **kwargs: Any) -> dict:
        def stamped(*a: Any, **k: Any) -> torch.Tensor:
            stamps.append(time.perf_counter())
            return batch_loss(*a, **k)

        log = real(model, stamped, config, *args, **kwargs)
        stamps.append(time.perf_counter())
        seen.update(log)
        return log

    module.optimise = optimise
    try:
        yield seen
    finally:
        module.optimise = real


def run_task(task: str, warmup: int, steps: int, scenes: int, precision: str | None = None) -> dict[str, Any]:
    """Build the task's default student and a small exact-target set, run warmup + steps loop steps, and
    summarise the timed steps; `precision` sets the config's `mixed_precision` (None: the default)."""
    from edgedepth.distill import config as configs

    base = configs.DistillConfig() if task == "mono" else configs.StereoDistillConfig()
    config = replace(base, steps=warmup + steps)
    if precision is not None:
        if not hasattr(config, "mixed_precision"):
            raise SystemExit(f"--mixed-precision: this version's {type(config).__name__} has no mixed_precision")
        config = replace(config, mixed_precision=precision)
    torch.manual_seed(config.seed)
    model = create_model(config.model, **config.model_kwargs)
    mean = tuple(getattr(model, "input_mean", IMAGENET_MEAN))
    std = tuple(getattr(model, "input_std", IMAGENET_STD))
    data = exact_set(task, config, scenes, mean, std)
    stamps: list[float] = []
    module, train = trainer(task)
    with stamped_optimise(module, stamps) as log:
        train(model, data, config)
    if len(stamps) != config.steps + 1:
        raise RuntimeError(f"expected {config.steps + 1} time stamps, got {len(stamps)}")
    times_ms = list(np.diff(stamps[warmup:]) * 1000.0)  # step i: from its start to the next start (or the end)
    stats = latency_stats(times_ms)
    total_s = stamps[-1] - stamps[warmup]
    return {
        "model": config.model, "batch_size": config.batch_size, "input_size": list(config.input_size),
        "warmup_steps": warmup, "timed_steps": steps, "scenes": scenes,
        "images_per_s": round(config.batch_size * steps / total_s, 2),
        "images_per_s_at_p50": round(config.batch_size * 1000.0 / stats["p50"], 2),  # robust to a stray slow step
        "steps_per_s": round(steps / total_s, 3),
        "step_ms": {k: round(v, 2) for k, v in stats.items() if k in ("p50", "p90", "p99", "mean", "min", "max")},
        "precision": log.get("precision", "fp32"),
        "loop_log": {k: v for k, v in log.items() if isinstance(v, (int, float, str))},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps (default 40)")
    parser.add_argument("--scenes", type=int, default=16, help="procedural scenes in the training set")
    parser.add_argument("--task", default="mono,stereo", help="comma-separated: mono, stereo")
    parser.add_argument("--mixed-precision", choices=("auto", "bf16", "off"),
                        help="the configs' mixed_precision (default: theirs; versions without it take none)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"edgedepth {__version__} from {Path(edgedepth.__file__).parent}")
    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    for task in tasks:
        if task not in ("mono", "stereo"):
            parser.error(f"unknown task {task!r}")
    results = {task: run_task(task, args.warmup, args.steps, args.scenes, args.mixed_precision) for task in tasks}
    result = {"toolkit_version": __version__, "toolkit_path": str(Path(edgedepth.__file__).parent),
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(args.threads), "torch": torch.__version__, "threads": args.threads,
              "mixed_precision": args.mixed_precision or "config default", "tasks": results}
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "bench_distill.json"
    atomic_write_json(target, result)
    print(f"{'task':<7} {'model':<18} {'batch':>5} {'input':>8} {'prec':>5} {'img/s':>7} {'@p50':>7} {'step/s':>7} "
          f"{'p50 ms':>7} {'p90 ms':>7}")
    for task, r in results.items():
        size = "x".join(str(v) for v in r["input_size"])
        print(f"{task:<7} {r['model']:<18} {r['batch_size']:>5} {size:>8} {r['precision']:>5} "
              f"{r['images_per_s']:>7.2f} {r['images_per_s_at_p50']:>7.2f} {r['steps_per_s']:>7.3f} "
              f"{r['step_ms']['p50']:>7.1f} {r['step_ms']['p90']:>7.1f}")
    print(f"load average {result['machine'].get('load_average_1m', 'n/a')}; wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
