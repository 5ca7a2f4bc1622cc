"""A user's rectified stereo pairs for self-supervised training: `DIR/left/` and `DIR/right/` holding images of
the same names, and `DIR/calib.txt` (Middlebury's format: cam0, width, baseline in mm, doffs)."""

from __future__ import annotations

from pathlib import Path

from edgedepth.data.images import read_photo
from edgedepth.data.sample import Calibration, StereoSample
from edgedepth.errors import EdgeDepthError
from runtime.images import list_images


def read_calibration(path: Path) -> tuple[Calibration, int]:
    """(the pair's calibration, the image width it is given for) from a Middlebury calib.txt; one-line errors."""
    from runtime.errors import InputError
    from runtime.pointcloud import read_middlebury_calib

    if not path.is_file():
        raise EdgeDepthError(f"--pairs needs the pairs' calibration: {path} is missing (Middlebury calib.txt: cam0, "
                             "width, baseline in mm, doffs)")
    try:
        camera = read_middlebury_calib(path)
    except InputError as exc:
        raise EdgeDepthError(str(exc)) from None
    if camera.baseline is None or camera.baseline <= 0 or camera.fx <= 0 or not camera.width:
        raise EdgeDepthError(f"{path}: focal, width and baseline must be positive")
    return Calibration(camera.fx, camera.baseline, camera.doffs), int(camera.width)


def read_pairs(folder: str | Path, max_side: int = 1024) -> list[StereoSample]:
    """Every pair of `folder` (left/NAME with right/NAME), each carrying the calibration scaled to its width."""
    root = Path(folder)
    if not root.is_dir():
        raise EdgeDepthError(f"--pairs folder not found: {root}")
    left, right = root / "left", root / "right"
    if not left.is_dir() or not right.is_dir():
        raise EdgeDepthError(f"--pairs {root} needs left/ and right/ folders of rectified views with the same names")
    names = list_images(left)
    missing = [name for name in names if not (right / name).is_file()]
    if missing:
        raise EdgeDepthError(f"--pairs: {len(missing)} left view(s) without a right one, e.g. {right / missing[0]}")
    calibration, calibrated_width = read_calibration(root / "calib.txt")
    samples = []
    for name in names:
        image_l, image_r = read_photo(left / name, max_side), read_photo(right / name, max_side)
        if image_l.shape != image_r.shape:
            raise EdgeDepthError(f"--pairs: {name} has views of different sizes ({image_l.shape[:2]} and "
                                 f"{image_r.shape[:2]})")
        calib = calibration.scaled(image_l.shape[1] / calibrated_width)
        samples.append(StereoSample(name, image_l, image_r, calib=calib))
    return samples
