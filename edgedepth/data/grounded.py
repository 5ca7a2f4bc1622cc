"""Grounded procedural scenes: the cues a single photo carries about depth, with exact depth.

A camera at eye height, level or tilted a little down, looks over a ground plane: outdoors to a horizon,
distant buildings and a sky; indoors into a room with walls and sometimes a ceiling. Boxes, spheres and upright
panels of real-world size stand on the ground, so where an object touches the ground, how large it looks, how
fine its texture is and where its shadow falls all tell its distance, and nearer objects hide farther ones.
Textures are attached in metres at a fixed density, so ground and walls show perspective texture gradients.
The sun casts hard shadows from every object. `procedural.py` keeps the older family of floating objects.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgedepth.data.render import Camera, Material, Scene
from edgedepth.data.surfaces import Box, Plane, Shape, Sphere, Surface
from edgedepth.data.textures import random_texture

MIN_DEPTH_M = 1.0
FAR_VALID_M = 80.0  # ground truth is kept up to this depth; farther ground and the sky are invalid
SKY_DEPTH_M = 2000.0
PAINTED_WALLS = 0.5  # share of indoor walls and ceilings painted a bright plain colour
PAINTED_OBJECTS = 0.15  # share of objects painted so
PAINT_STREAM = 7  # the paint draws come from rng((seed, PAINT_STREAM)), apart from the scene's own stream


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float64) / np.linalg.norm(v)


class _Ground:
    """The ground frame in camera axes: up U, forward F and right R along the ground, camera height h."""

    def __init__(self, rng: np.random.Generator, height_range: tuple[float, float]) -> None:
        pitch, roll = rng.uniform(-0.05, 0.25), rng.uniform(-0.05, 0.05)
        up = np.array([0.0, -np.cos(pitch), -np.sin(pitch)])  # looking down puts the horizon above the centre
        c, s = np.cos(roll), np.sin(roll)
        self.up = np.array([c * up[0] - s * up[1], s * up[0] + c * up[1], up[2]])
        self.forward = _unit(np.array([0.0, 0.0, 1.0]) - self.up[2] * self.up)
        self.right = np.cross(self.forward, self.up)
        self.height = float(rng.uniform(*height_range))

    def point(self, right: float, forward: float, above: float = 0.0) -> np.ndarray:
        """The point `right` m to the right, `forward` m ahead of the camera's foot, `above` m above the ground."""
        return (above - self.height) * self.up + right * self.right + forward * self.forward

    def turned(self, yaw: float) -> tuple[np.ndarray, np.ndarray]:
        """Right and forward directions turned by `yaw` radians about the up axis."""
        c, s = np.cos(yaw), np.sin(yaw)
        return c * self.right + s * self.forward, -s * self.right + c * self.forward

    def plane(self) -> Plane:
        return Plane.from_normal(-self.height * self.up, self.up)


def _upright(origin: np.ndarray, normal: np.ndarray, up: np.ndarray, shape: Shape) -> Plane:
    """A plane patch whose v axis is the up direction (so a shape's lowest v is its lowest point)."""
    e1 = _unit(np.cross(up, normal))
    return Plane(np.asarray(origin, dtype=np.float64), _unit(normal), e1, np.cross(normal, e1), shape)


def _frustum_half_width(camera: Camera, forward: float, margin: float = 1.1) -> float:
    """Half the width (m) of the view at `forward` metres, with a margin so objects may be cut by the frame."""
    return margin * forward * (camera.width / 2) / camera.focal_px


def _box(rng: np.random.Generator, ground: _Ground, right: float, forward: float, scale: float = 1.0) -> Box:
    half = (rng.uniform(0.15, 0.8) * scale, rng.uniform(0.1, 0.9) * scale, rng.uniform(0.15, 0.8) * scale)
    if rng.random() < 0.2:  # a pillar or a cabinet
        half = (half[0] * 0.5, half[1] * rng.uniform(2.0, 3.5), half[2] * 0.5)
    r, f = ground.turned(rng.uniform(-np.pi, np.pi))
    axes = np.stack([r, -ground.up, f])  # rows: the box's axes; the second is vertical
    return Box(ground.point(right, forward, half[1]), axes, half)


