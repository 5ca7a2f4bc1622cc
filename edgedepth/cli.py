"""`edgedepth` command line: the demo and the stage verbs it chains (distill, export, quantize, verify, bench)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from edgedepth.data.procedural import SCENE_FAMILIES
from edgedepth.distill.recipes import recipe, recipe_names
from edgedepth.errors import EdgeDepthError
from edgedepth.version import __version__
from quantize.registry import describe_methods
from runtime.bundle import MONO, TASKS, BundleError

EPILOG = """\
typical run, stage by stage:
  edgedepth distill  --out runs/x/student.safetensors
  edgedepth export   --student runs/x/student.safetensors --out runs/x/bundles --format onnx,tflite --precision all
  edgedepth verify   --student runs/x/student.safetensors --bundles runs/x/bundles --out runs/x
  edgedepth bench    --student runs/x/student.safetensors --bundles runs/x/bundles --out runs/x
or all at once on the embedded data:
  edgedepth demo --out runs/demo
"""


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH like 160x224, got '{text}'") from exc
    if height <= 0 or width <= 0 or height % 32 or width % 32:
        raise argparse.ArgumentTypeError(f"input size {text} must be positive multiples of 32")
    return height, width


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text}")
    return value


def _keyword(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as JSON when it parses (512, true, [1, 2]) and as a string otherwise."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def _cache_dir(args: argparse.Namespace) -> str | None:
    """The teacher-output cache directory the flags choose: --cache DIR, none with --no-cache, else the default."""
    from edgedepth.teachers.cache import default_cache_dir

    if args.no_cache:
        return None
    return str(args.cache or default_cache_dir())


def _cache_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", type=Path, default=None,
                        help="teacher-output cache directory (default $EDGEDEPTH_CACHE or ~/.cache/edgedepth/teachers)")
    parser.add_argument("--no-cache", action="store_true", help="compute every teacher prediction afresh")


def _eval_args(parser: argparse.ArgumentParser, out_help: str, force_help: str) -> None:
    """Arguments shared by verify and bench: what to measure, where to write, and how."""
    parser.add_argument("--student", type=Path, required=True, help="student checkpoint the bundles came from")
    parser.add_argument("--bundles", type=Path, nargs="+", required=True, help="bundle directories or their parent")
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--force", action="store_true", help=force_help)
    parser.add_argument("--threads", type=_positive, default=2, help="CPU threads for every backend (default 2)")
    parser.add_argument("--eval-scenes", type=int, default=32, help="held-out procedural scenes (default 32)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed warm-up runs per artifact (default 10)")
    parser.add_argument("--iters", type=_positive, default=50, help="timed runs per artifact (default 50)")
    parser.add_argument("--images", type=Path, default=None,
                        help="evaluate on every JPEG/PNG of this folder (default: the student's held-out images "
                        "when it was distilled with --images, else the embedded data)")
    _cache_args(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage."""
    parser = argparse.ArgumentParser(
        prog="edgedepth", description="Distill depth models into small students, quantize and export them, and "
        "verify accuracy and speed of every artifact against the original.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edgedepth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the whole pipeline on the embedded data and write a report",
                          description="Distill a small MiDaS student from OpenCV SGBM on procedural stereo scenes, "
                          "export it to ONNX fp32, quantize it to int8, then verify and time every artifact against "
                          "the teacher and the torch fp32 student. Writes report.json, report.md and pictures/.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory (default runs/demo)")
    demo.add_argument("--task", choices=TASKS, default=MONO,
                      help="mono: a MiDaS-small student; stereo: the stereo_small student (default mono)")
    demo.add_argument("--quick", action="store_true", help="a one-minute run with a barely trained student")
    demo.add_argument("--steps", type=_positive,
                      help="distillation steps (default 1200 mono, 1600 stereo; 120 with --quick)")
    demo.add_argument("--threads", type=_positive, default=2, help="CPU threads for training and every backend")
    demo.add_argument("--formats", type=_csv, default=["onnx"],
                      help="comma-separated export formats, or 'all' (default onnx)")
    demo.add_argument("--precisions", type=_csv, default=["fp32", "int8"],
                      help="comma-separated precisions, or 'all' for every precision each format writes "
                      "(default fp32,int8)")
    demo.add_argument("--force", action="store_true", help="replace an existing run in --out")

    dis = sub.add_parser("distill", help="train a student from a teacher on procedural scenes or your photos",
                         description="Distill a student from a teacher's predictions on procedural stereo scenes "
                         "(or, with --images, on a folder of photos) and save it as a safetensors checkpoint. "
                         "Teachers: sgbm, raft_stereo:CHECKPOINT (stereo); hf:FOLDER_OR_REPO_ID (Depth Anything "
                         "V1/V2, DPT/MiDaS v3.x, ZoeDepth, offline), midas_v21_small:CHECKPOINT, onnx:FILE "
                         "(declare --teacher-arg kind=relative_inverse_depth|metric_depth). Relative teachers train "
                         "with the scale-and-shift-invariant loss, metric ones with the scale-invariant log loss.")
    dis.add_argument("--out", type=Path, required=True, help="checkpoint to write (.safetensors)")
    dis.add_argument("--task", choices=TASKS, default=MONO,
                     help="mono: relative depth from one image; stereo: disparity from a rectified pair")
    dis.add_argument("--model", default=None,
                     help="student architecture (default midas_small_lite0; stereo_small for --task stereo)")
    dis.add_argument("--teacher", default="sgbm", help="teacher spec (default sgbm)")
    dis.add_argument("--teacher-arg", type=_keyword, action="append", default=[], metavar="KEY=VALUE",
                     help="a teacher keyword, repeatable (e.g. kind=metric_depth, size=256x256, threads=2)")
    dis.add_argument("--images", type=Path, default=None,
                     help="distill on this folder of JPEG/PNG photos (no ground truth needed) instead of scenes")
    dis.add_argument("--holdout", type=int, default=None,
                     help="photos held out for verify (default 10%%, at least 1)")
    dis.add_argument("--init", type=Path, default=None,
                     help="start from these weights: the official midas_v21_small_256.pt (with --model "
                     "midas_small) or a student checkpoint of the same architecture")
    dis.add_argument("--trust-pickle", action="store_true",
                     help="allow a full unpickle of --init (only for a file you trust; a teacher takes "
                     "--teacher-arg trust_pickle=true)")
    _cache_args(dis)
    dis.add_argument("--size", type=_size, default=None,
                     help="student input HEIGHTxWIDTH (default 128x192; 128x256 for --task stereo)")
    dis.add_argument("--steps", type=_positive, default=None,
                     help="optimisation steps (default 1200 mono, 1600 stereo)")
    dis.add_argument("--scenes", type=_positive, default=None,
                     help="procedural training scenes (default 200 mono, 400 stereo)")
    dis.add_argument("--batch-size", type=_positive, default=None, help="batch size (default 8 mono, 4 stereo)")
    dis.add_argument("--recipe", choices=recipe_names(), default="demo",
                     help="demo: the quick default; long: ≤ 60 min on 2 cores, with a learning curve (held-out "
                     "accuracy vs training minutes) written next to the checkpoint. Flags given here win.")
    dis.add_argument("--eval-every", type=_positive, default=None,
                     help="measure held-out accuracy every N steps and draw the learning curve next to the "
                     "checkpoint (<name>.curve.png; the long recipe does every 500)")
    dis.add_argument("--gt-weight", type=_non_negative, default=None,
                     help="weight of the procedural scenes' exact depth next to the teacher's targets (default 0 "
                     "mono, 1 stereo; 0 = teacher only)")
    dis.add_argument("--scene-family", choices=SCENE_FAMILIES, default=None,
                     help="procedural scenes: grounded (objects standing on the ground, the cues one image has) or "
                     "classic (floating solids) (default grounded)")
    dis.add_argument("--lr", type=float, default=None, help="peak learning rate (default 4e-3 mono, 2e-3 stereo)")
    dis.add_argument("--mixed-precision", choices=("auto", "bf16", "off"), default=None,
                     help="auto: bf16 forward where the CPU computes bf16 natively (AVX512-BF16 or AMX), float32 "
                     "elsewhere; bf16: always; off: float32 throughout. Weights stay float32 (default auto)")
    dis.add_argument("--seed", type=int, default=0)
    dis.add_argument("--threads", type=_positive, default=2)
    dis.add_argument("--force", action="store_true", help="overwrite an existing checkpoint")

    exp = sub.add_parser("export", help="export a student checkpoint to deployable bundles",
                         description="Export the student to one bundle per (format, precision): model file + "
                         "manifest.json with sha256s, each compared with the torch student. Quantized bundles are "
                         "calibrated on procedural scenes. A format whose library is missing or whose conversion "
                         "fails is reported and recorded in exports.json; the others are still written. "
                         "Formats: onnx, tflite, coreml, openvino. Precisions: fp32, fp16, int8 (static), "
                         "int8-dynamic (tflite), w8, w8a8, palettized-6bit, palettized-4bit (coreml); 'all'.",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    exp.add_argument("--student", type=Path, required=True, help="student checkpoint (.safetensors)")
    exp.add_argument("--out", type=Path, required=True, help="directory that receives the bundles")
    exp.add_argument("--format", type=_csv, default=["onnx"], help="comma-separated formats or 'all' (default onnx)")
    exp.add_argument("--precision", type=_csv, default=["fp32"],
                     help="comma-separated precisions or 'all' (default fp32)")
    exp.add_argument("--layout", choices=("NCHW", "NHWC"), default="NCHW",
                     help="input layout of the exported model (NHWC: what Android camera pipelines feed)")
    exp.add_argument("--calibration", type=_positive, default=32, help="calibration images (default 32)")
    exp.add_argument("--seed", type=int, default=0, help="seed of the calibration scenes")
    exp.add_argument("--force", action="store_true", help="replace existing bundles")

    qua = sub.add_parser("quantize", help="quantize an fp32 bundle (static int8 by default)",
                         description="Derive a lower-precision bundle from an fp32 one with a registered method; "
                         "calibrated methods use procedural scenes (or --images).")
    qua.add_argument("--bundle", type=Path, required=True, help="fp32 bundle directory")
    qua.add_argument("--out", type=Path, required=True, help="directory that receives the quantized bundle")
    qua.add_argument("--method", default=None, help=f"one of: {describe_methods()} (default: the first listed "
                     "for the bundle's format)")
    qua.add_argument("--calibration", type=_positive, default=32, help="calibration images (default 32)")
    qua.add_argument("--seed", type=int, default=0, help="seed of the calibration scenes")
    qua.add_argument("--images", type=Path, default=None,
                     help="calibrate on this folder of JPEG/PNG photos instead of procedural scenes")
    qua.add_argument("--force", action="store_true", help="replace an existing int8 bundle")

    ver = sub.add_parser("verify", help="compare every bundle with the teacher, the fp32 student and ground truth",
                         description="Run every bundle and the torch fp32 student on the embedded evaluation data; "
                         "write report.json, report.md and pictures/ to --out.")
    _eval_args(ver, out_help="report directory", force_help="overwrite an existing report")

    ben = sub.add_parser("bench", help="time every bundle and the fp32 student at a fixed thread count",
                         description="Warm up, then time each artifact on the same input; writes bench.json and, "
                         "if --out holds a verify report, adds latency, FPS and speed-up to it.")
    _eval_args(ben, out_help="directory for bench.json (and an existing report)",
               force_help="overwrite an existing bench.json")
    return parser


def _eval_config(args: argparse.Namespace):
    from edgedepth.pipeline import EvalConfig

    return EvalConfig(procedural_scenes=args.eval_scenes, threads=args.threads, warmup=args.warmup, iters=args.iters,
                      images=None if args.images is None else str(args.images), teacher_cache=_cache_dir(args))


def _cmd_demo(args: argparse.Namespace) -> None:
    from edgedepth.pipeline import DemoConfig, run_demo

    config = DemoConfig.quick() if args.quick else DemoConfig()
    steps = {"steps": args.steps} if args.steps else {}
    config.distill = replace(config.distill, threads=args.threads, **steps)
    config.stereo = replace(config.stereo, threads=args.threads, **steps)
    config.task = args.task
    config.evaluation = replace(config.evaluation, threads=args.threads)
    config.formats, config.precisions = args.formats, args.precisions
    report = run_demo(args.out, config, force=args.force)
    print((args.out / "report.md").read_text())
    print(f"wrote {args.out / 'report.json'}, {args.out / 'report.md'} and {len(report.get('pictures', []))} pictures")


def _cmd_distill(args: argparse.Namespace) -> None:
    from edgedepth.distill.mono import DistillConfig, distill
    from edgedepth.distill.stereo import StereoDistillConfig, distill_stereo

    if args.out.exists() and not args.force:
        raise EdgeDepthError(f"{args.out} already exists (use --force to overwrite)")
    if args.task == "stereo":
        mono_only = [flag for flag, value in (("--images", args.images), ("--init", args.init)) if value]
        if mono_only:
            raise EdgeDepthError(f"{', '.join(mono_only)}: not available with --task stereo")
        config_cls, run, extra = StereoDistillConfig, distill_stereo, {}
    else:
        extra = {"images": None if args.images is None else str(args.images), "holdout": args.holdout,
                 "init": None if args.init is None else str(args.init), "trust_pickle": args.trust_pickle}
        config_cls, run = DistillConfig, distill
    # Flags left out keep the task's own defaults (the config dataclass's).
    chosen = {"model": args.model, "input_size": args.size, "steps": args.steps, "scenes": args.scenes,
              "batch_size": args.batch_size, "lr": args.lr, "gt_weight": args.gt_weight,
              "scene_family": args.scene_family, "eval_every": args.eval_every,
              "mixed_precision": args.mixed_precision}
    fields = {**recipe(args.task, args.recipe), **{k: v for k, v in chosen.items() if v is not None}}
    config = config_cls(teacher=args.teacher, teacher_kwargs=dict(args.teacher_arg), cache=_cache_dir(args),
                        seed=args.seed, threads=args.threads, **fields, **extra)
    print(f"wrote {run(config, args.out, force=args.force)}")


def _cmd_export(args: argparse.Namespace) -> int:
    from edgedepth.pipeline import export_many, record_failures

    if not args.student.is_file():
        raise EdgeDepthError(f"no student checkpoint at {args.student}")
    bundles, failures = export_many(args.student, args.out, args.format, args.precision, args.layout,
                                    args.calibration, args.seed, force=args.force)
    record_failures(args.out, bundles, failures)
    failed = [f for f in failures if f.status == "failed"]
    print(f"{len(bundles)} bundle(s) written, {len(failed)} failed, {len(failures) - len(failed)} skipped")
    return 1 if failed or not bundles else 0


def _cmd_quantize(args: argparse.Namespace) -> None:
    from edgedepth.pipeline import quantize_student
    from runtime.bundle import load_bundle

    bundle = quantize_student(load_bundle(args.bundle), args.out, args.calibration, args.seed, args.method,
                              force=args.force, images=None if args.images is None else str(args.images))
    print(f"wrote {bundle.path}")


def _cmd_verify(args: argparse.Namespace) -> None:
    from edgedepth.pipeline import find_bundles, load_failures, verify
    from runtime.report import write_report

    if (args.out / "report.json").exists() and not args.force:
        raise EdgeDepthError(f"{args.out / 'report.json'} already exists (use --force to overwrite)")
    failures = [f for path in args.bundles if path.is_dir() for f in load_failures(path)]
    report = verify(args.student, find_bundles(args.bundles), _eval_config(args), pictures_dir=args.out / "pictures",
                    failures=failures)
    report["pictures"] = [str(Path(p).relative_to(args.out)) for p in report.get("pictures", [])]
    write_report(args.out, report)
    print((args.out / "report.md").read_text())


def _cmd_bench(args: argparse.Namespace) -> None:
    from edgedepth.pipeline import bench, find_bundles, load_existing_report, merge_latency
    from runtime.atomic import atomic_write_json
    from runtime.bench import machine_info
    from runtime.report import write_report

    target = args.out / "bench.json"
    if target.exists() and not args.force:
        raise EdgeDepthError(f"{target} already exists (use --force to overwrite)")
    latency = bench(args.student, find_bundles(args.bundles), _eval_config(args))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target, {"machine": machine_info(args.threads), "latency": latency})
    report = load_existing_report(args.out / "report.json")
    if report is not None:
        write_report(args.out, merge_latency(report, latency))
        print((args.out / "report.md").read_text())
    print(json.dumps(latency, indent=2))


COMMANDS = {"demo": _cmd_demo, "distill": _cmd_distill, "export": _cmd_export, "quantize": _cmd_quantize,
            "verify": _cmd_verify, "bench": _cmd_bench}


def main(argv: list[str] | None = None) -> int:
    """Entry point: run one command; user errors print one line on stderr and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        code = COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("edgedepth: interrupted", file=sys.stderr)
        return 130
    except (EdgeDepthError, BundleError, FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"edgedepth: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
