"""Time two distillation epochs' teacher pass with the teacher-output cache: the first computes every prediction
of a DPT-size teacher on the CPU, the second reads them back. Writes JSON with both and their ratio.

Usage:
  python benchmarks/bench_teacher_cache.py [--teacher hf:FOLDER] [--images DIR] [--count 8] [--threads 2]
                                           [--out runs/bench]

Without --teacher a random-init DPT-Large (the transformers DPTConfig defaults: ViT-L/16 at 384, about 343M
parameters, MiDaS v3.0's architecture) is saved to a temporary folder and loaded as `hf:` would load a real one;
the time per image does not depend on the weights' values. Without --images the photos are procedural scenes'
left views. An epoch is `build_distill_set` over the photos: teacher (or cache) plus the student's inputs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import torch

from edgedepth.checkpoint import StudentInfo
from edgedepth.data import get_dataset
from edgedepth.data.images import ImageFolder
from edgedepth.distill.dataset import build_distill_set
from edgedepth.models import create_model
from edgedepth.specs import input_spec
from edgedepth.teachers.cache import CachedTeacher, build_teacher
from edgedepth.version import __version__
from runtime.atomic import atomic_write_json
from runtime.bench import machine_info


def random_dpt_large(folder: Path) -> Path:
    """A seeded random-init DPT-Large saved with save_pretrained (safetensors)."""
    from transformers import DPTConfig, DPTForDepthEstimation

    torch.manual_seed(0)
    DPTForDepthEstimation(DPTConfig()).save_pretrained(folder)
    return folder


def student_spec(size: tuple[int, int]) -> dict:
    """The input spec of the demo's mono student at `size`."""
    net = create_model("midas_small_lite0")
    info = StudentInfo(config=dict(net.config), input_size=size, mean=list(net.input_mean), std=list(net.input_std),
                       output_kind=net.output_kind, teacher={"name": "none"})
    return input_spec(info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default=None, help="teacher spec (default: random-init DPT-Large, hf:)")
    parser.add_argument("--images", type=Path, default=None, help="photo folder (default: procedural scenes)")
    parser.add_argument("--count", type=int, default=8, help="photos per epoch (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="teacher threads (default 2)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        spec = args.teacher or f"hf:{random_dpt_large(Path(tmp) / 'dpt-large')}"
        teacher = build_teacher(spec, {"threads": args.threads})
        if args.images is not None:
            photos = ImageFolder(args.images)[: args.count]
        else:
            photos = get_dataset("procedural", n=args.count, seed=11, height=384, width=512)
        photos = [photos[i] for i in range(len(photos))]  # decoded once, outside the timed epochs
        cached = CachedTeacher(teacher, Path(tmp) / "cache")
        spec_in = student_spec((128, 192))
        epochs = []
        for epoch in (1, 2):
            start = time.perf_counter()
            build_distill_set(cached, spec_in, photos, progress=False)
            epochs.append({"epoch": epoch, "seconds": round(time.perf_counter() - start, 3),
                           "hits": cached.hits, "misses": cached.misses})
    first, second = epochs[0]["seconds"], epochs[1]["seconds"]
    result = {
        "benchmark": "teacher_cache", "toolkit_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(args.threads), "teacher": teacher.identity(), "photos": len(photos),
        "photo_hw": list(photos[0].left.shape[:2]), "epochs": epochs,
        "ms_per_photo": {"computed": round(1000 * first / len(photos), 1),
                         "cached": round(1000 * second / len(photos), 2)},
        "second_epoch_speedup": round(first / second, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "teacher_cache.json"
    atomic_write_json(target, result)
    print(f"epoch 1 {first:.2f} s, epoch 2 {second:.3f} s: {result['second_epoch_speedup']}x  -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
