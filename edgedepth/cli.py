"""`edgedepth` command line: the demo and the stage verbs it chains (distill, export, quantize, verify, bench)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from edgedepth.cli_help import RegistryHelp
from edgedepth.data.procedural import SCENE_FAMILIES
from edgedepth.distill.config import DEVICE_CHOICES, MIXED_PRECISION_CHOICES
from edgedepth.errors import EdgeDepthError
from edgedepth.outputs import check_writable
from edgedepth.progress import quiet_library_bars
from edgedepth.recipes import DEFAULT, load_recipe
from edgedepth.settings import size_argument, training_flag
from edgedepth.tasks import get_task, list_tasks
from edgedepth.version import __version__
from quantize.registry import describe_methods
from runtime.bundle import LAYOUTS, BundleError
from runtime.cli_types import OneLineParser, count, finite_float, non_negative, positive_int, thread_count
from runtime.errors import ArtifactFailed, own_line
from runtime.signals import interrupted, terminate_as_interrupt

EPILOG = """\
typical run, stage by stage:
  edgedepth distill  --out runs/x/student.safetensors
  edgedepth export   --student runs/x/student.safetensors --out runs/x/bundles --format onnx,tflite --precision all
  edgedepth verify   --student runs/x/student.safetensors --bundles runs/x/bundles --out runs/x
  edgedepth bench    --student runs/x/student.safetensors --bundles runs/x/bundles --out runs/x
or all at once on the embedded data:
  edgedepth demo --out runs/demo
"""


def _any_size(text: str) -> tuple[int, int]:
    """HEIGHTxWIDTH, both positive and at most MAX_SIDE (a model family's own rule checks the multiple)."""
    from edgedepth.settings import MAX_SIDE

    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH like 160x224, got '{text}'") from exc
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"input size {text}: each side must be 1 to {MAX_SIDE}")
    return height, width


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _keyword(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as JSON when it parses (512, true, [1, 2]) and as a string otherwise."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def _benchmark(text: str) -> tuple[str, str]:
    """NAME:DIR of --dataset, NAME a registered benchmark."""
    from edgedepth.data.benchmarks import BENCHMARKS

    name, sep, folder = text.partition(":")
    if not sep or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME:DIR like nyu:/data/nyu, got '{text}'")
    if name not in BENCHMARKS:
        raise argparse.ArgumentTypeError(f"unknown benchmark '{name}' (known: {', '.join(BENCHMARKS)})")
    return name, folder


def _benchmark_args(parser: argparse.ArgumentParser) -> None:
    """verify's benchmark options: the folders, the protocol, how many samples, the depth alignment."""
    from runtime.protocols import ALIGNMENTS, PROTOCOLS

    parser.add_argument("--dataset", type=_benchmark, action="append", default=[], metavar="NAME:DIR",
                        help="score on a benchmark folder as downloaded instead of the embedded data (repeatable; "
                        "kitti-depth, kitti-stereo, nyu, middlebury, eth3d, tum, diode; see docs/benchmarks.md)")
    parser.add_argument("--protocol", action="append", default=[], choices=PROTOCOLS.names(), metavar="NAME",
                        help="the protocol of a --dataset that offers several (repeatable, one per dataset): "
                        + ", ".join(PROTOCOLS.names()))
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="the first N samples of each --dataset (a quick look)")
    parser.add_argument("--alignment", choices=list(ALIGNMENTS), default=None,
                        help="how a depth output meets metric ground truth: lsq-inverse (MiDaS, the default for "
                        "relative outputs), median (Monodepth2), none (metric outputs, their default)")


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
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--student", type=Path, help="student checkpoint the bundles came from (an original's "
                      "bundles among --bundles are measured beside it: speed-up over the original)")
    what.add_argument("--model", metavar="SPEC", help="instead, the original network (a teacher spec) the bundles "
                      "came from: its bundles held to the torch original, no student")
    parser.add_argument("--teacher-arg", type=_keyword, action="append", default=[], metavar="KEY=VALUE",
                        help="a keyword of the --model spec's teacher, repeatable")
    parser.add_argument("--bundles", type=Path, nargs="+", required=True, help="bundle directories or their parent")
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--force", action="store_true", help=force_help)
    parser.add_argument("--threads", type=thread_count, default=2, help="CPU threads for every backend (default 2)")
    parser.add_argument("--eval-scenes", type=count, default=32,
                        help="held-out procedural scenes (default 32; 0 leaves the procedural set out)")
    parser.add_argument("--warmup", type=count, default=10, help="untimed warm-up runs per artifact (default 10)")
    parser.add_argument("--iters", type=positive_int, default=50, help="timed runs per artifact (default 50)")
    parser.add_argument("--images", type=Path, default=None,
                        help="evaluate on every photo under this folder (default: the student's held-out images "
                        "when it was distilled with --images, else the embedded data)")
    _cache_args(parser)


def _task_arg(parser: argparse.ArgumentParser) -> None:
    """--task, its choices and their help from the task registry."""
    tasks = list_tasks()
    summaries = "; ".join(f"{name}: {get_task(name).summary}" for name in tasks)
    parser.add_argument("--task", choices=tasks, default=tasks[0], help=f"{summaries} (default {tasks[0]})")