def _sphere(rng: np.random.Generator, ground: _Ground, right: float, forward: float) -> Sphere:
    radius = rng.uniform(0.15, 0.7)
    frame = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    return Sphere(ground.point(right, forward, radius), float(radius), frame)


def _panel(rng: np.random.Generator, ground: _Ground, right: float, forward: float) -> Plane:
    """An upright sign, board or cut-out standing on the ground, turned at most ~50° from facing the camera."""
    r, f = ground.turned(rng.uniform(-0.9, 0.9))
    normal = -f
    kind = rng.choice(["rect", "ellipse", "polygon"], p=[0.5, 0.2, 0.3])
    width, height = rng.uniform(0.2, 1.1), rng.uniform(0.3, 1.4)
    if kind == "polygon":
        count = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = rng.uniform(0.5, 1.0, count)
        vertices = tuple((float(width * a * np.cos(t)), float(height * a * np.sin(t)))
                         for a, t in zip(radii, angles, strict=True))
        shape = Shape("polygon", vertices=vertices)
        extent = [v for _, v in vertices]
    else:
        shape = Shape(str(kind), (width, height))
        extent = [-height, height]
    plane = _upright(np.zeros(3), normal, ground.up, shape)
    # The point at v lies (e2·up)·v above the patch's origin: lift the patch so its lowest point is on the ground.
    along = float(plane.e2 @ ground.up)
    drop = min(along * v for v in extent)
    return _upright(ground.point(right, forward, -drop), normal, ground.up, shape)


def _objects(rng: np.random.Generator, camera: Camera, ground: _Ground, count: int, far: float,
             room_half_width: float | None = None) -> list[Surface]:
    """`count` objects standing on the ground between 2.2 m and `far` ahead, inside the view (and the room)."""
    objects: list[Surface] = []
    for _ in range(count):
        forward = float(np.exp(rng.uniform(np.log(2.2), np.log(far))))
        half_width = _frustum_half_width(camera, forward)
        if room_half_width is not None:
            half_width = min(half_width, room_half_width - 0.6)
        right = float(rng.uniform(-half_width, half_width))
        kind = rng.choice(["box", "sphere", "panel"], p=[0.45, 0.25, 0.3])
        if kind == "box":
            solid: Surface = _box(rng, ground, right, forward)
        elif kind == "sphere":
            solid = _sphere(rng, ground, right, forward)
        else:
            solid = _panel(rng, ground, right, forward)
        corners = solid.corners()
        if corners[:, 2].min() >= MIN_DEPTH_M:  # nothing nearer than the closest depth the set promises
            objects.append(solid)
    return objects


def _outdoor(rng: np.random.Generator, camera: Camera, ground: _Ground) -> tuple[list[Surface], list[Surface]]:
    """(background, objects): ground, sky and distant buildings; 5–13 objects up to 30 m away."""
    sky = Plane.from_normal(np.array([0.0, 0.0, SKY_DEPTH_M]), np.array([0.0, 0.0, -1.0]))
    background: list[Surface] = [ground.plane(), sky]
    for _ in range(int(rng.integers(0, 5))):
        forward = rng.uniform(25.0, 70.0)
        right = rng.uniform(-1.0, 1.0) * _frustum_half_width(camera, forward)
        background.append(_box(rng, ground, right, forward, scale=rng.uniform(4.0, 12.0)))
    return background, _objects(rng, camera, ground, int(rng.integers(5, 14)), 30.0)


def _indoor(rng: np.random.Generator, camera: Camera, ground: _Ground) -> tuple[list[Surface], list[Surface]]:
    """(background, objects): floor, back wall, side walls, sometimes a ceiling; 4–10 objects in the room."""
    back = rng.uniform(4.0, 11.0)  # rooms as photographed: a few metres deep
    r, f = ground.turned(rng.uniform(-0.3, 0.3))
    background: list[Surface] = [ground.plane(), Plane.from_normal(ground.point(0.0, back), -f)]
    half_width = rng.uniform(1.5, 3.5)
    for side in (-1.0, 1.0):
        if rng.random() < 0.75:
            wall_right = side * half_width * rng.uniform(0.85, 1.15)
            background.append(Plane.from_normal(ground.point(wall_right, 0.0), -side * ground.right))
    if rng.random() < 0.5:
        background.append(Plane.from_normal(ground.point(0.0, 0.0, rng.uniform(2.4, 3.6)), -ground.up))
    objects = _objects(rng, camera, ground, int(rng.integers(4, 11)), back * 0.85, half_width * 0.85)
    return background, objects


