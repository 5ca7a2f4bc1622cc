"""Seeded procedural stereo scenes with exact disparity, depth and occlusion: the toolkit's training data.

A scene is a textured background (a slanted wall, or a room: ground, back wall and sometimes a side wall)
and several textured solids in front (rectangles, ellipses, rings and polygons on fronto-parallel or slanted
planes, and spheres), lit by one directional light. Both views are ray cast from the analytic surfaces
(`edgedepth.data.render`), so disparity d = f·B/Z (doffs 0) and the occlusion mask are exact. Depth spans
about 1–20 m and disparity 0 … width/6. Same seed, same scene, bit for bit.
"""

from __future__ import annotations

import numpy as np

from edgedepth.data.grounded import FAR_VALID_M, build_grounded_scene
from edgedepth.data.render import Camera, Material, Scene, cast, expose, shade, visible_in_right
from edgedepth.data.sample import Calibration, StereoSample
from edgedepth.data.surfaces import Plane, Shape, Sphere, Surface
from edgedepth.data.textures import random_texture

MIN_DEPTH_M = 1.0
MAX_DEPTH_M = 20.0
_SHAPES = ("rect", "ellipse", "polygon", "ring", "sphere")
_SHAPE_WEIGHTS = (0.3, 0.2, 0.25, 0.07, 0.18)


def scene_seed(seed: int, index: int) -> int:
    """The seed of scene `index` in the set made with `seed` (independent streams via SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    """Rotation about Y by yaw, then about X by pitch (radians)."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    about_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return about_x @ about_y


def _facing(normal: np.ndarray, point: np.ndarray, camera: Camera) -> np.ndarray:
    """The normal flipped, if needed, to face the midpoint between the cameras."""
    midpoint = np.array([camera.baseline_m / 2, 0.0, 0.0])
    return normal if normal @ (midpoint - point) > 0 else -normal


def _frame_rays(camera: Camera) -> np.ndarray:
    """Directions (p, q, 1) through the image corners and edge midpoints, with a margin of a few pixels."""
    cx, cy = camera.centre
    px, py = (cx + 4.0) / camera.focal_px, (cy + 4.0) / camera.focal_px
    return np.array([(a * px, b * py, 1.0) for a in (-1, 0, 1) for b in (-1, 0, 1)])


def _wall(rng: np.random.Generator, camera: Camera, near: float, far: float) -> Plane:
    """An unbounded slanted plane whose depth over the whole view stays within [near, far]."""
    rays = _frame_rays(camera)
    origins = np.array([[0.0, 0.0, 0.0], [camera.baseline_m, 0.0, 0.0]])
    yaw, pitch = rng.uniform(-0.7, 0.7), rng.uniform(-0.45, 0.45)
    distance = np.exp(rng.uniform(np.log(near * 1.6), np.log(far * 0.85)))
    for _ in range(12):
        normal = _rotation(yaw, pitch) @ np.array([0.0, 0.0, -1.0])
        origin = np.array([0.0, 0.0, distance])
        depths = ((origin - origins) @ normal)[:, None] / (rays @ normal)[None, :]
        if np.all(depths > 0) and depths.min() >= near and depths.max() <= far:
            break
        yaw, pitch = yaw * 0.6, pitch * 0.6
        distance = float(np.clip(distance, near * 1.6, far * 0.8))
    return Plane.from_normal(origin, _facing(normal, origin, camera), spin=rng.uniform(-np.pi, np.pi))


def _background(rng: np.random.Generator, camera: Camera) -> list[Surface]:
    """A slanted wall, or a room: ground, back wall and sometimes a side wall (all unbounded planes)."""
    if rng.random() < 0.4:
        return [_wall(rng, camera, 3.0, MAX_DEPTH_M)]
    surfaces = [_wall(rng, camera, 8.0, MAX_DEPTH_M)]
    # Camera height above the ground: the bottom image row must see the ground at least ~1.3 m away.
    height = max(rng.uniform(0.9, 2.2), 1.3 * _frame_rays(camera)[:, 1].max())
    ground_normal = _rotation(rng.uniform(-0.1, 0.1), rng.uniform(-0.06, 0.06)) @ np.array([0.0, -1.0, 0.0])
    ground_origin = np.array([0.0, height, 5.0])
    surfaces.append(Plane.from_normal(ground_origin, _facing(ground_normal, ground_origin, camera),
                                      spin=rng.uniform(-np.pi, np.pi)))
    if rng.random() < 0.4:
        side = rng.choice([-1.0, 1.0])
        offset = rng.uniform(1.5, 4.0)  # closest approach to the camera; the wall may turn towards the view
        normal = _rotation(rng.uniform(-0.25, 0.25), 0.0) @ np.array([-side, 0.0, 0.0])
        origin = -offset * normal
        spin = rng.uniform(-0.3, 0.3)
        surfaces.append(Plane.from_normal(origin, _facing(normal, origin, camera), spin=spin))
    return surfaces