def _recipe_arg(parser: argparse.ArgumentParser, default: str | None, uses: str) -> None:
    """--recipe NAME|FILE, with the shipped recipes' descriptions in its help (read when help is printed)."""
    parser.add_argument("--recipe", default=default, metavar="NAME|FILE",
                        help="a shipped recipe ({recipes}) or a YAML file of the same shape: " + uses
                        + (f" (default {default})" if default else ""))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage."""
    parser = OneLineParser(
        prog="edgedepth", description="Distill depth models into small students, quantize and export them, and "
        "verify accuracy and speed of every artifact against the original.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edgedepth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_demo, _add_distill, _add_label, _add_export, _add_quantize, _add_measure, _add_use, _add_profile,
                _add_report):
        add(sub)
    return parser



def _add_demo(sub: argparse._SubParsersAction) -> None:
    """The the demo: distill → export → measure on the embedded data."""
    demo = sub.add_parser("demo", help="run the whole pipeline on the embedded data and write a report",
                          formatter_class=RegistryHelp,
                          description="Distill the task's student from its default teacher on procedural scenes, "
                          "export it as the recipe says, then verify and time every artifact against the teacher "
                          "and the torch fp32 student in one pass. Writes report.json, report.md and pictures/.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory (default runs/demo)")
    _task_arg(demo)
    _recipe_arg(demo, DEFAULT, "training fields and the export plan; --steps, --formats and --precisions win")
    demo.add_argument("--quick", action="store_true", help="a one-minute run with a barely trained student")
    demo.add_argument("--steps", type=training_flag("steps"),
                      help="distillation steps (default {default:steps}; {quick_steps} with --quick)")
    demo.add_argument("--threads", type=thread_count, default=None,
                      help="CPU threads for training and every backend (default {default:threads})")
    demo.add_argument("--formats", type=_csv, default=None,
                      help="comma-separated export formats ({formats}) or 'all' (default: the recipe's)")
    demo.add_argument("--precisions", type=_csv, default=None,
                      help="comma-separated precisions, or 'all' for every precision each format writes "
                      "(default: the recipe's)")
    demo.add_argument("--force", action="store_true", help="replace an existing run in --out")


def _teacher_arg(parser: argparse.ArgumentParser, help_text: str) -> None:
    """--teacher-arg KEY=VALUE, repeatable: keywords for the teacher's constructor."""
    parser.add_argument("--teacher-arg", type=_keyword, action="append", default=[], metavar="KEY=VALUE",
                        help=help_text)


DISTILL_DESCRIPTION = (
    "Train a student and save it as a safetensors checkpoint. The objective says what it learns from: {objectives}. "
    "distill (the default) learns a teacher's predictions on procedural stereo scenes (or, with --images, on a "
    "folder of photos); relative teachers train with the scale-and-shift-invariant loss, metric ones with the "
    "scale-invariant log loss. Teachers: {teachers} (hf: a Depth Anything V1/V2, DPT/MiDaS v3.x or ZoeDepth "
    "folder, offline; onnx: declare --teacher-arg kind=relative_inverse_depth|metric_depth). A flag the chosen "
    "objective has no use for is refused in one line. The older spelling --teacher self:stereo (or self:video) "
    "means --objective self:stereo, and with it --teacher-arg hints=on|off means --hints on|off.")


def _add_distill(sub: argparse._SubParsersAction) -> None:
    """The distill: a student trained by an objective (from a teacher, or self-supervised) on scenes or your data."""
    dis = sub.add_parser("distill", help="train a student from a teacher (or with no teacher) on procedural scenes "
                         "or your data", formatter_class=RegistryHelp, description=DISTILL_DESCRIPTION)
    dis.add_argument("--out", type=Path, required=True, help="checkpoint to write (.safetensors)")
    _task_arg(dis)
    _objective_args(dis)
    _student_args(dis)
    _data_args(dis)
    _cache_args(dis)
    _optimisation_args(dis)
    _run_args(dis)
    dis.add_argument("--force", action="store_true", help="overwrite an existing checkpoint")


def _objective_args(dis: argparse.ArgumentParser) -> None:
    """What the student learns from: the objective, the teacher and its keywords, the self-supervised hints."""
    dis.add_argument("--objective", default=None, metavar="NAME",
                     help="what the student learns from: {objective_names} (the first is the default)")
    dis.add_argument("--teacher", default=None, help="teacher spec, with --objective distill (default "
                     "{default:teacher})")
    _teacher_arg(dis, "a teacher keyword, repeatable (e.g. kind=metric_depth, size=256x256, threads=2)")
    dis.add_argument("--hints", choices=("on", "off"), default=None,
                     help="with self:stereo or self:video: classical hints from the training images (SGBM on each "
                     "pair, DIS optical flow in each clip) next to the photometric loss, or not (default "
                     "{default:hints})")


def _student_args(dis: argparse.ArgumentParser) -> None:
    """The student: architecture, input size, weights to start from."""
    dis.add_argument("--model", default=None, help="student architecture: {models} (default {default:model})")
    dis.add_argument("--size", type=size_argument, default=None,
                     help="student input HEIGHTxWIDTH (default {default:input_size})")
    dis.add_argument("--init", type=Path, default=None,
                     help="start from these weights: the official midas_v21_small_256.pt (with --model "
                     "midas_small) or a student checkpoint of the same architecture")
    dis.add_argument("--trust-pickle", action="store_true",
                     help="allow a full unpickle of --init (only for a file you trust; a teacher takes "
                     "--teacher-arg trust_pickle=true)")