def _material(rng: np.random.Generator, texels_per_m: float, ambient: float) -> Material:
    """A texture fixed in metres (so it looks finer with distance) under the scene's light."""
    return Material(random_texture(rng, texels_per_m), ambient, rng.uniform(0.6, 0.9) * (1.35 - ambient))


def _sky(rng: np.random.Generator) -> Material:
    if rng.random() < 0.3:  # overcast
        grey = rng.uniform(0.7, 0.92)
        colours = ((grey, grey, grey * 1.02), (grey * 0.85, grey * 0.87, grey * 0.9))
    else:
        colours = ((rng.uniform(0.75, 0.92), rng.uniform(0.8, 0.93), rng.uniform(0.85, 0.98)),
                   (rng.uniform(0.25, 0.45), rng.uniform(0.4, 0.6), rng.uniform(0.75, 0.95)))
    texture = random_texture(rng, rng.uniform(0.03, 0.12))
    return Material(texture, 1.0, 0.0, sky=colours)


def _painted(material: Material, rng: np.random.Generator) -> Material:
    """The material repainted a bright, nearly plain colour (white or pastel paint, 0.7-0.95): as bright as a sky,
    so that "bright and plain" does not by itself mean "far"; the texture's pattern stays, faintly."""
    contrast = rng.uniform(0.08, 0.3)
    tint = rng.uniform(0.85, 1.05, size=3)
    colour = contrast * np.full((3, 3), 1.0 / 3.0) + contrast * 0.3 * (np.eye(3) - 1.0 / 3.0)
    bias = tint * rng.uniform(0.7, 0.95) - colour @ np.full(3, 0.5)
    texture = replace(material.texture, colour=tuple(tuple(float(x) for x in row) for row in colour),
                      bias=tuple(float(x) for x in bias))
    return replace(material, texture=texture)


def build_grounded_scene(seed: int, height: int, width: int) -> tuple[Scene, int | None]:
    """The seeded scene and the index of its sky surface (None indoors)."""
    rng = np.random.default_rng(seed)
    paint = np.random.default_rng((seed, PAINT_STREAM))  # its own stream: the rest of the scene stays as it was
    focal = width * rng.uniform(0.75, 1.0)
    camera = Camera(height, width, float(focal), float(width / (6.0 * focal)))  # d = width/6 at 1 m
    outdoor = rng.random() < 0.5
    ground = _Ground(rng, (1.1, 2.0) if outdoor else (1.0, 1.7))
    background, objects = (_outdoor if outdoor else _indoor)(rng, camera, ground)
    surfaces = background + objects
    ambient = rng.uniform(0.25, 0.45)
    materials = []
    for index, surface in enumerate(surfaces):
        if outdoor and index == 1:
            materials.append(_sky(rng))
        elif surface is background[0]:
            materials.append(_material(rng, rng.uniform(30.0, 160.0), ambient))
        else:
            materials.append(_material(rng, rng.uniform(60.0, 300.0), ambient))
        # Painted walls and ceilings indoors, and now and then a painted object anywhere.
        wall = not outdoor and 0 < index < len(background)
        if (wall and paint.random() < PAINTED_WALLS) or (index >= len(background) and paint.random() < PAINTED_OBJECTS):
            materials[-1] = _painted(materials[-1], paint)
    sun = (rng.uniform(-1.0, 1.0) * ground.right + rng.uniform(0.5, 1.4) * ground.up
           + rng.uniform(-0.9, 0.7) * ground.forward)
    light = tuple(float(c) for c in _unit(sun))
    casters = tuple(range(len(background), len(surfaces)))
    scene = Scene(camera, tuple(surfaces), tuple(materials), light, casters, tuple(float(c) for c in ground.up))
    return scene, (1 if outdoor else None)
