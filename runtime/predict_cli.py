"""The `predict` and `portrait` commands, shared by `python -m runtime` (device) and `edgedepth` (host): the
same arguments, the same files. Outputs are checked for existence before any work; each is written atomically."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from runtime.atomic import atomic_write_bytes, writable
from runtime.bundle import load_bundle
from runtime.cli_types import finite_float, positive_float, thread_count
from runtime.depth_io import SAVES, nearness, write_map
from runtime.errors import InputError
from runtime.fit import FITS
from runtime.images import PORTRAIT_MAX_PIXELS, png_bytes
from runtime.pointcloud import Camera, read_middlebury_calib, write_point_cloud
from runtime.portrait import MAX_APERTURE, render_portrait
from runtime.predict import Predictor, Progress, is_stereo, pair_inputs, read_job, unique_names
from runtime.validate import as_argument, number

SUFFIXES = {"png": ".depth.png", "png16": ".depth16.png", "npy": ".npy", "pfm": ".pfm", "ply": ".ply"}


def _saves(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [s for s in chosen if s not in SAVES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"--save takes {', '.join(SAVES)} (comma-separated), got '{text}'")
    return chosen


def _point(text: str) -> tuple[int, int]:
    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y pixel coordinates like 320,240, got '{text}'") from None
    return x, y


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory")
    parser.add_argument("--fit", choices=FITS, default="stretch",
                        help="how a photo meets the fixed input: stretch (as training does), letterbox, or crop "
                        "(the centre; outside it the map has no value) (default stretch)")
    parser.add_argument("--threads", type=thread_count, default=2, help="backend threads (default 2)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")


def add_predict_args(parser: argparse.ArgumentParser) -> None:
    """The predict command's arguments."""
    _common(parser)
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="photos or folders of photos")
    parser.add_argument("--left", type=Path, help="stereo bundles: the left photo, or a folder of left views")
    parser.add_argument("--right", type=Path, help="stereo bundles: the right photo, or a folder of right views "
                        "(paired by file name)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--save", type=_saves, default=["png", "npy"],
                        help=f"what to write per input: {', '.join(SAVES)} (default png,npy). png16: metric depth "
                        "in mm, disparity ×256, relative maps min–max scaled (the PNG's text says which)")
    camera = parser.add_argument_group("point clouds (--save ply)")
    camera.add_argument("--calib", type=Path, help="a Middlebury calib.txt (intrinsics, baseline, doffs)")
    for name, kind, what in (("fx", positive_float, "focal length x (pixels of the photo)"),
                             ("fy", positive_float, "focal length y (default fx)"),
                             ("cx", finite_float, "principal point x (default the centre)"),
                             ("cy", finite_float, "principal point y"),
                             ("baseline", positive_float, "stereo baseline in metres"),
                             ("doffs", finite_float, "x offset of the principal points")):
        camera.add_argument(f"--{name}", type=kind, help=what)
    camera.add_argument("--scale", type=positive_float, help="relative maps: inverse depth = scale·value + shift")
    camera.add_argument("--shift", type=finite_float, help="relative maps: see --scale")


def add_portrait_args(parser: argparse.ArgumentParser) -> None:
    """The portrait command's arguments."""
    _common(parser)
    parser.add_argument("photo", type=Path, metavar="PHOTO", help="the photo (the left view for a stereo bundle)")
    parser.add_argument("--right", type=Path, help="stereo bundles: the right view")
    parser.add_argument("--out", type=Path, required=True, help="the picture to write (.png or .jpg)")
    parser.add_argument("--focus", type=_point, help="X,Y of the point to keep sharp (default: the nearest large "
                        "region)")
    parser.add_argument("--aperture", type=as_argument(number(0.0, MAX_APERTURE)), default=1.0,
                        help=f"blur strength (default 1; 0 = none; at most {MAX_APERTURE:g})")


def _camera(args: argparse.Namespace, calibration: Camera | None, width: int, height: int) -> Camera | None:
    """The calibration file's camera (read once, up front), else the one the flags describe for this photo."""
    if calibration is not None:
        return calibration
    if args.fx is None:
        return None
    return Camera(fx=args.fx, fy=args.fy or args.fx, cx=(width - 1) / 2 if args.cx is None else args.cx,
                  cy=(height - 1) / 2 if args.cy is None else args.cy, width=width, baseline=args.baseline,
                  doffs=args.doffs or 0.0).checked("--fx/--fy/--cx/--cy/--baseline/--doffs")