def _background_depth(surfaces: list[Surface], p: float, q: float) -> float:
    """Depth of the background along the left ray (p, q, 1)."""
    pp, qq = np.array([[p]], np.float32), np.array([[q]], np.float32)
    return float(min(s.depth(pp, qq, 0.0)[0, 0] for s in surfaces))


def _shape(rng: np.random.Generator, kind: str, size: float) -> Shape:
    """A planar shape about `size` metres across its half-extent."""
    aspect = rng.uniform(0.45, 1.0)
    half = (size, size * aspect) if rng.random() < 0.5 else (size * aspect, size)
    if kind == "rect":
        return Shape("rect", half)
    if kind == "ellipse":
        return Shape("ellipse", half)
    if kind == "ring":
        return Shape("ring", (size, size * rng.uniform(0.8, 1.0)), inner=rng.uniform(0.35, 0.7))
    count = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = size * rng.uniform(0.45, 1.0, count)
    vertices = tuple((float(r * np.cos(a)), float(r * np.sin(a))) for r, a in zip(radii, angles, strict=True))
    return Shape("polygon", vertices=vertices)


def _solid(rng: np.random.Generator, camera: Camera, background: list[Surface]) -> Surface | None:
    """One textured solid in front of the background, no nearer than MIN_DEPTH_M; None if none fits."""
    cx, cy = camera.centre
    x = rng.uniform(-0.1, 1.1) * camera.width
    y = rng.uniform(-0.1, 1.1) * camera.height
    p, q = (x - cx) / camera.focal_px, (y - cy) / camera.focal_px
    behind = _background_depth(background, p, q)
    far = min(0.75 * behind, 14.0)
    near = MIN_DEPTH_M * 1.15
    if far <= near:
        return None
    depth = float(np.exp(rng.uniform(np.log(near), np.log(far))))
    size = rng.uniform(0.05, 0.25) * camera.width * depth / camera.focal_px
    centre = depth * np.array([p, q, 1.0])
    kind = str(rng.choice(_SHAPES, p=_SHAPE_WEIGHTS))
    if kind == "sphere":
        radius = min(size, (depth - MIN_DEPTH_M) * 0.9)
        frame = _rotation(rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4)) if rng.random() < 0.8 else np.eye(3)
        return Sphere(centre, float(radius), frame)
    shape = _shape(rng, kind, size)
    if rng.random() < 0.35:
        normal = np.array([0.0, 0.0, -1.0])
    else:
        normal = _rotation(rng.uniform(-1.0, 1.0), rng.uniform(-0.7, 0.7)) @ np.array([0.0, 0.0, -1.0])
    plane = Plane.from_normal(centre, _facing(normal, centre, camera), rng.uniform(-np.pi, np.pi), shape)
    corners = plane.corners()
    cameras = np.array([[0.0, 0.0, 0.0], [camera.baseline_m, 0.0, 0.0]])
    sides = (cameras - centre) @ plane.normal
    if corners[:, 2].min() < MIN_DEPTH_M or sides.min() < 0.05:  # too close, or nearly edge-on to a camera
        plane = Plane.from_normal(centre, np.array([0.0, 0.0, -1.0]), rng.uniform(-np.pi, np.pi), shape)
    return plane


def _material(rng: np.random.Generator, camera: Camera, typical_depth: float) -> Material:
    """A random texture (texels about one image pixel at the typical depth) and Lambertian weights."""
    texels_per_m = camera.focal_px / typical_depth * rng.uniform(1.0, 2.4)
    ambient = rng.uniform(0.3, 0.6)
    wave = (0.0, 0.0, 0.0, 0.0)
    if rng.random() < 0.5:
        amplitude, phase = rng.uniform(0.05, 0.2), rng.uniform(0, 2 * np.pi)
        wave = (amplitude, rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), phase)
    return Material(random_texture(rng, texels_per_m), ambient, rng.uniform(0.5, 0.9) * (1.3 - ambient), wave)


