"""Soak: run each runner available here for many inferences and watch its resident memory, so a leak in a runner
(a session, an interpreter, a buffer kept per call) shows as growth long before a device runs out.

Usage:
  python benchmarks/soak.py [--iters 10000] [--every 100] [--warmup 200] [--threads 2] [--size 128x192]
                            [--formats onnx,tflite,openvino,tensorrt] [--out runs/soak]

A seeded random-init student (memory does not depend on the weights' values) is exported once per format at
fp32 and int8; each bundle runs in its own fresh process (so one runner's allocations never count against
another's), feeding the same real picture every time. RSS (VmRSS) is sampled every `--every` inferences;
growth is measured from the end of warm-up to the last sample. Writes soak.json and soak.png (RSS over
iterations, one line per artifact).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Growth after warm-up above this is reported as a leak (the budget for 10,000 inferences).
MAX_GROWTH_MB = 20.0
PRECISIONS = ("fp32", "int8")


def rss_mb() -> float:
    """This process's resident set size in MiB, from /proc (Linux), else ru_maxrss (a peak, not the current)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def soak_one(bundle_dir: str, image_path: str, iters: int, every: int, warmup: int, threads: int) -> dict:
    """In this process (torch-free, as on a device): load the bundle's runner once, run `warmup` + `iters`
    inferences on the picture saved at `image_path` (.npy), sample RSS."""
    import numpy as np

    from runtime.bundle import load_bundle
    from runtime.preprocess import prepare_input
    from runtime.runners.registry import emulation_for_format, runner_for_format

    bundle = load_bundle(bundle_dir)
    runner_cls = runner_for_format(bundle.format)
    if not runner_cls.available()[0]:
        runner_cls = emulation_for_format(bundle.format) or runner_cls
    ok, reason = runner_cls.available()
    if not ok:
        return {"status": "skipped", "reason": reason}
    image = np.load(image_path)
    feed = {spec["name"]: prepare_input(image, spec) for spec in bundle.inputs}
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    with runner_cls() as runner:
        runner.load(bundle, threads)
        samples.append((0, rss_mb()))
        for i in range(1, warmup + iters + 1):
            runner.infer(feed)
            if i % every == 0 or i == warmup:
                samples.append((i, rss_mb()))
    after_warmup = next(mb for i, mb in samples if i >= warmup)
    return {"status": "ok", "runner": runner_cls.name, "samples": samples, "rss_after_load_mb": samples[1][1],
            "rss_after_warmup_mb": after_warmup, "rss_end_mb": samples[-1][1],
            "growth_mb": round(samples[-1][1] - after_warmup, 2), "iters": iters, "warmup": warmup}


def export_bundles(formats: list[str], size: tuple[int, int], work: Path) -> list[Path]:
    """fp32 and int8 bundles of a random-init student for every format that exports here."""
    import torch

    from edgedepth.checkpoint import StudentInfo, save_student
    from edgedepth.models import create_model
    from edgedepth.stages.export import export_many

    torch.manual_seed(0)
    net = create_model("midas_small_lite0")
    info = StudentInfo(config=dict(net.config), input_size=size, mean=list(net.input_mean), std=list(net.input_std),
                       output_kind=net.output_kind, teacher={"name": "sgbm"})
    checkpoint = save_student(work / "student.safetensors", net, info)
    bundles, failures = export_many(checkpoint, work / "bundles", {f: list(PRECISIONS) for f in formats},
                                    calibration_samples=8, report=lambda *_: None)
    for failure in failures:
        print(f"soak: {failure.name} {failure.status}: {failure.reason}", file=sys.stderr)
    return [bundle.path for bundle in bundles]


