"""Full-size originals on the device backends: each official architecture (random weights: latency does not depend
on them) exported through ONNX Runtime, OpenVINO and LiteRT at fp32 / fp16 / int8, timed against torch fp32 at a
fixed thread count, with each bundle's fidelity to torch (fp32 and fp16) or to its fp32 bundle (int8).

Usage:
  python benchmarks/bench_originals.py [--families depth-anything-v2-small,midas-v2.1-small,...]
                                       [--formats onnx,openvino,tflite] [--precisions fp32,fp16,int8]
                                       [--threads 2] [--iters 20] [--out runs/bench_originals]

Families: depth-anything-v2-small (518×518), midas-v2.1-small (256×256), monodepth2-r18 (192×640),
raft-stereo-realtime (384×640), aanet (384×624, slow on 2 cores). `--formats coreml` gives CoreML rows
without latency off macOS, with their fidelity from the numpy MIL interpreter. Depth Anything's random
weights are drawn by `edgedepth.originals.random_weights` (a default init gives outputs near 1e-7, which no
fidelity figure can be read on). int8 is calibrated on 8 procedural scenes; it keeps LayerNorm, Softmax, GELU
and the output head float.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from edgedepth.originals import Original, original_from_spec
from edgedepth.originals.official_files import midas_v21_small_file, monodepth2_folder
from edgedepth.originals.random_weights import vary_weights
from edgedepth.stages.export import ExportSource, export_many
from edgedepth.torch_runner import TorchRunner
from edgedepth.version import __version__
from runtime.atomic import atomic_write_json, atomic_write_text
from runtime.bench import machine_info
from runtime.bundle import Bundle
from runtime.feeds import random_inputs
from runtime.measure import Timing, measure_bundle, measure_loaded
from runtime.rows import ORIGINAL_REFERENCE


def depth_anything_v2_small(work: Path) -> Original:
    """The Depth Anything V2 Small architecture (its Hugging Face config) with varied random weights."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                            patch_size=14, image_size=518, out_indices=[3, 6, 9, 12], reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[48, 96, 192, 384],
                                 fusion_hidden_size=64, architectures=["DepthAnythingForDepthEstimation"])
    torch.manual_seed(0)
    vary_weights(DepthAnythingForDepthEstimation(config)).save_pretrained(work / "da-v2-small")
    return original_from_spec(f"hf:{work / 'da-v2-small'}", {}, (518, 518))


def build(family: str, work: Path) -> Original:
    """The family's full-size original."""
    if family == "depth-anything-v2-small":
        return depth_anything_v2_small(work)
    if family == "midas-v2.1-small":
        path, _ = midas_v21_small_file(work / "midas_v21_small_256.pt")
        return original_from_spec(f"midas_v21_small:{path}", {}, (256, 256))
    if family == "monodepth2-r18":
        return original_from_spec(f"monodepth2:{monodepth2_folder(work / 'monodepth2', 18)}", {}, None)
    if family == "raft-stereo-realtime":
        return original_from_spec("raft_stereo", {"random_init": True, "config": "realtime"}, (384, 640))
    if family == "aanet":
        return original_from_spec("aanet", {"random_init": True}, None)
    raise SystemExit(f"bench_originals: unknown family {family!r} (known: {', '.join(FAMILIES)})")


FAMILIES = ("depth-anything-v2-small", "midas-v2.1-small", "monodepth2-r18", "raft-stereo-realtime", "aanet")
PRECISION_NAMES = {"fp32": "fp32", "fp16": "fp16", "int8": "int8"}


def time_original(original: Original, bundles: list[Bundle], threads: int, timing: Timing) -> dict[str, Any]:
    """torch fp32 and every bundle timed on the same seeded input at `threads` threads."""
    runner = TorchRunner.of_module(original.module, original.info(), Path(original.spec), ORIGINAL_REFERENCE,
                                   (original.input_filter, original.output_filter))
    runner.load(runner.student, threads)
    feed: Callable[[Bundle], dict] = lambda bundle: random_inputs(bundle, seed=0)  # noqa: E731
    with runner:
        measured = [measure_loaded(runner, "torch-fp32", feed=feed, timing=timing)]
    measured += [measure_bundle(bundle, threads, feed=feed, timing=timing) for bundle in bundles]
    rows = {}
    for m, bundle in zip(measured, [None, *bundles], strict=True):
        row: dict[str, Any] = {"status": m.status, "backend": m.backend, **m.latency_fields()}
        if not m.ok:
            row["reason"] = m.reason
        if bundle is not None:
            row["parity"] = bundle.manifest.get("parity")
            quantization = bundle.manifest.get("quantization") or {}
            for key in ("macs", "float_op_types", "float_nodes", "float32_op_types"):
                if key in quantization:
                    row[key] = quantization[key]
        rows["torch-fp32" if bundle is None else bundle.name] = row
    return rows


