"""Point clouds from depth maps, where the scale is known: metric depth with the camera's intrinsics, stereo
disparity with a calibration (Z = fx·B / (d + doffs)), or a relative map with an explicit scale and shift
(inverse depth = scale·value + shift; the file then says it is relative). Written as binary little-endian PLY."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from runtime.atomic import atomic_write_bytes
from runtime.bundle import DISPARITY, METRIC
from runtime.errors import InputError
from runtime.validate import Schema, number, optional, read_text

# The camera numbers a point cloud may come from, whichever door they come through (flags or calib.txt): a focal
# length or baseline that is 0, negative or NaN makes every vertex NaN, inf or z = 0.
CAMERA = Schema({"fx": number(above=0.0), "fy": number(above=0.0), "cx": number(), "cy": number(),
                 "width": optional(number(1, 1 << 20, integer=True)), "baseline": optional(number(above=0.0)),
                 "doffs": number()})


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels of an image `width` wide, and the stereo baseline (metres) and doffs (the
    difference of the two principal points' x, Middlebury's convention) where a pair is used."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int | None = None
    baseline: float | None = None
    doffs: float = 0.0

    def checked(self, where: str) -> Camera:
        """This camera when its numbers are finite and its focal lengths and baseline positive; else one line."""
        CAMERA.check(dict(self.__dict__), where)
        return self

    def scaled_to(self, width: int, height: int) -> Camera:
        """The same camera for an image resized to `width` (pixel quantities scale by width / self.width)."""
        if self.width is None or self.width == width:
            return replace(self, width=width)
        s = width / self.width
        # Pixel centres: x' + 0.5 = s (x + 0.5).
        return replace(self, fx=self.fx * s, fy=self.fy * s, cx=(self.cx + 0.5) * s - 0.5,
                       cy=(self.cy + 0.5) * s - 0.5, doffs=self.doffs * s, width=width)


def read_middlebury_calib(path: str | Path) -> Camera:
    """A Middlebury `calib.txt` (cam0=[f 0 cx; 0 f cy; 0 0 1], doffs, baseline in mm, width)."""
    text = read_text(path, "calibration")
    fields = dict(re.findall(r"^\s*(\w+)\s*=\s*(.+?)\s*$", text, flags=re.M))
    try:
        numbers = [float(v) for v in re.split(r"[\s;]+", fields["cam0"].strip("[] "))]
        fx, _, cx, _, fy, cy = numbers[:6]
        width = float(fields["width"])
        camera = Camera(fx=fx, fy=fy, cx=cx, cy=cy, width=int(width) if width.is_integer() else -1,
                        baseline=float(fields["baseline"]) / 1000.0, doffs=float(fields.get("doffs", 0.0)))
    except (KeyError, ValueError, IndexError, OverflowError) as exc:
        raise InputError(f"{path} is not a Middlebury calib.txt (needs cam0, width, baseline; {exc})") from None
    return camera.checked(str(path))


def metric_depth(values: np.ndarray, kind: str, camera: Camera | None, scale: float | None = None,
                 shift: float | None = None) -> tuple[np.ndarray, str]:
    """Depth in metres (NaN where unknown) and a note for the file: metric, from disparity, or relative."""
    values = np.asarray(values, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == METRIC:
            return np.where(values > 0, values, np.nan), "metric depth (m)"
        if kind == DISPARITY:
            if camera is None or camera.baseline is None:
                raise InputError("a point cloud from disparity needs the pair's calibration: --calib calib.txt, "
                                 "or --fx and --baseline")
            denom = values + camera.doffs
            return np.where(denom > 0, camera.fx * camera.baseline / denom, np.nan), \
                f"depth from disparity: fx*B/(d+doffs), B={camera.baseline} m, doffs={camera.doffs}"
        if scale is None or shift is None:
            raise InputError("a relative map gives a point cloud only with an explicit --scale and --shift "
                             "(inverse depth = scale*value + shift)")
        inverse = scale * values + shift
        return np.where(inverse > 0, 1.0 / inverse, np.nan), \
            f"RELATIVE depth: 1/(scale*value+shift), scale={scale}, shift={shift}; not metric"


def back_project(depth: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(N×3 float32 points in metres, camera frame: x right, y down, z forward; the H×W mask of kept pixels)."""
    height, width = depth.shape
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    keep = np.isfinite(depth)
    z = depth[keep]
    x = (cols[keep] - camera.cx) * z / camera.fx
    y = (rows[keep] - camera.cy) * z / camera.fy
    return np.stack([x, y, z], axis=1).astype(np.float32), keep


def ply_bytes(points: np.ndarray, colours: np.ndarray, comments: list[str]) -> bytes:
    """Binary little-endian PLY with float x, y, z and uchar red, green, blue per vertex."""
    header = ["ply", "format binary_little_endian 1.0", *[f"comment {c}" for c in comments],
              f"element vertex {len(points)}", "property float x", "property float y", "property float z",
              "property uchar red", "property uchar green", "property uchar blue", "end_header"]
    vertex = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    data = np.empty(len(points), dtype=vertex)
    for i, axis in enumerate("xyz"):
        data[axis] = points[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        data[channel] = colours[:, i]
    return ("\n".join(header) + "\n").encode("ascii") + data.tobytes()


def write_point_cloud(path: Path, values: np.ndarray, kind: str, image: np.ndarray, camera: Camera,
                      scale: float | None = None, shift: float | None = None, overwrite: bool = True) -> int:
    """Write the map's point cloud, coloured by the photo, to `path` atomically; returns the point count. A
    cloud with no point is refused rather than written."""
    camera = camera.scaled_to(values.shape[1], values.shape[0])  # disparity is in pixels of this map
    depth, note = metric_depth(values, kind, camera, scale, shift)
    points, keep = back_project(depth, camera)
    if not len(points):
        raise InputError(f"{path.name}: no pixel has a positive, finite depth with these camera numbers (doffs "
                         f"{camera.doffs:g}, scale {scale}, shift {shift}): nothing to write")
    comments = [f"edgedepth {note}", f"intrinsics fx={camera.fx:.6g} fy={camera.fy:.6g} cx={camera.cx:.6g} "
                f"cy={camera.cy:.6g} (pixels of a {depth.shape[1]}x{depth.shape[0]} image)"]
    atomic_write_bytes(path, ply_bytes(points, image[keep], comments), overwrite)
    return len(points)
