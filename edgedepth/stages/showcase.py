"""The demo's last step: the motorcycle through the run's quantized bundle exactly as a user runs their own photo
(`python -m runtime predict / portrait`): a portrait picture beside its depth map, and for stereo a metric point
cloud from the pair's calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedepth.data import MOTORCYCLE_CALIBRATION, load_motorcycle
from edgedepth.data.middlebury import MOTORCYCLE_PRINCIPAL_POINT, MOTORCYCLE_SHAPE
from runtime.bundle import Bundle
from runtime.depth_io import nearness, write_map
from runtime.images import write_png
from runtime.pointcloud import Camera, write_point_cloud
from runtime.portrait import render_portrait
from runtime.predict import Predictor, is_stereo

FOLDER = "use"
_CALIB = MOTORCYCLE_CALIBRATION
MOTORCYCLE_CAMERA = Camera(fx=_CALIB.focal_px, fy=_CALIB.focal_px, cx=MOTORCYCLE_PRINCIPAL_POINT[0],
                           cy=MOTORCYCLE_PRINCIPAL_POINT[1], width=MOTORCYCLE_SHAPE[1], baseline=_CALIB.baseline_m,
                           doffs=_CALIB.doffs_px)
PREFERRED = ("int8", "fp16", "fp32")


def pick_bundle(bundles: list[Bundle]) -> Bundle | None:
    """The bundle a phone would ship: int8 first, then fp16, then fp32, among those with a runner here."""
    from runtime.runners.registry import runner_for_format

    def usable(bundle: Bundle) -> bool:
        try:
            return runner_for_format(bundle.format).available()[0]
        except ValueError:
            return False

    ranked = sorted((b for b in bundles if usable(b) and b.precision in PREFERRED),
                    key=lambda b: (PREFERRED.index(b.precision), b.format != "onnx"))
    return ranked[0] if ranked else None


def showcase(run_dir: Path, bundles: list[Bundle], threads: int = 2) -> dict | None:
    """Write `use/` under `run_dir`; returns what the report shows (paths relative to the run), or None when no
    bundle can run here."""
    bundle = pick_bundle(bundles)
    if bundle is None:
        return None
    sample = load_motorcycle()
    stereo = is_stereo(bundle)
    predictor = Predictor(bundle, threads=threads)
    try:
        result = predictor.predict("motorcycle", [sample.left, sample.right] if stereo else [sample.left])
    finally:
        predictor.close()
    folder = Path(run_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    write_map(folder / "motorcycle.depth.png", "png", result.values, result.kind)
    write_png(folder / "motorcycle_portrait.png", render_portrait(sample.left, nearness(result.values, result.kind)))
    shown = {"bundle": bundle.name, "depth": f"{FOLDER}/motorcycle.depth.png",
             "portrait": f"{FOLDER}/motorcycle_portrait.png", "latency_ms": round(result.latency_ms, 2),
             "command": f"python -m runtime portrait bundles/{bundle.name} motorcycle_left.png "
                        f"{'--right motorcycle_right.png ' if stereo else ''}--out portrait.png"}
    if stereo:
        points = write_point_cloud(folder / "motorcycle.ply", result.values, result.kind, sample.left,
                                   MOTORCYCLE_CAMERA)
        depth = MOTORCYCLE_CALIBRATION.depth_from_disparity(result.values)
        shown.update(point_cloud=f"{FOLDER}/motorcycle.ply", points=points,
                     median_depth_m=round(float(np.median(depth[depth > 0])), 3))
    return shown
