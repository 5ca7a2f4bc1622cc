"""Grounded procedural scenes: objects stand on the ground, cast shadows, and the sky carries no depth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgedepth.data import make_scene
from edgedepth.data.grounded import build_grounded_scene
from edgedepth.data.render import cast, shade
from edgedepth.data.surfaces import Box, Plane, Sphere

SEEDS = range(12)


def _lowest_height(surface, ground: Plane) -> float:
    """Height above the ground plane of the surface's lowest point."""
    up = ground.normal

    def height(point: np.ndarray) -> float:
        return float(up @ (np.asarray(point) - ground.origin))

    if isinstance(surface, Box):
        return min(height(c) for c in surface.corners())
    if isinstance(surface, Sphere):
        return height(surface.centre) - surface.radius
    shape = surface.shape
    along = float(surface.e2 @ up)
    extent = [v for _, v in shape.vertices] if shape.kind == "polygon" else [-shape.half[1], shape.half[1]]
    return height(surface.origin) + min(along * v for v in extent)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_object_stands_on_the_ground(seed):
    scene, _ = build_grounded_scene(seed, 64, 96)
    ground = scene.surfaces[0]
    assert ground.shape.kind is None and np.allclose(ground.normal, scene.up)
    objects = [scene.surfaces[i] for i in scene.casters]
    assert objects, "a grounded scene has objects"
    for surface in objects:
        if isinstance(surface, Box) and max(surface.half) > 3.0:
            continue  # distant buildings stand on the ground too, but are checked the same way below
        assert _lowest_height(surface, ground) == pytest.approx(0.0, abs=1e-6)


def test_distant_buildings_stand_on_the_ground_too():
    for seed in SEEDS:
        scene, sky = build_grounded_scene(seed, 64, 96)
        ground = scene.surfaces[0]
        for surface in scene.surfaces[2 if sky is not None else 1:]:
            if isinstance(surface, Box):
                assert _lowest_height(surface, ground) == pytest.approx(0.0, abs=1e-6)


def test_objects_cast_shadows_that_only_darken():
    darkened = []
    for seed in SEEDS:
        scene, _ = build_grounded_scene(seed, 64, 96)
        depth, ids = cast(scene, 0.0)
        lit = shade(scene, depth, ids, 0.0)
        unshadowed = shade(dataclasses.replace(scene, casters=()), depth, ids, 0.0)
        # A shadow removes direct light; texture colours below 0 (clipped by the camera) are the only exception.
        assert ((lit <= unshadowed + 1e-6) | (unshadowed < 0)).all()
        darkened.append(float((lit.sum(axis=2) < unshadowed.sum(axis=2) - 1e-4).mean()))
    assert np.median(darkened) > 0.01  # most scenes show a visible shadow


def test_sky_is_invalid_and_above_the_ground():
    outdoor = 0
    for seed in SEEDS:
        sample = make_scene(seed, 64, 96)
        _, sky = build_grounded_scene(seed, 64, 96)
        if sky is None:
            assert sample.valid.mean() > 0.97  # a room: everything within reach
            continue
        outdoor += 1
        invalid = ~sample.valid
        assert invalid[:32].mean() > invalid[32:].mean()
    assert 0 < outdoor < len(SEEDS)


def test_nearer_is_lower_in_the_image():
    """The layout cue a monocular network can learn: inverse depth grows towards the bottom of the image."""
    correlations = []
    for seed in SEEDS:
        sample = make_scene(seed, 64, 96)
        rows = np.broadcast_to(np.arange(64, dtype=np.float64)[:, None], (64, 96))[sample.valid]
        correlations.append(np.corrcoef(rows, sample.disparity[sample.valid])[0, 1])
    assert np.mean(correlations) > 0.3


def _brightness(material) -> tuple[float, float]:
    """(mean albedo at mid-grey texels, contrast: the colour matrix's largest row sum) of a material's texture."""
    colour, bias = np.asarray(material.texture.colour), np.asarray(material.texture.bias)
    return float(np.mean(colour @ np.full(3, 0.5) + bias)), float(np.abs(colour).sum(axis=1).max())


def test_some_walls_and_objects_are_painted_bright_and_plain_like_a_sky():
    # A sky is bright and plain; walls and objects painted so keep "bright" from meaning "far".
    painted_walls = painted_objects = 0
    for seed in range(40):
        scene, sky = build_grounded_scene(seed, 32, 48)
        backgrounds = len(scene.surfaces) - len(scene.casters)
        for index, material in enumerate(scene.materials):
            if index == sky:
                continue
            mean, contrast = _brightness(material)
            if mean > 0.68 and contrast < 0.35:  # no unpainted texture is this bright and this flat
                painted_walls += sky is None and 0 < index < backgrounds
                painted_objects += index >= backgrounds
    assert painted_walls >= 10 and painted_objects >= 10


def test_paint_comes_from_its_own_stream(monkeypatch):
    import edgedepth.data.grounded as grounded

    painted = [build_grounded_scene(seed, 32, 48)[0] for seed in range(6)]
    monkeypatch.setattr(grounded, "PAINTED_WALLS", 0.0)
    monkeypatch.setattr(grounded, "PAINTED_OBJECTS", 0.0)
    plain = [build_grounded_scene(seed, 32, 48)[0] for seed in range(6)]
    repainted = 0
    for a, b in zip(painted, plain, strict=True):
        assert a.light == b.light and a.camera == b.camera and a.casters == b.casters
        (depth_a, ids_a), (depth_b, ids_b) = cast(a, 0.0), cast(b, 0.0)
        assert np.array_equal(depth_a, depth_b) and np.array_equal(ids_a, ids_b)  # the geometry is the same
        for ma, mb in zip(a.materials, b.materials, strict=True):
            assert (ma.ambient, ma.diffuse, ma.texture.image, ma.texture.offset) == (
                mb.ambient, mb.diffuse, mb.texture.image, mb.texture.offset)
            repainted += ma != mb
    assert repainted > 0