def _data_args(dis: argparse.ArgumentParser) -> None:
    """What the student trains on: procedural scenes, or a user's photos, pairs or video."""
    dis.add_argument("--scenes", type=training_flag("scenes"), default=None,
                     help="procedural training scenes (default {default:scenes})")
    dis.add_argument("--scene-family", choices=SCENE_FAMILIES, default=None,
                     help="procedural scenes: grounded (objects standing on the ground, the cues one image has) or "
                     "classic (floating solids) (default {default:scene_family})")
    dis.add_argument("--images", type=Path, default=None,
                     help="distill on the photos under this folder (no ground truth needed) instead of scenes")
    dis.add_argument("--holdout", type=positive_int, default=None,
                     help="photos held out for verify (default 10%%, at least 1)")
    dis.add_argument("--pairs", type=Path, default=None,
                     help="with self:stereo: train on this folder of rectified pairs (left/, right/ with the same "
                     "names, and calib.txt) instead of procedural scenes")
    dis.add_argument("--frames", type=Path, default=None,
                     help="with self:video: train on your video instead of procedural sequences: a folder of "
                     "frames (taken in sorted name order) or a video file (mp4, avi, ...)")
    dis.add_argument("--intrinsics", type=Path, default=None,
                     help="with --frames: the camera's intrinsics in pixels of the frames, three lines of the 3x3 K "
                     "or one line fx fy cx cy (default FOLDER/intrinsics.txt for a frames folder)")
    dis.add_argument("--frame-step", type=positive_int, default=None,
                     help="with --frames: keep every K-th frame, for a long or slow video (default "
                     "{default:frame_step})")


def _optimisation_args(dis: argparse.ArgumentParser) -> None:
    """How the student is optimised: steps, batch, learning rate, ground-truth weight, precision, the recipe."""
    dis.add_argument("--steps", type=training_flag("steps"), default=None,
                     help="optimisation steps (default {default:steps})")
    dis.add_argument("--batch-size", type=training_flag("batch_size"), default=None,
                     help="batch size (default {default:batch_size})")
    _recipe_arg(dis, DEFAULT, "its training fields for the task; flags given here win")
    dis.add_argument("--eval-every", type=positive_int, default=None,
                     help="measure held-out accuracy every N steps and draw the learning curve next to the "
                     "checkpoint (<name>.curve.png; the long recipe does every 500)")
    dis.add_argument("--gt-weight", type=non_negative, default=None,
                     help="weight of the procedural scenes' exact depth next to the teacher's targets (default "
                     "{default:gt_weight}; 0 = teacher only)")
    dis.add_argument("--lr", type=training_flag("lr"), default=None, help="peak learning rate (default {default:lr})")
    dis.add_argument("--mixed-precision", choices=MIXED_PRECISION_CHOICES, default=None,
                     help="auto: bf16 forward where the CPU computes bf16 natively (AVX512-BF16 or AMX), float32 "
                     "elsewhere; bf16: always; off: float32 throughout. Weights stay float32 "
                     "(default {default:mixed_precision})")


def _run_args(dis: argparse.ArgumentParser) -> None:
    """How a distillation runs (not what it learns): seed, threads, device, micro-batches, resumable state."""
    dis.add_argument("--seed", type=int, default=None, help="random seed (default {default:seed})")
    dis.add_argument("--threads", type=thread_count, default=None, help="CPU threads (default {default:threads})")
    dis.add_argument("--device", choices=DEVICE_CHOICES, default=None,
                     help="auto: CUDA where torch sees a GPU (under torchrun, the rank's local GPU), else the CPU "
                     "(default {default:device})")
    dis.add_argument("--accumulate", type=positive_int, default=None, metavar="N",
                     help="split each step's batch into N micro-batches and sum their gradients: one process "
                     "computing what N torchrun ranks do (default {default:micro_batches})")
    dis.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="STEPS",
                     help="write a resumable training state to OUT.state/ every STEPS steps (Ctrl-C always writes "
                     "one)")
    dis.add_argument("--resume", action="store_true",
                     help="continue from the training state in OUT.state/ (same settings; starts afresh when "
                     "there is none)")


def _add_label(sub: argparse._SubParsersAction) -> None:
    """The label: the teacher-output cache filled ahead of distillation, shardable over processes."""
    lab = sub.add_parser("label", help="run a teacher on a folder of photos into the teacher-output cache",
                         formatter_class=RegistryHelp,
                         description="Fill the teacher-output cache that `edgedepth distill --images` reads, so a "
                         "slow teacher runs once, spread over processes: under torchrun each rank labels every "
                         "WORLD_SIZE-th image from its RANK; otherwise --shard K/N, else all. Processes may fill "
                         "one cache at once (entries are written to a temporary file and renamed). Teachers: "
                         "{teachers}.")
    lab.add_argument("--teacher", required=True, help="teacher spec (a mono teacher: hf:, onnx:, ...)")
    _teacher_arg(lab, "a teacher keyword, repeatable (as for distill)")
    lab.add_argument("--images", type=Path, required=True, help="folder of photos (subfolders included)")
    lab.add_argument("--cache", type=Path, default=None,
                     help="teacher-output cache directory (default $EDGEDEPTH_CACHE or ~/.cache/edgedepth/teachers)")
    lab.add_argument("--max-side", type=positive_int, default=None,
                     help="photos are shrunk to this longer side first, as distill does (default {default:max_side})")
    lab.add_argument("--shard", default=None, metavar="K/N",
                     help="label images K, K+N, K+2N, ... (default: the torchrun rank's share, else all)")


