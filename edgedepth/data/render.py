"""Exact ray casting of a procedural scene into a rectified stereo pair, with z-buffer and occlusion masks.

Both cameras share intrinsics; the right one sits at (baseline, 0, 0). Each view is rendered from the
analytic surfaces (texture attached to the surface, Lambertian shading), so the right image is a true second
view. Occlusion is exact too: a left pixel is non-occluded when the ray from the right camera to its 3D point
reaches it before any surface, and the point lies inside the right image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgedepth.data.surfaces import Surface, blocks
from edgedepth.data.textures import Texture

_OCCLUSION_TOLERANCE = 1e-4  # relative depth: a surface this much closer than the point hides it


@dataclass(frozen=True)
class Camera:
    """Shared pinhole intrinsics of the rectified pair (principal point at the centre) and the baseline."""

    height: int
    width: int
    focal_px: float
    baseline_m: float

    @property
    def centre(self) -> tuple[float, float]:
        """(cx, cy) in pixels."""
        return (self.width - 1) / 2.0, (self.height - 1) / 2.0

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Normalised coordinates p (1×W) and q (H×1) of the pixel centres."""
        cx, cy = self.centre
        p = ((np.arange(self.width, dtype=np.float32) - np.float32(cx)) / np.float32(self.focal_px))[None, :]
        q = ((np.arange(self.height, dtype=np.float32) - np.float32(cy)) / np.float32(self.focal_px))[:, None]
        return p, q


@dataclass(frozen=True)
class Material:
    """How a surface looks: its texture, Lambertian ambient and diffuse weights, a soft light variation."""

    texture: Texture
    ambient: float
    diffuse: float
    wave: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # amplitude, cycles/m along u and v, phase
    # A sky: unlit colour from the horizon's (first) to the zenith's (second) by elevation, the texture as clouds.
    sky: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None


@dataclass(frozen=True)
class Scene:
    """Camera, surfaces with their materials, the direction towards the light (unit, camera axes), the surfaces
    that cast shadows (indices), and the world's up direction (for the sky's elevation)."""

    camera: Camera
    surfaces: tuple[Surface, ...]
    materials: tuple[Material, ...]
    light: tuple[float, float, float]
    casters: tuple[int, ...] = ()
    up: tuple[float, float, float] = (0.0, -1.0, 0.0)


def _pixel_box(surface: Surface, camera: Camera, ox: float) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (x0, x1, y0, y1), end-exclusive, that holds the surface's image; None if none."""
    corners = surface.corners()
    if corners is None or np.any(corners[:, 2] <= 1e-3):
        return 0, camera.width, 0, camera.height
    cx, cy = camera.centre
    xs = camera.focal_px * (corners[:, 0] - ox) / corners[:, 2] + cx
    ys = camera.focal_px * corners[:, 1] / corners[:, 2] + cy
    x0, x1 = max(0, int(np.floor(xs.min())) - 1), min(camera.width, int(np.ceil(xs.max())) + 2)
    y0, y1 = max(0, int(np.floor(ys.min())) - 1), min(camera.height, int(np.ceil(ys.max())) + 2)
    return (x0, x1, y0, y1) if x0 < x1 and y0 < y1 else None


def cast(scene: Scene, ox: float) -> tuple[np.ndarray, np.ndarray]:
    """Depth (H×W float32) and surface index (H×W int16) seen from the camera at (ox, 0, 0)."""
    camera = scene.camera
    p, q = camera.rays()
    zbuf = np.full((camera.height, camera.width), np.inf, dtype=np.float32)
    ids = np.full((camera.height, camera.width), -1, dtype=np.int16)
    for k, surface in enumerate(scene.surfaces):
        box = _pixel_box(surface, camera, ox)
        if box is None:
            continue
        x0, x1, y0, y1 = box
        z = surface.depth(p[:, x0:x1], q[y0:y1], ox)
        region, region_ids = zbuf[y0:y1, x0:x1], ids[y0:y1, x0:x1]
        closer = z < region
        region[closer] = z[closer]
        region_ids[closer] = k
    if np.any(ids < 0):
        raise RuntimeError("procedural scene leaves pixels without a surface; the background must cover all")
    return zbuf, ids


def visible_in_right(scene: Scene, depth: np.ndarray) -> np.ndarray:
    """Left pixels whose 3D point (depth, H×W) lies inside the right image and is not hidden there."""
    camera = scene.camera
    cx, _ = camera.centre
    p, q = camera.rays()
    disparity = np.float32(camera.focal_px * camera.baseline_m) / depth
    x_right = np.arange(camera.width, dtype=np.float32)[None, :] - disparity
    visible = (x_right >= -0.5) & (x_right <= camera.width - 0.5)
    p_right = (x_right - np.float32(cx)) / np.float32(camera.focal_px)
    limit = depth * np.float32(1.0 - _OCCLUSION_TOLERANCE)
    ox = camera.baseline_m
    for surface in scene.surfaces:
        box = _pixel_box(surface, camera, ox)
        if box is None:
            continue
        x0, x1, y0, y1 = box
        rows = slice(y0, y1)
        sub_x = x_right[rows]
        candidates = visible[rows] & (sub_x >= x0 - 1) & (sub_x <= x1)
        yy, xx = np.nonzero(candidates)
        if yy.size == 0:
            continue
        z = surface.depth(p_right[rows][yy, xx], q[rows, 0][yy], ox)
        hidden = z < limit[rows][yy, xx]
        visible[y0 + yy[hidden], xx[hidden]] = False
    return visible