def _typical_depth(surface: Surface) -> float:
    """A depth representative of the surface, for choosing its texture scale."""
    if isinstance(surface, Sphere):
        return float(surface.centre[2])
    if surface.shape.kind is None:  # unbounded background planes are seen over metres of depth
        return float(max(surface.origin[2], 4.0))
    return float(max(surface.origin[2], MIN_DEPTH_M))


def build_scene(seed: int, height: int, width: int) -> Scene:
    """The seeded scene description: camera, surfaces, materials and light."""
    rng = np.random.default_rng(seed)
    focal = width * rng.uniform(0.75, 1.0)
    camera = Camera(height, width, float(focal), float(width / (6.0 * focal)))  # d = width/6 at 1 m
    surfaces = _background(rng, camera)
    background = list(surfaces)
    for _ in range(int(rng.integers(4, 11))):
        solid = _solid(rng, camera, background)
        if solid is not None:
            surfaces.append(solid)
    materials = tuple(_material(rng, camera, _typical_depth(s)) for s in surfaces)
    light = np.array([rng.uniform(-1.0, 1.0), rng.uniform(-1.2, -0.2), rng.uniform(-1.5, -0.4)])
    light = tuple(float(c) for c in light / np.linalg.norm(light))
    return Scene(camera, tuple(surfaces), materials, light)


SCENE_FAMILIES = ("grounded", "classic")


def make_scene(seed: int, height: int, width: int, family: str = "grounded") -> StereoSample:
    """One procedural stereo sample with exact disparity (f·B/Z), depth, and occlusion mask.

    `family`: "grounded" (objects standing on a ground plane, outdoors or in a room: the cues monocular depth
    needs) or "classic" (textured solids floating in front of a wall or room; depth not tied to any image cue).
    Grounded scenes mark the sky and ground beyond FAR_VALID_M invalid (0 in disparity and depth).
    """
    if height < 8 or width < 8:
        raise ValueError(f"procedural scenes need at least 8×8 pixels, got {height}×{width}")
    if family == "classic":
        scene, sky = build_scene(seed, height, width), None
    elif family == "grounded":
        scene, sky = build_grounded_scene(seed, height, width)
    else:
        raise ValueError(f"unknown scene family {family!r}; available: {', '.join(SCENE_FAMILIES)}")
    camera = scene.camera
    depth, ids = cast(scene, 0.0)
    depth_right, ids_right = cast(scene, camera.baseline_m)
    nonoccluded = visible_in_right(scene, depth)
    rng = np.random.default_rng([seed, 1])  # photometric stream, separate from the layout's
    noise = rng.uniform(0.004, 0.012)
    blur = rng.uniform(0.35, 0.7)
    views = []
    for z, surface_ids, ox in ((depth, ids, 0.0), (depth_right, ids_right, camera.baseline_m)):
        radiance = shade(scene, z, surface_ids, ox)
        gain, bias = 1.0 + rng.uniform(-0.04, 0.04), rng.uniform(-0.015, 0.015)  # exposure mismatch
        views.append(expose(radiance, rng, gain, bias, noise, blur))
    calib = Calibration(camera.focal_px, camera.baseline_m, 0.0)
    disparity = (np.float32(camera.focal_px * camera.baseline_m) / depth).astype(np.float32)
    valid = np.ones((height, width), dtype=bool)
    if family == "grounded":
        valid = (depth <= np.float32(FAR_VALID_M)) & (ids != (-1 if sky is None else sky))
        disparity = np.where(valid, disparity, np.float32(0.0))
        depth = np.where(valid, depth, np.float32(0.0))
    return StereoSample(
        name=f"procedural-{seed}" if family == "grounded" else f"procedural-{family}-{seed}",
        left=views[0],
        right=views[1],
        disparity=disparity,
        valid=valid,
        nonoccluded=nonoccluded & valid,
        depth=depth,
        calib=calib,
    )


def make_scenes(n: int, seed: int, height: int, width: int, family: str = "grounded") -> list[StereoSample]:
    """`n` procedural samples; scene i is `make_scene(scene_seed(seed, i), height, width, family)`."""
    return [make_scene(scene_seed(seed, i), height, width, family) for i in range(n)]