def _add_export(sub: argparse._SubParsersAction) -> None:
    """The export: bundles from a checkpoint."""
    exp = sub.add_parser("export", help="export a student checkpoint, or an original teacher network, to "
                         "deployable bundles", formatter_class=RegistryHelp,
                         description="Export the student (or, with --model, the original network a teacher spec "
                         "names) to one bundle per (format, precision): model file + manifest.json with sha256s, "
                         "each compared with the torch model. Quantized bundles are calibrated on procedural "
                         "scenes (or --images). A format whose library is missing or whose conversion fails is "
                         "reported and recorded in exports.json; the others are still written. "
                         "Formats: {formats}. Precisions per format: {precisions}; 'all' for every one.")
    what = exp.add_mutually_exclusive_group(required=True)
    what.add_argument("--student", type=Path, help="student checkpoint (.safetensors)")
    what.add_argument("--model", metavar="SPEC", help="an original network as a teacher spec: {originals} "
                      "(keywords through --teacher-arg)")
    _teacher_arg(exp, "a keyword of the --model spec's teacher, repeatable (e.g. config=realtime, random_init=true)")
    exp.add_argument("--size", type=_any_size, default=None, metavar="HxW",
                     help="--model's fixed input size (default: the family's; checked against its rule, e.g. "
                     "multiples of 14 for DINOv2; for onnx: the file's static input, and required for a dynamic one)")
    exp.add_argument("--images", type=Path, default=None,
                     help="calibrate quantized bundles on the photos under this folder instead of procedural scenes")
    exp.add_argument("--out", type=Path, required=True, help="directory that receives the bundles")
    exp.add_argument("--format", type=_csv, default=None,
                     help="comma-separated formats or 'all' (default: the recipe's, else onnx)")
    exp.add_argument("--precision", type=_csv, default=None,
                     help="comma-separated precisions or 'all' (default: the recipe's, else fp32)")
    exp.add_argument("--layout", choices=LAYOUTS, default=None,
                     help="input layout of the exported model (NHWC: what Android camera pipelines feed; default: "
                     "the recipe's, else NCHW)")
    _recipe_arg(exp, None, "its export plan (formats, precisions, layout); --format, --precision and --layout win")
    exp.add_argument("--calibration", type=positive_int, default=32, help="calibration images (default 32)")
    exp.add_argument("--seed", type=int, default=0, help="seed of the calibration scenes")
    exp.add_argument("--force", action="store_true", help="replace existing bundles")


def _add_quantize(sub: argparse._SubParsersAction) -> None:
    """The quantize: a lower-precision bundle from an fp32 one."""
    qua = sub.add_parser("quantize", help="quantize an fp32 bundle (static int8 by default)",
                         description="Derive a lower-precision bundle from an fp32 one with a registered method; "
                         "calibrated methods use procedural scenes (or --images). With --sensitivity, quantize "
                         "each layer of an fp32 ONNX bundle alone instead and write which ones int8 hurts most "
                         "(sensitivity.json and sensitivity.md in --out).")
    what = qua.add_mutually_exclusive_group(required=True)
    what.add_argument("--bundle", type=Path, help="fp32 bundle directory")
    what.add_argument("--sensitivity", type=Path, metavar="BUNDLE",
                      help="an fp32 ONNX bundle: PSNR vs fp32 with each layer alone in int8, sorted")
    qua.add_argument("--out", type=Path, required=True, help="directory that receives the quantized bundle (or "
                     "the sensitivity tables)")
    qua.add_argument("--method", default=None, help=f"one of: {describe_methods()} (default: the first listed "
                     "for the bundle's format)")
    qua.add_argument("--calibration", type=positive_int, default=None,
                     help="calibration images (default 32; 8 for --sensitivity, which runs the model once per layer)")
    qua.add_argument("--seed", type=int, default=0, help="seed of the calibration scenes")
    qua.add_argument("--images", type=Path, default=None,
                     help="calibrate on the photos under this folder instead of procedural scenes")
    qua.add_argument("--force", action="store_true", help="replace an existing int8 bundle")


def _add_measure(sub: argparse._SubParsersAction) -> None:
    """The verify (accuracy) and bench (latency): the measuring stage, alone."""
    ver = sub.add_parser("verify", help="compare every bundle with the teacher, the fp32 student and ground truth",
                         description="Run every bundle and the torch fp32 student on the embedded evaluation data "
                         "(or on benchmark folders with --dataset, scored by their protocols); "
                         "write report.json, report.md and pictures/ to --out. Exits 1 when a bundle failed or "
                         "misses a --min-psnr / --max-delta1-drop budget.")
    _eval_args(ver, out_help="report directory", force_help="overwrite an existing report")
    _benchmark_args(ver)
    ver.add_argument("--min-psnr", type=finite_float, default=None, metavar="DB",
                     help="exit 1 when an artifact's PSNR vs the fp32 student is below DB (a CI fidelity gate)")
    ver.add_argument("--max-delta1-drop", type=finite_float, default=None, metavar="X",
                     help="exit 1 when an artifact's δ1 drop vs the fp32 student exceeds X on any dataset")

    ben = sub.add_parser("bench", help="time every bundle and the fp32 student at a fixed thread count",
                         description="Warm up, then time each artifact on the same input; writes bench.json and, "
                         "if --out holds a verify report, adds latency, FPS and speed-up to it.")
    _eval_args(ben, out_help="directory for bench.json (and an existing report)",
               force_help="overwrite an existing bench.json")