def shade(scene: Scene, depth: np.ndarray, ids: np.ndarray, ox: float) -> np.ndarray:
    """Linear RGB radiance (H×W×3 float32) of each pixel's surface point: texture × Lambertian light.

    Plane normals must face the cameras (the layout orients them) for the light term to be right.
    """
    camera = scene.camera
    p, q = camera.rays()
    light = np.asarray(scene.light, dtype=np.float32)
    out = np.empty((camera.height * camera.width, 3), dtype=np.float32)
    flat_ids, flat_depth = ids.ravel(), depth.ravel()
    for k, (surface, material) in enumerate(zip(scene.surfaces, scene.materials, strict=True)):
        sel = np.flatnonzero(flat_ids == k)
        if sel.size == 0:
            continue
        z = flat_depth[sel]
        y, x = np.divmod(sel, camera.width)
        px, py = np.float32(ox) + z * p[0, x], z * q[y, 0]
        u, v = surface.surface_coords(px, py, z)
        normals = surface.normals(px, py, z)
        # Slant seen from the midpoint between the cameras: identical in both views, so is the mip level.
        mx = px - np.float32(camera.baseline_m / 2)
        along = normals[:, 0] * mx + normals[:, 1] * py + normals[:, 2] * z
        cos = np.abs(along) / np.sqrt(mx * mx + py * py + z * z)
        footprint = z / np.float32(camera.focal_px) / np.sqrt(np.maximum(cos, 0.15))
        albedo = material.texture.sample(u, v, footprint)
        if material.sky is not None:
            out[sel] = _sky_colour(material, albedo, p[0, x], q[y, 0], scene.up)
            continue
        # Explicit products, not `@`: BLAS threads on thin N×3 matrices are slow and erratic.
        lambert = normals[:, 0] * light[0] + normals[:, 1] * light[1] + normals[:, 2] * light[2]
        np.maximum(lambert, 0.0, out=lambert)
        _cast_shadows(scene, k, lambert, np.stack([px, py, z], axis=1))
        light_term = np.float32(material.ambient) + np.float32(material.diffuse) * lambert
        amp, fu, fv, phase = material.wave
        if amp:
            light_term *= 1.0 + np.float32(amp) * np.sin(np.float32(2 * np.pi) * (fu * u + fv * v) + phase)
        out[sel] = albedo * light_term[:, None]
    return out.reshape(camera.height, camera.width, 3)


def _sky_colour(material: Material, albedo: np.ndarray, p: np.ndarray, q: np.ndarray,
                up: tuple[float, float, float]) -> np.ndarray:
    """Sky radiance (N×3) along rays (p, q, 1): horizon to zenith colour by elevation, the texture as faint clouds."""
    horizon, zenith = (np.asarray(c, dtype=np.float32) for c in material.sky)
    norm = np.sqrt(p * p + q * q + np.float32(1.0))
    elevation = (p * np.float32(up[0]) + q * np.float32(up[1]) + np.float32(up[2])) / norm
    t = np.clip(elevation / np.float32(0.5), 0.0, 1.0) ** np.float32(0.7)
    colour = horizon + t[:, None] * (zenith - horizon)
    clouds = albedo.mean(axis=1, keepdims=True) - np.float32(0.5)
    return colour * (np.float32(1.0) + np.float32(0.2) * clouds)


def _cast_shadows(scene: Scene, k: int, lambert: np.ndarray, points: np.ndarray) -> None:
    """Zero the direct light (in place) of the lit points of surface k whose way to the light another caster
    blocks: shadows are a property of the 3D point, so both views show the same ones."""
    casters = [j for j in scene.casters if j != k]
    lit = np.flatnonzero(lambert > 0)
    if not casters or lit.size == 0:
        return
    light = np.asarray(scene.light, dtype=np.float32)
    shadowed = np.zeros(lit.size, dtype=bool)
    for j in casters:
        open_ = np.flatnonzero(~shadowed)
        if open_.size == 0:
            break
        shadowed[open_] = blocks(scene.surfaces[j], points[lit[open_]], light)
    lambert[lit[shadowed]] = 0.0


def expose(radiance: np.ndarray, rng: np.random.Generator, gain: float, bias: float, noise: float,
           blur_sigma: float) -> np.ndarray:
    """A camera's uint8 image from radiance: gain and bias, lens blur, Gaussian sensor noise, rounding."""
    image = radiance * np.float32(gain * 255.0) + np.float32(bias * 255.0)
    if blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur_sigma)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise * 255.0)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)
