"""Time the torch fp32 student, its ONNX fp32 and ONNX int8 artifacts in one run; write JSON with the ratios.

Usage:
  python benchmarks/bench_student.py [--student CKPT] [--model midas_small_lite0] [--size 128x192]
                                     [--threads 1,2] [--iters 100] [--out runs/bench]

Without --student a seeded random-init student is built: latency does not depend on the weights' values.
Each artifact is warmed up, then timed at the same thread count on the same input; medians and p90/p99 are
reported, with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import torch

from edgedepth.checkpoint import StudentInfo, save_student
from edgedepth.models import create_model
from edgedepth.stages.export import export_student, quantize_student
from edgedepth.torch_runner import TorchRunner
from edgedepth.version import __version__
from runtime.atomic import atomic_write_json
from runtime.bench import machine_info
from runtime.bundle import Bundle
from runtime.measure import Timing, measure_bundle, measure_loaded
from runtime.preprocess import prepare_input


def random_student(model: str, size: tuple[int, int], path: Path) -> Path:
    """A seeded random-init student checkpoint (for timing only)."""
    torch.manual_seed(0)
    net = create_model(model)
    info = StudentInfo(config=dict(net.config), input_size=size, mean=list(net.input_mean), std=list(net.input_std),
                       output_kind=net.output_kind, teacher={"name": "none"})
    return save_student(path, net, info)


def time_all(checkpoint: Path, work: Path, threads: int, warmup: int, iters: int) -> dict:
    """Latency of torch fp32, ONNX fp32 and ONNX int8 at `threads` threads, on one deterministic input."""
    from edgedepth.data import get_dataset

    fp32 = export_student(checkpoint, work / f"t{threads}", "onnx")
    int8 = quantize_student(fp32, work / f"t{threads}", samples=16)
    image = get_dataset("motorcycle")[0].left

    def feed(bundle: Bundle) -> dict:
        return {"image": prepare_input(image, bundle.inputs[0])}

    timing = Timing(warmup, iters)
    student = TorchRunner(checkpoint)
    student.load(student.student, threads)
    with student:
        measured = [measure_loaded(student, "torch-fp32", feed=feed, timing=timing)]
    measured += [measure_bundle(bundle, threads, feed=feed, timing=timing) for bundle in (fp32, int8)]
    failed = [f"{m.name}: {m.reason}" for m in measured if not m.ok]
    if failed:
        raise SystemExit(f"bench_student: {'; '.join(failed)}")
    results = {m.name: m.latency for m in measured}
    base = results["torch-fp32"]["fps"]
    for stats in results.values():
        stats["speedup_vs_torch_fp32"] = round(stats["fps"] / base, 3)
    results["int8_vs_fp32_onnx"] = round(results["onnx-int8"]["fps"] / results["onnx-fp32"]["fps"], 3)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, help="student checkpoint (default: random-init --model)")
    parser.add_argument("--model", default="midas_small_lite0")
    parser.add_argument("--size", default="128x192", help="input HEIGHTxWIDTH for a random-init student")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    threads = [int(t) for t in args.threads.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkpoint = args.student or random_student(args.model, (height, width), work / "student.safetensors")
        runs = {str(t): time_all(checkpoint, work, t, args.warmup, args.iters) for t in threads}
    result = {"toolkit_version": __version__, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(max(threads)), "student": str(args.student or f"random-init {args.model}"),
              "input_size": [height, width], "warmup": args.warmup, "iters": args.iters, "by_threads": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"bench_{dt.datetime.now():%Y%m%d_%H%M%S}.json"
    atomic_write_json(target, result)
    for t, run in runs.items():
        line = ", ".join(f"{name} {stats['fps']:.1f} FPS (p50 {stats['p50']:.2f} ms, ×{stats['speedup_vs_torch_fp32']})"
                         for name, stats in run.items() if isinstance(stats, dict))
        print(f"{t} thread(s): {line}")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