def _add_use(sub: argparse._SubParsersAction) -> None:
    """predict and portrait: the device side's commands, on the host (same arguments, same files)."""
    from runtime.predict_cli import add_portrait_args, add_predict_args

    add_predict_args(sub.add_parser("predict", help="run a bundle on your photos (or stereo pairs): depth "
                                    "pictures, 16-bit PNG, .npy, .pfm, point clouds",
                                    description="What `python -m runtime predict` does, from the host."))
    add_portrait_args(sub.add_parser("portrait", help="synthetic shallow depth of field from a bundle's depth",
                                     description="What `python -m runtime portrait` does, from the host."))


def _add_profile(sub: argparse._SubParsersAction) -> None:
    """profile: TFLite bundles timed on an Android phone with LiteRT's benchmark_model."""
    from runtime.host.litert_benchmark import DELEGATES

    pro = sub.add_parser("profile", help="time TFLite bundles on an Android phone over adb (LiteRT benchmark_model)",
                         description="Push each TFLite bundle and LiteRT's benchmark_model (built for "
                         "android_arm64) to the phone, time it there with the chosen delegate(s), optionally "
                         "compare the delegate's outputs with the CPU's (inference_diff_run_eval), and write "
                         "--out/device.json (shaped like `python -m runtime bench --json`) for "
                         "`edgedepth report --merge`.")
    pro.add_argument("bundles", nargs="*", type=Path, metavar="BUNDLE", help="TFLite bundle directories")
    pro.add_argument("--adb", nargs="?", const="", required=True, metavar="SERIAL",
                     help="profile on the phone adb reaches (SERIAL picks one when several are attached)")
    pro.add_argument("--benchmark-binary", type=Path, required=True, metavar="PATH",
                     help="LiteRT's benchmark_model for the phone (android_arm64)")
    pro.add_argument("--out", type=Path, required=True, help="directory for device.json")
    pro.add_argument("--threads", type=thread_count, default=2, help="CPU threads (default 2)")
    pro.add_argument("--runs", type=positive_int, default=50, help="timed runs (default 50)")
    pro.add_argument("--warmup", type=count, default=10, help="untimed warm-up runs (default 10)")
    pro.add_argument("--delegate", type=_csv, default=["xnnpack"],
                     help=f"comma-separated, one row each: {', '.join(DELEGATES)} (cpu = LiteRT's own kernels, "
                     "XNNPACK off; default xnnpack)")
    pro.add_argument("--inference-diff", type=Path, default=None, metavar="PATH",
                     help="LiteRT's inference_diff_run_eval for the phone: also record each delegate's output "
                     "difference from single-threaded CPU")
    pro.add_argument("--diff-runs", type=positive_int, default=20, help="inference_diff runs (default 20)")
    pro.add_argument("--peak-memory", action="store_true",
                     help="also monitor peak memory (a sampling thread that may slow the timed runs)")
    pro.add_argument("--adb-path", default=None, metavar="PATH", help="the adb executable (default: adb on PATH)")
    pro.add_argument("--force", action="store_true", help="overwrite an existing device.json")


def _add_report(sub: argparse._SubParsersAction) -> None:
    """report: device measurements merged into an existing report."""
    rep = sub.add_parser("report", help="merge measurements from other devices into a report",
                         description="Add the rows of device results (`python -m runtime bench --json` output or "
                         "`edgedepth profile` device.json) to --out/report.json, tagged with each device, and rewrite "
                         "report.json, report.md and report.html with a 'Measured on devices' table beside the "
                         "host's FPS. Merging a device's file again replaces its rows.")
    rep.add_argument("--merge", type=Path, action="append", required=True, metavar="DEVICE_JSON",
                     help="a device's results file (repeatable)")
    rep.add_argument("--out", type=Path, required=True, help="directory holding report.json (from demo or verify)")


def _eval_config(args: argparse.Namespace):
    from edgedepth.stages.measure import EvalConfig

    return EvalConfig(procedural_scenes=args.eval_scenes, threads=args.threads, warmup=args.warmup, iters=args.iters,
                      images=None if args.images is None else str(args.images), teacher_cache=_cache_dir(args),
                      benchmarks=getattr(args, "dataset", []), protocols=getattr(args, "protocol", []),
                      limit=getattr(args, "limit", None), alignment=getattr(args, "alignment", None))


