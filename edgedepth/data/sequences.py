"""Procedural video: a camera moving through a procedural scene, each frame ray cast from its own position, with
the exact intrinsics and camera poses (the self-supervised video objective's training data).

The camera translates (no rotation) at a steady velocity: mostly forward, a little sideways and up or down.
Moving the camera by c is rendering the scene moved by −c, so every surface keeps its texture and shading and
every frame is a true view of the same world.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgedepth.data.frames import resized_intrinsics
from edgedepth.data.grounded import build_grounded_scene
from edgedepth.data.procedural import build_scene, scene_seed
from edgedepth.data.render import Scene, cast, expose, shade
from edgedepth.data.sample import _resize_image
from edgedepth.data.surfaces import Box, Plane, Sphere


@dataclass
class Sequence:
    """Frames (F×H×W×3 uint8) of one moving camera, its intrinsics (3×3, pixels of these frames), each frame's
    camera centre in the first frame's axes (F×3, metres; the rotation is the identity), and the middle frame's
    depth (H×W, metres)."""

    name: str
    frames: np.ndarray
    intrinsics: np.ndarray
    centres: np.ndarray
    depth: np.ndarray

    def resized(self, height: int, width: int) -> Sequence:
        """The same sequence at (height, width): frames area-averaged, intrinsics scaled; depth picked nearest."""
        h0, w0 = self.frames.shape[1:3]
        frames = np.stack([_resize_image(f, height, width) for f in self.frames])
        intrinsics = resized_intrinsics(self.intrinsics, (h0, w0), height, width)
        rows = np.clip(((np.arange(height) + 0.5) * h0 / height).astype(int), 0, h0 - 1)
        cols = np.clip(((np.arange(width) + 0.5) * w0 / width).astype(int), 0, w0 - 1)
        return replace(self, frames=frames, intrinsics=intrinsics, depth=self.depth[rows][:, cols].copy())


def _moved(surface: Plane | Sphere | Box, offset: np.ndarray) -> Plane | Sphere | Box:
    """The surface translated by `offset` (metres)."""
    if isinstance(surface, Plane):
        return replace(surface, origin=surface.origin + offset)
    return replace(surface, centre=surface.centre + offset)


def _frame(scene: Scene, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radiance and depth of the view from a camera at `centre` (the scene's own axes)."""
    moved = replace(scene, surfaces=tuple(_moved(s, -centre) for s in scene.surfaces))
    depth, ids = cast(moved, 0.0)
    return shade(moved, depth, ids, 0.0), depth


def make_sequence(seed: int, height: int, width: int, frames: int = 3, family: str = "grounded") -> Sequence:
    """One seeded sequence of `frames` views of a procedural scene from a camera moving 0.15–0.35 m per frame."""
    scene = build_grounded_scene(seed, height, width)[0] if family == "grounded" else build_scene(seed, height, width)
    rng = np.random.default_rng([seed, 2])  # the motion's own stream
    camera = scene.camera
    speed, heading, climb = rng.uniform(0.15, 0.35), rng.uniform(-0.6, 0.6), rng.uniform(-0.1, 0.1)
    step = speed * np.array([np.sin(heading), climb, np.cos(heading)])
    offsets = np.arange(frames) - (frames - 1) / 2
    for _ in range(4):
        centres = offsets[:, None] * step[None, :]
        try:
            views = [_frame(scene, c) for c in centres]
            break
        except RuntimeError:  # a pixel sees no surface from a camera moved back: move less
            step = step * 0.5
    else:
        raise RuntimeError(f"procedural sequence {seed}: no camera path leaves every pixel on a surface")
    photo = np.random.default_rng([seed, 1])
    noise, blur = photo.uniform(0.004, 0.012), photo.uniform(0.35, 0.7)
    images = np.stack([expose(radiance, photo, 1.0, 0.0, noise, blur) for radiance, _ in views])
    cx, cy = camera.centre
    intrinsics = np.array([[camera.focal_px, 0.0, cx], [0.0, camera.focal_px, cy], [0.0, 0.0, 1.0]])
    return Sequence(f"sequence-{seed}", images, intrinsics, centres - centres[(frames - 1) // 2],
                    views[(frames - 1) // 2][1])


def make_sequences(n: int, seed: int, height: int, width: int, frames: int = 3,
                   family: str = "grounded") -> list[Sequence]:
    """`n` procedural sequences; sequence i is `make_sequence(scene_seed(seed, i), ...)`."""
    return [make_sequence(scene_seed(seed, i), height, width, frames, family) for i in range(n)]