def plot(results: dict, path: Path) -> None:
    """RSS over iterations, one line per artifact, with Pillow."""
    from PIL import Image, ImageDraw

    series = {name: r["samples"] for name, r in results.items() if r.get("status") == "ok"}
    if not series:
        return
    width, height, left, top, right, bottom = 900, 520, 70, 30, 230, 50
    xs = [i for s in series.values() for i, _ in s]
    ys = [mb for s in series.values() for _, mb in s[1:]]
    x_max, y_low, y_high = max(xs) or 1, min(ys) - 5, max(ys) + 5
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    plot_w, plot_h = width - left - right, height - top - bottom

    def at(i: int, mb: float) -> tuple[float, float]:
        return left + plot_w * i / x_max, top + plot_h * (1 - (mb - y_low) / (y_high - y_low))

    draw.rectangle([left, top, left + plot_w, top + plot_h], outline=(0, 0, 0))
    for k in range(5):
        mb = y_low + (y_high - y_low) * k / 4
        draw.text((5, at(0, mb)[1] - 6), f"{mb:.0f} MB", fill=(0, 0, 0))
        i = int(x_max * k / 4)
        draw.text((at(i, y_low)[0] - 15, top + plot_h + 8), str(i), fill=(0, 0, 0))
    draw.text((left + plot_w // 2 - 40, height - 20), "inferences", fill=(0, 0, 0))
    warmup = next(r["warmup"] for r in results.values() if r.get("status") == "ok")
    x_warm = at(warmup, y_low)[0]
    for y in range(top, top + plot_h, 8):  # dashed: growth is measured from here on
        draw.line([(x_warm, y), (x_warm, y + 4)], fill=(150, 150, 150))
    draw.text((x_warm + 4, top + plot_h - 16), "end of warm-up", fill=(120, 120, 120))
    palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
               (227, 119, 194), (127, 127, 127)]
    for n, (name, samples) in enumerate(series.items()):
        colour = palette[n % len(palette)]
        draw.line([at(i, mb) for i, mb in samples[1:]], fill=colour, width=2)
        draw.text((left + plot_w + 10, top + 16 * n), f"{name} {results[name]['growth_mb']:+.1f} MB", fill=colour)
    image.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="128x192")
    parser.add_argument("--formats", default="onnx,tflite,openvino,tensorrt")
    parser.add_argument("--out", type=Path, default=Path("runs/soak"))
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # internal: BUNDLE IMAGE.npy, in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(soak_one(*args.one, args.iters, args.every, args.warmup, args.threads)))
        return 0
    from runtime.atomic import atomic_write_json
    from runtime.bench import machine_info, set_thread_env

    height, width = (int(v) for v in args.size.split("x"))
    env = set_thread_env(args.threads)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        import numpy as np

        from edgedepth.data import get_dataset

        image = Path(work) / "motorcycle.npy"
        np.save(image, get_dataset("motorcycle")[0].left)
        for bundle in export_bundles(args.formats.split(","), (height, width), Path(work)):
            command = [sys.executable, __file__, "--one", str(bundle), str(image), "--iters", str(args.iters),
                       "--every", str(args.every), "--warmup", str(args.warmup), "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, env={**_environ(), **env})
            if done.returncode != 0:
                results[bundle.name] = {"status": "failed", "reason": done.stderr.strip().splitlines()[-1:]}
            else:
                results[bundle.name] = json.loads(done.stdout.strip().splitlines()[-1])
            row = results[bundle.name]
            print(f"{bundle.name}: {row.get('runner', '')} {row['status']} "
                  f"growth {row.get('growth_mb', '—')} MB over {args.iters} inferences", file=sys.stderr)
    leaks = [name for name, r in results.items() if r.get("status") == "ok" and r["growth_mb"] > MAX_GROWTH_MB]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "soak.json", {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(args.threads), "settings": {k: v for k, v in vars(args).items() if k != "one"},
        "max_growth_mb": MAX_GROWTH_MB, "leaks": leaks, "results": results})
    plot(results, args.out / "soak.png")
    print(f"wrote {args.out / 'soak.json'} and {args.out / 'soak.png'}; leaks: {', '.join(leaks) or 'none'}")
    return 1 if leaks else 0


def _environ() -> dict[str, str]:
    """The parent's environment, with this checkout importable in the child."""
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


if __name__ == "__main__":
    sys.exit(main())