def _training_config(task_name: str, recipe_name: str, given: dict[str, tuple[str, object]],
                     objective_name: str | None = None) -> object:
    """The config of the objective (default: the first registered) for the task: its defaults, then the recipe's
    fields for the task, then the flags given (`given`: field → (flag, value), None or False = not given). A flag
    the config has no field for is refused in one line (naming the objectives that take it), as is a recipe
    field it does not know."""
    from dataclasses import fields

    from edgedepth.distill.objectives import get_objective, list_objectives, unavailable

    task = get_task(task_name)
    objective = get_objective(objective_name or list_objectives()[0])
    config_cls = objective.config_class(task)
    known = {f.name for f in fields(config_cls)}
    recipe = load_recipe(recipe_name)
    from_recipe = recipe.train_fields(task.name)
    strange = sorted(set(from_recipe) - known)
    if strange:
        what = task.name if objective.name == list_objectives()[0] else objective.name
        raise EdgeDepthError(f"recipe {recipe.name}: {what} training has no field {', '.join(strange)}")
    chosen = {name: value for name, (_, value) in given.items() if value is not None and value is not False}
    for name in chosen:
        if name not in known:
            raise EdgeDepthError(unavailable(given[name][0], name, objective, task))
    return config_cls(**{**from_recipe, **chosen})


def _export_plan(planned: dict[str, list[str]], formats: list[str] | None,
                 precisions: list[str] | None) -> dict[str, list[str]]:
    """The recipe's (or default) plan, unless formats or precisions are given: then those, the missing half taken
    from the plan."""
    from edgedepth.stages.export import exports_of

    if not (formats or precisions):
        return planned
    every_precision = sorted({p for wanted in planned.values() for p in wanted})
    return exports_of(formats or list(planned), precisions or every_precision)


def _cmd_demo(args: argparse.Namespace) -> None:
    from edgedepth.stages.demo import QUICK_TRAINING, DemoConfig, run_demo

    config = DemoConfig.quick(args.task) if args.quick else DemoConfig(task=args.task)
    given = {name: ("--quick", value) for name, value in QUICK_TRAINING.items() if args.quick}
    if args.steps:
        given["steps"] = ("--steps", args.steps)
    given["threads"] = ("--threads", args.threads)
    config.training = _training_config(args.task, args.recipe, given)
    config.evaluation = replace(config.evaluation, threads=config.training.threads)
    recipe = load_recipe(args.recipe)
    config.exports = _export_plan(recipe.exports or config.exports, args.formats, args.precisions)
    config.layout = recipe.layout or config.layout
    report = run_demo(args.out, config, force=args.force)
    print((args.out / "report.md").read_text())
    print(f"wrote {args.out / 'report.json'}, {args.out / 'report.md'} and {len(report.get('pictures', []))} pictures")


def _cmd_distill(args: argparse.Namespace) -> int:
    check_writable(args.out, args.force)  # before training, not after it
    from edgedepth.distill.interrupt import TrainingInterrupted
    from edgedepth.distill.objectives import get_objective, has_field, list_objectives

    as_teacher = _objective_as_teacher(args)
    name = as_teacher or args.objective or list_objectives()[0]
    with_teacher = has_field(get_objective(name), get_task(args.task), "teacher")
    given = _distill_fields(args, with_teacher, None if as_teacher else args.teacher)
    config = _training_config(args.task, args.recipe, given, name)
    from edgedepth.distill.train import train

    try:
        written = train(config, args.out, force=args.force)
    except TrainingInterrupted as stopped:
        print(f"edgedepth: {stopped}", file=sys.stderr)
        return 128 + stopped.signum
    if os.environ.get("RANK", "0") == "0":
        print(f"wrote {written}")
    return 0


def _objective_as_teacher(args: argparse.Namespace) -> str | None:
    """The objective an older command line names as its teacher (--teacher self:MODE, the spelling from before
    objectives), checked against --objective; None when --teacher names a teacher (or nothing)."""
    from edgedepth.distill.objectives import list_objectives

    spec = args.teacher or ""
    if not spec.startswith("self:"):
        return None
    if spec not in list_objectives():
        known = ", ".join(name for name in list_objectives() if name.startswith("self:"))
        raise EdgeDepthError(f"unknown self-supervision '{spec}'; expected one of {known}")
    if args.objective not in (None, spec):
        raise EdgeDepthError(f"--teacher {spec} is the objective {spec}, not --objective {args.objective}: give one")
    return spec


def _distill_fields(args: argparse.Namespace, with_teacher: bool, teacher: str | None) -> dict[str, tuple[str, object]]:
    """Config field → (flag, value) for every distill flag (None or False: not given); `teacher`: --teacher unless
    it named the objective. Without a teacher, --teacher-arg hints=X is --hints X (the older spelling), and the
    teacher-output cache is given only when --cache is."""
    keywords = dict(args.teacher_arg)
    hints = args.hints
    if not with_teacher and "hints" in keywords:
        hints = hints or str(keywords.pop("hints"))
    path = {name: None if getattr(args, name) is None else str(getattr(args, name))
            for name in ("images", "pairs", "frames", "intrinsics", "init")}
    return {"model": ("--model", args.model), "input_size": ("--size", args.size), "steps": ("--steps", args.steps),
            "scenes": ("--scenes", args.scenes), "batch_size": ("--batch-size", args.batch_size),
            "lr": ("--lr", args.lr), "gt_weight": ("--gt-weight", args.gt_weight),
            "scene_family": ("--scene-family", args.scene_family), "eval_every": ("--eval-every", args.eval_every),
            "mixed_precision": ("--mixed-precision", args.mixed_precision), "images": ("--images", path["images"]),
            "pairs": ("--pairs", path["pairs"]), "frames": ("--frames", path["frames"]),
            "intrinsics": ("--intrinsics", path["intrinsics"]), "frame_step": ("--frame-step", args.frame_step),
            "holdout": ("--holdout", args.holdout), "init": ("--init", path["init"]),
            "trust_pickle": ("--trust-pickle", args.trust_pickle), "teacher": ("--teacher", teacher),
            "teacher_kwargs": ("--teacher-arg", keywords or None), "hints": ("--hints", hints),
            "cache": ("--cache", _cache_dir(args) if with_teacher else args.cache), "seed": ("--seed", args.seed),
            "threads": ("--threads", args.threads), "device": ("--device", args.device),
            "micro_batches": ("--accumulate", args.accumulate),
            "checkpoint_every": ("--checkpoint-every", args.checkpoint_every), "resume": ("--resume", args.resume)}