def with_ratios(rows: dict[str, dict]) -> dict[str, dict]:
    """Each row's speed-up over torch fp32, and each lower precision's latency over its format's fp32."""
    base = rows["torch-fp32"].get("fps")
    for name, row in rows.items():
        if base and row.get("fps"):
            row["speedup_vs_torch_fp32"] = round(row["fps"] / base, 3)
        fmt, _, precision = name.partition("-")
        fp32 = rows.get(f"{fmt}-fp32", {}).get("latency_ms", {}).get("p50")
        if precision not in ("", "fp32") and fp32 and row.get("latency_ms"):
            row["latency_vs_fp32"] = round(row["latency_ms"]["p50"] / fp32, 3)
    return rows


def markdown(results: dict[str, Any]) -> str:
    """One table per family: backend row, p50 ms, FPS, speed-up over torch, latency vs fp32, PSNR, int8 MACs."""
    lines = [f"Measured {results['created']} on {results['machine'].get('cpu', '?')}, {results['threads']} "
             f"thread(s), median of {results['iters']} runs after {results['warmup']} warm-up.", ""]
    for family, entry in results["families"].items():
        lines += [f"### {family} ({entry['input_size'][0]}×{entry['input_size'][1]})", "",
                  "| artifact | backend | p50 ms | p90 ms | FPS | × torch | vs fp32 | PSNR dB | int8 MACs |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, row in entry["rows"].items():
            parity = row.get("parity") or {}
            psnr = parity.get("psnr_db")
            if row["status"] != "ok":  # a CoreML bundle off macOS: no latency, its parity from the MIL interpreter
                fidelity = "" if psnr is None else f"{float(psnr):.1f} (vs {parity.get('vs', 'torch')}, " \
                                                   f"{parity.get('runner', '?')})"
                lines.append(f"| {name} | {row['status']}: {row.get('reason', '')} |  |  |  |  |  | {fidelity} |  |")
                continue
            share = (row.get("macs") or {}).get("int8_share")
            lines.append(f"| {name} | {row['backend']} | {row['latency_ms']['p50']:.1f} | "
                         f"{row['latency_ms']['p90']:.1f} | {row['fps']:.2f} | "
                         f"{row.get('speedup_vs_torch_fp32', '—')} | "
                         f"{row.get('latency_vs_fp32', '—')} | {'—' if psnr is None else f'{float(psnr):.1f}'} "
                         f"{'' if psnr is None else '(vs ' + str(parity.get('vs', 'torch')) + ')'} | "
                         f"{'—' if share is None else f'{100 * share:.2f} %'} |")
        failed = entry.get("failed") or []
        lines += [f"- {f['name']}: {f['status']}: {f['reason']}" for f in failed] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="depth-anything-v2-small,midas-v2.1-small,monodepth2-r18")
    parser.add_argument("--formats", default="onnx,openvino,tflite")
    parser.add_argument("--precisions", default="fp32,fp16,int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_originals"))
    args = parser.parse_args(argv)
    timing = Timing(args.warmup, args.iters)
    results: dict[str, Any] = {"toolkit_version": __version__, "threads": args.threads, "warmup": args.warmup,
                               "iters": args.iters, "machine": machine_info(args.threads),
                               "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                               "families": {}}
    exports = {fmt: args.precisions.split(",") for fmt in args.formats.split(",")}
    for family in args.families.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            original = build(family, work)
            source = ExportSource.of_original(original, args.calibration, 0)
            bundles, failures = export_many(source, work / "bundles", exports)
            rows = with_ratios(time_original(original, bundles, args.threads, timing))
        results["families"][family] = {"input_size": list(original.input_size), "rewrites": original.rewrites,
                                       "rows": rows, "failed": [vars(f) for f in failures]}
        print(markdown({**results, "families": {family: results["families"][family]}}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = f"{dt.datetime.now():%Y%m%d_%H%M%S}"
    atomic_write_json(args.out / f"originals_{stamp}.json", results)
    atomic_write_text(args.out / f"originals_{stamp}.md", markdown(results) + "\n")
    print(f"wrote {args.out / f'originals_{stamp}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