def _targets(out: Path, names: list[str], saves: list[str], force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; --out names a folder")
    writable(out)
    existing = [out / f"{n}{SUFFIXES[s]}" for n in names for s in saves if (out / f"{n}{SUFFIXES[s]}").exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} already exists (use --force to overwrite)")


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those above it that do not exist yet, outermost first."""
    return [p for p in (*reversed(folder.parents), folder) if not p.exists()]


def _remove_if_empty(made: list[Path]) -> None:
    """Remove the folders a failed run made, innermost first, as long as they are empty (nothing half-made)."""
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            return


def _ply_ready(args: argparse.Namespace, kind: str) -> None:
    """Refuse a point cloud the flags cannot scale before any work is done."""
    from runtime.bundle import DISPARITY, RELATIVE

    if args.calib is None and args.fx is None:
        raise InputError("--save ply needs the camera: --calib calib.txt, or --fx (and --fy/--cx/--cy)")
    if kind == DISPARITY and args.calib is None and args.baseline is None:
        raise InputError("--save ply of disparity needs the baseline: --calib calib.txt or --baseline METRES")
    if kind == RELATIVE and (args.scale is None or args.shift is None):
        raise InputError("this bundle predicts relative inverse depth: a point cloud needs an explicit --scale "
                         "and --shift (inverse depth = scale·value + shift)")


def run_predict(args: argparse.Namespace, prog: str) -> int:
    """Predict every input and write the chosen files; prints a one-line summary with per-image latency."""
    bundle = load_bundle(args.bundle, in_progress=False)
    jobs = pair_inputs(list(args.inputs), args.left, args.right, is_stereo(bundle))
    unique_names(jobs)
    _targets(args.out, [name for name, _ in jobs], args.save, args.force)
    calibration = None
    if "ply" in args.save:
        _ply_ready(args, bundle.outputs[0]["kind"])
        calibration = read_middlebury_calib(args.calib) if args.calib is not None else None  # a bad file: before work
    predictor = Predictor(bundle, threads=args.threads, fit=args.fit)
    made = _missing_folders(args.out)  # made on the first write; removed again if nothing was written
    latencies, progress, start = [], Progress(len(jobs)), time.perf_counter()
    try:
        for done, (name, files) in enumerate(jobs, 1):
            result = predictor.predict(name, read_job(files))
            args.out.mkdir(parents=True, exist_ok=True)
            for save in args.save:
                target = args.out / f"{name}{SUFFIXES[save]}"
                if save == "ply":
                    camera = _camera(args, calibration, result.values.shape[1], result.values.shape[0])
                    write_point_cloud(target, result.values, result.kind, result.image, camera, args.scale,
                                      args.shift, overwrite=args.force)
                else:
                    write_map(target, save, result.values, result.kind, overwrite=args.force)
            latencies.append(result.latency_ms)
            progress.step(done, name)
    except BaseException:
        _remove_if_empty(made)
        raise
    finally:
        progress.close()
        predictor.close()
    print(f"{prog}: {len(jobs)} input(s) → {args.out} ({', '.join(args.save)}); model "
          f"{statistics.median(latencies):.1f} ms median per image, {time.perf_counter() - start:.1f} s in all")
    return 0


def run_portrait(args: argparse.Namespace, prog: str) -> int:
    """Render the portrait picture of one photo (or pair)."""
    if args.out.exists() and not args.force:
        raise InputError(f"{args.out} already exists (use --force to overwrite)")
    if args.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"--out must end in .png or .jpg, got {args.out.name}")
    if args.out.is_dir():
        raise InputError(f"{args.out} is a folder; --out names the picture to write")
    writable(args.out.parent)
    bundle = load_bundle(args.bundle, in_progress=False)
    stereo = is_stereo(bundle)
    if stereo and args.right is None:
        raise InputError("a stereo bundle takes the left view as PHOTO and the right view as --right")
    if not stereo and args.right is not None:
        raise InputError(f"--right is for stereo bundles; {bundle.name} takes one photo")
    files = [args.photo, args.right] if stereo else [args.photo]
    images = read_job(files, PORTRAIT_MAX_PIXELS, "portrait")  # a photo over the bound: before the model loads
    predictor = Predictor(bundle, threads=args.threads, fit=args.fit)
    try:
        result = predictor.predict(args.photo.stem, images)
    finally:
        predictor.close()
    try:
        picture = render_portrait(result.image, nearness(result.values, result.kind), args.focus, args.aperture)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    _write_picture(args.out, picture, args.force)
    print(f"{prog}: wrote {args.out} (model {result.latency_ms:.1f} ms)")
    return 0


def _write_picture(path: Path, picture: np.ndarray, overwrite: bool) -> None:
    if path.suffix.lower() == ".png":
        atomic_write_bytes(path, png_bytes(picture), overwrite)
        return
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=92)
    atomic_write_bytes(path, buffer.getvalue(), overwrite)