def _cmd_label(args: argparse.Namespace) -> None:
    from edgedepth.distill.config import DistillConfig
    from edgedepth.distill.distributed import launched
    from edgedepth.stages.label import label_folder, parse_shard

    rank, size, _ = launched()
    shard = parse_shard(args.shard) if args.shard else (rank, size)
    cache = args.cache or Path(_cache_dir(argparse.Namespace(no_cache=False, cache=None)))
    done = label_folder(args.teacher, dict(args.teacher_arg), args.images, cache, shard,
                        args.max_side or DistillConfig.max_side, progress=sys.stderr.isatty())
    print(f"shard {shard[0]}/{shard[1]}: {done['images']} of {done['of']} images labelled ({done['computed']} "
          f"computed, {done['cached']} already cached) in {done['directory']}")


def _export_source(args: argparse.Namespace):
    """What `export` converts: the student checkpoint, or the original network --model names (built and checked
    before anything is written)."""
    from edgedepth.originals import original_from_spec
    from edgedepth.stages.export import ExportSource

    images = None if args.images is None else str(args.images)
    if args.student is not None:
        if args.teacher_arg or args.size:
            raise EdgeDepthError("--teacher-arg and --size apply to --model, not to a student (its size is fixed)")
        if not args.student.is_file():
            raise EdgeDepthError(f"no student checkpoint at {args.student}")
        source = ExportSource.of_student(args.student, args.calibration, args.seed)
        source.images = images
        return source
    original = original_from_spec(args.model, dict(args.teacher_arg), args.size)
    return ExportSource.of_original(original, args.calibration, args.seed, images)


def _cmd_export(args: argparse.Namespace) -> int:
    from edgedepth.stages.export import export_many, record_failures

    if args.images is not None and not args.images.is_dir():
        raise EdgeDepthError(f"--images {args.images} is not a folder")
    recipe = load_recipe(args.recipe) if args.recipe else None
    exports = _export_plan((recipe.exports if recipe else {}) or {"onnx": ["fp32"]}, args.format, args.precision)
    layout = args.layout or (recipe.layout if recipe else None) or "NCHW"
    source = _export_source(args)
    check_writable(args.out, force=True, directory=True)
    bundles, failures = export_many(source, args.out, exports, layout, force=args.force)
    record_failures(args.out, bundles, failures)
    failed = [f for f in failures if f.status == "failed"]
    print(f"{len(bundles)} bundle(s) written, {len(failed)} failed, {len(failures) - len(failed)} skipped")
    return 1 if failed or not bundles else 0


def _cmd_quantize(args: argparse.Namespace) -> None:
    from edgedepth.stages.export import quantize_student
    from runtime.bundle import load_bundle

    if args.sensitivity is not None:
        from edgedepth.stages.sensitivity import run_sensitivity

        if args.method is not None:
            raise EdgeDepthError("--method applies to --bundle; --sensitivity emulates the CPU int8 export")
        run_sensitivity(load_bundle(args.sensitivity), args.out, args.calibration or 8, args.seed,
                        None if args.images is None else str(args.images), args.force)
        return
    fp32 = load_bundle(args.bundle)
    check_writable(args.out, force=True, directory=True)
    bundle = quantize_student(fp32, args.out, args.calibration or 32, args.seed, args.method,
                              force=args.force, images=None if args.images is None else str(args.images))
    print(f"wrote {bundle.path}")


def _cmd_verify(args: argparse.Namespace) -> int:
    from edgedepth.stages.export import find_bundles, load_failures
    from edgedepth.stages.measure import measure
    from runtime.host.report import write_report

    if (args.out / "report.json").exists() and not args.force:
        raise EdgeDepthError(f"{args.out / 'report.json'} already exists (use --force to overwrite)")
    check_writable(args.out, force=True, directory=True)
    failures = [f for path in args.bundles if path.is_dir() for f in load_failures(path)]
    bundles = find_bundles(args.bundles)
    report = measure(_measured_model(args, bundles), bundles, _eval_config(args), timing=False,
                     pictures_dir=args.out / "pictures", failures=failures)
    report["pictures"] = [str(Path(p).relative_to(args.out)) for p in report.get("pictures", [])]
    write_report(args.out, report)
    print((args.out / "report.md").read_text())
    return _gate(report["rows"], args.min_psnr, args.max_delta1_drop)


def _measured_model(args: argparse.Namespace, bundles: list):
    """What verify and bench hold `bundles` to: the student checkpoint, or the original `--model` names at the
    input size its bundles were exported at."""
    if args.student is not None:
        if args.teacher_arg:
            raise EdgeDepthError("--teacher-arg goes with --model")
        return args.student
    from edgedepth.originals import original_from_spec
    from runtime.preprocess import input_hwc

    sizes = {input_hwc(b.inputs[0])[:2] for b in bundles}
    if len(sizes) != 1:
        raise EdgeDepthError(f"--model: the bundles were exported at {len(sizes)} input sizes; measure one at a time")
    return original_from_spec(args.model, dict(args.teacher_arg), sizes.pop())


def _gate(rows: list[dict], min_psnr: float | None = None, max_delta1_drop: float | None = None) -> int:
    """Exit code 1, with one stderr line per problem, when a row failed or misses a fidelity budget."""
    from runtime.gate import failed_rows, over_budget

    problems = [f"failed {line}" for line in failed_rows(rows)] + over_budget(rows, min_psnr, max_delta1_drop)
    for line in problems:
        print(f"edgedepth: {line}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from edgedepth.stages.export import find_bundles
    from edgedepth.stages.measure import latency_by_artifact, measure, merge_latency
    from runtime.atomic import atomic_write_json
    from runtime.host.report import write_report

    target = args.out / "bench.json"
    if target.exists() and not args.force:
        raise EdgeDepthError(f"{target} already exists (use --force to overwrite)")
    check_writable(args.out, force=True, directory=True)
    bundles = find_bundles(args.bundles)
    timed = measure(_measured_model(args, bundles), bundles, _eval_config(args), accuracy=False)
    latency = latency_by_artifact(timed)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target, {"machine": timed["machine"], "latency": latency})
    report = _existing_report(args.out / "report.json")
    if report is not None:
        write_report(args.out, merge_latency(report, latency))
        print((args.out / "report.md").read_text())
    print(json.dumps(latency, indent=2))
    return _gate(timed["rows"])


def _existing_report(path: Path) -> dict | None:
    """A previous verify's report.json, or None."""
    from runtime.validate import load_json

    if not path.exists():
        return None
    return load_json(path, "report")


def _cmd_predict(args: argparse.Namespace) -> int:
    from runtime.predict_cli import run_predict

    return run_predict(args, "edgedepth predict")


def _cmd_portrait(args: argparse.Namespace) -> int:
    from runtime.predict_cli import run_portrait

    return run_portrait(args, "edgedepth portrait")


def _cmd_profile(args: argparse.Namespace) -> int:
    from edgedepth.stages.profile import OUT_FILE, ProfileRequest, adb_target, profile_table, write_profile

    serial, bundles = adb_target(args.adb, args.bundles)
    request = ProfileRequest(bundles=bundles, benchmark_binary=args.benchmark_binary, out=args.out, serial=serial,
                             adb_path=args.adb_path, threads=args.threads, runs=args.runs, warmup=args.warmup,
                             delegates=args.delegate, inference_diff=args.inference_diff, diff_runs=args.diff_runs,
                             peak_memory=args.peak_memory, force=args.force)
    result = write_profile(request)
    print(profile_table(result["rows"]))
    print(f"wrote {args.out / OUT_FILE} ({result['machine']['name']})")
    return _gate(result["rows"])


def _cmd_report(args: argparse.Namespace) -> None:
    from runtime.host.report_merge import merge_into_report

    for line in merge_into_report(args.out, args.merge):
        print(line)
    print(f"wrote {args.out / 'report.json'}, {args.out / 'report.md'} and {args.out / 'report.html'}")


COMMANDS = {"demo": _cmd_demo, "distill": _cmd_distill, "export": _cmd_export, "quantize": _cmd_quantize,
            "verify": _cmd_verify, "bench": _cmd_bench, "predict": _cmd_predict, "portrait": _cmd_portrait,
            "profile": _cmd_profile, "report": _cmd_report,
            "label": _cmd_label}


def main(argv: list[str] | None = None) -> int:
    """Entry point: run one command; user errors print one line on stderr and exit 2, an operating-system failure
    (a full disk, a vanished folder) one line and exit 1; anything else is a bug and keeps its traceback."""
    quiet_library_bars()
    args = build_parser().parse_args(argv)
    try:
        with terminate_as_interrupt():
            code = COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        return interrupted("edgedepth", exc)
    except (EdgeDepthError, BundleError) as exc:
        if os.environ.get("EDGEDEPTH_DEBUG"):
            raise
        print(f"edgedepth: error: {own_line(exc)}", file=sys.stderr)
        return 2
    except ArtifactFailed as exc:  # an artifact edgedepth made fails its own check: the tool's failure
        if os.environ.get("EDGEDEPTH_DEBUG"):
            raise
        print(f"edgedepth: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except OSError as exc:  # the machine's, not the user's nor a bug: a full disk, a vanished folder
        if os.environ.get("EDGEDEPTH_DEBUG"):
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"edgedepth: error: {exc.strerror or exc}{where} (EDGEDEPTH_DEBUG=1 shows where)", file=sys.stderr)
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
