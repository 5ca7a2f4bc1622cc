"""Analytic surfaces for the procedural renderer: shaped planar patches, unbounded planes, spheres and boxes.

Rays are cast from a camera centre (ox, 0, 0) along (p, q, 1), with p, q normalised image coordinates
(x − cx) / f and (y − cy) / f; the ray parameter is therefore the depth Z itself. Axes: X right, Y down,
Z forward. Every surface returns Z = +inf where the ray misses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INF = np.float32(np.inf)


def _unit(v: np.ndarray) -> np.ndarray:
    """v / |v| as float64."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


@dataclass(frozen=True)
class Shape:
    """A region in a plane's (u, v) coordinates (metres): rect, ellipse, ring, polygon; None = unbounded."""

    kind: str | None = None
    half: tuple[float, float] = (1.0, 1.0)  # rect half sizes / ellipse semi-axes
    inner: float = 0.0  # ring: inner radius as a fraction of the semi-axes
    vertices: tuple[tuple[float, float], ...] = ()  # polygon, in order

    @property
    def radius(self) -> float:
        """Radius of a disc around the origin that holds the shape (inf when unbounded)."""
        if self.kind is None:
            return float("inf")
        if self.kind == "polygon":
            return float(max(np.hypot(u, v) for u, v in self.vertices))
        return float(np.hypot(*self.half)) if self.kind == "rect" else float(max(self.half))

    def contains(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Boolean mask of the points inside the shape."""
        if self.kind is None:
            return np.ones(np.broadcast(u, v).shape, dtype=bool)
        a, b = (np.float32(h) for h in self.half)
        if self.kind == "rect":
            return (np.abs(u) <= a) & (np.abs(v) <= b)
        if self.kind in ("ellipse", "ring"):
            r2 = (u / a) ** 2 + (v / b) ** 2
            inside = r2 <= 1.0
            return inside & (r2 >= np.float32(self.inner**2)) if self.kind == "ring" else inside
        if self.kind == "polygon":
            inside = np.zeros(np.broadcast(u, v).shape, dtype=bool)
            verts = self.vertices
            for (ui, vi), (uj, vj) in zip(verts, verts[1:] + verts[:1], strict=True):
                if vi == vj:
                    continue
                crosses = (vi > v) != (vj > v)
                at = np.float32((uj - ui) / (vj - vi)) * (v - np.float32(vi)) + np.float32(ui)
                inside ^= crosses & (u < at)
            return inside
        raise ValueError(f"unknown shape {self.kind!r}")


@dataclass(frozen=True)
class Plane:
    """A plane through `origin` with a unit normal; in-plane axes e1, e2 carry texture; `shape` bounds it."""

    origin: np.ndarray
    normal: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    shape: Shape = field(default_factory=Shape)

    @staticmethod
    def from_normal(origin, normal, spin: float = 0.0, shape: Shape | None = None) -> Plane:
        """A plane with axes built from the normal, rotated by `spin` radians about it."""
        n = _unit(normal)
        reference = np.array([0.0, 1.0, 0.0]) if abs(n[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
        a = _unit(np.cross(reference, n))
        b = np.cross(n, a)
        e1 = np.cos(spin) * a + np.sin(spin) * b
        e2 = np.cross(n, e1)
        return Plane(np.asarray(origin, dtype=np.float64), n, e1, e2, shape or Shape())

    def _coefficients(self, ox: float) -> tuple:
        """Scalars such that 1/Z = ap·p + aq·q + a0 and u = u0 + Z·(up·p + uq·q + uc) (same for v)."""
        n, o = self.normal, np.array([ox, 0.0, 0.0])
        dist = float(n @ (self.origin - o))
        rel = o - self.origin
        return (n / dist, float(self.e1 @ rel), self.e1, float(self.e2 @ rel), self.e2)

    def depth(self, p: np.ndarray, q: np.ndarray, ox: float) -> np.ndarray:
        """Z along the rays (p, q, 1) from (ox, 0, 0); inf where they miss (parallel, behind, off-shape)."""
        w_coef, u0, e1, v0, e2 = self._coefficients(ox)
        inv = np.float32(w_coef[0]) * p + np.float32(w_coef[1]) * q + np.float32(w_coef[2])
        with np.errstate(divide="ignore"):
            z = np.where(inv > 1e-6, np.float32(1.0) / inv, INF).astype(np.float32)
        if self.shape.kind is not None:
            u = np.float32(u0) + z * (np.float32(e1[0]) * p + np.float32(e1[1]) * q + np.float32(e1[2]))
            v = np.float32(v0) + z * (np.float32(e2[0]) * p + np.float32(e2[1]) * q + np.float32(e2[2]))
            with np.errstate(invalid="ignore"):
                z = np.where(self.shape.contains(u, v), z, INF)
        return z

    def surface_coords(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) in metres of 3D points on the plane."""
        dx, dy, dz = (c - np.float32(o) for c, o in zip((x, y, z), self.origin, strict=True))
        e1, e2 = self.e1.astype(np.float32), self.e2.astype(np.float32)
        return e1[0] * dx + e1[1] * dy + e1[2] * dz, e2[0] * dx + e2[1] * dy + e2[2] * dz

    def normals(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Unit normals (N×3) at the points (constant for a plane)."""
        return np.broadcast_to(self.normal.astype(np.float32), (x.shape[0], 3))

    def corners(self) -> np.ndarray | None:
        """3D points whose convex hull holds the patch (None when unbounded)."""
        r = self.shape.radius
        if not np.isfinite(r):
            return None
        signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=np.float64)
        return self.origin + r * (signs[:, :1] * self.e1 + signs[:, 1:] * self.e2)


@dataclass(frozen=True)
class Sphere:
    """A sphere; texture coordinates are arc lengths in its own frame (rows of `frame`), seam facing away."""

    centre: np.ndarray
    radius: float
    frame: np.ndarray  # 3×3 rotation, rows are the sphere's axes

    def depth(self, p: np.ndarray, q: np.ndarray, ox: float) -> np.ndarray:
        """Z of the nearest intersection in front of (ox, 0, 0) along (p, q, 1); inf where the ray misses."""
        lx, ly, lz = (float(c) for c in self.centre - np.array([ox, 0.0, 0.0]))
        a = p * p + q * q + np.float32(1.0)
        b = np.float32(lx) * p + np.float32(ly) * q + np.float32(lz)
        c = np.float32(lx * lx + ly * ly + lz * lz - self.radius**2)
        disc = b * b - a * c
        hit = disc >= 0
        z = (b - np.sqrt(np.maximum(disc, 0.0))) / a
        return np.where(hit & (z > 0), z, INF).astype(np.float32)

    def _local(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Points as unit vectors from the centre in the sphere's frame (N×3)."""
        rel = np.stack([x, y, z], axis=1) - self.centre.astype(np.float32)
        axes = self.frame.astype(np.float32) / np.float32(self.radius)
        return rel[:, :1] * axes[:, 0] + rel[:, 1:2] * axes[:, 1] + rel[:, 2:] * axes[:, 2]

    def surface_coords(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) in metres: longitude and latitude arc lengths (the seam is on the side facing away)."""
        local = self._local(x, y, z)
        r = np.float32(self.radius)
        u = r * np.arctan2(local[:, 0], -local[:, 2])
        v = r * np.arcsin(np.clip(local[:, 1], -1.0, 1.0))
        return u, v

    def normals(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Unit outward normals (N×3)."""
        rel = np.stack([x, y, z], axis=1) - self.centre.astype(np.float32)
        return rel / np.float32(self.radius)

    def corners(self) -> np.ndarray:
        """Corners of the bounding cube."""
        signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
        return self.centre + self.radius * signs



@dataclass(frozen=True)
class Box:
    """An oriented box (rows of `axes` are its unit axes, `half` its half extents in metres); each face carries
    texture in its own two in-plane coordinates."""

    centre: np.ndarray
    axes: np.ndarray  # 3×3 rotation, rows are the box's axes
    half: tuple[float, float, float]

    def _slab(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entry and exit ray parameters (tmin, tmax) of rays origin + t·direction (N×3 each, local frame)."""
        tmin = tmax = None
        for axis, half in enumerate(self.half):
            o, d = origins[..., axis], directions[..., axis]
            with np.errstate(divide="ignore", invalid="ignore"):
                inv = np.float32(1.0) / d
                t1 = (np.float32(-half) - o) * inv
                t2 = (np.float32(half) - o) * inv
            near, far = np.fmin(t1, t2), np.fmax(t1, t2)  # fmin/fmax skip the NaN of a ray on a slab's face
            tmin = near if tmin is None else np.fmax(tmin, near)
            tmax = far if tmax is None else np.fmin(tmax, far)
        return tmin, tmax

    def _to_local(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors (…×3, camera axes) in the box's frame."""
        axes = self.axes.astype(np.float32)
        return vectors[..., :1] * axes[:, 0] + vectors[..., 1:2] * axes[:, 1] + vectors[..., 2:] * axes[:, 2]

    def depth(self, p: np.ndarray, q: np.ndarray, ox: float) -> np.ndarray:
        """Z of the nearest face in front of (ox, 0, 0) along (p, q, 1); inf where the ray misses."""
        p, q = np.broadcast_arrays(p, q)
        directions = np.stack([p, q, np.ones_like(p)], axis=-1).astype(np.float32)
        origin = (np.array([ox, 0.0, 0.0]) - self.centre).astype(np.float32)
        tmin, tmax = self._slab(self._to_local(origin)[None], self._to_local(directions.reshape(-1, 3)))
        z = np.where((tmax >= tmin) & (tmin > 0), tmin, INF).astype(np.float32)
        return z.reshape(p.shape)

    def _local_points(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Points (N×3) in the box's frame, divided by the half extents (faces at ±1)."""
        rel = np.stack([x, y, z], axis=1) - self.centre.astype(np.float32)
        return self._to_local(rel) / np.asarray(self.half, dtype=np.float32)

    def surface_coords(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) in metres on the face each point lies on; each face has its own patch of the texture."""
        local = self._local_points(x, y, z)
        face = np.abs(local).argmax(axis=1)
        metres = local * np.asarray(self.half, dtype=np.float32)
        u = np.where(face == 0, metres[:, 1], metres[:, 0])
        v = np.where(face == 2, metres[:, 1], metres[:, 2])
        return u + np.float32(7.0) * face, v + np.float32(5.0) * np.sign(local[np.arange(len(face)), face])

    def normals(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Unit outward normals (N×3) of the face each point lies on."""
        local = self._local_points(x, y, z)
        face = np.abs(local).argmax(axis=1)
        sign = np.sign(local[np.arange(len(face)), face]).astype(np.float32)
        return self.axes.astype(np.float32)[face] * sign[:, None]

    def corners(self) -> np.ndarray:
        """The eight corners."""
        signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
        return self.centre + (signs * np.asarray(self.half)) @ self.axes

    def blocks(self, points: np.ndarray, towards: np.ndarray) -> np.ndarray:
        """Whether the ray from each point (N×3) towards the unit direction `towards` passes through the box."""
        # Only rays that pass the bounding sphere need the slab test.
        rel = points - self.centre.astype(np.float32)
        b = rel @ np.asarray(towards, dtype=np.float32)
        disc = b * b - ((rel * rel).sum(axis=1) - np.float32(sum(h * h for h in self.half)))
        result = (disc > 0) & (-b + np.sqrt(np.maximum(disc, 0.0)) > _SHADOW_EPS)
        near = np.flatnonzero(result)
        if near.size:
            origins = self._to_local((points[near] - self.centre).astype(np.float32))
            direction = self._to_local(np.asarray(towards, dtype=np.float32))[None]
            tmin, tmax = self._slab(origins, np.broadcast_to(direction, origins.shape))
            result[near] = (tmax >= np.maximum(tmin, 0.0)) & (tmax > _SHADOW_EPS)
        return result


_SHADOW_EPS = np.float32(1e-3)  # metres: a shadow ray starting on a surface does not hit that surface


def plane_blocks(plane: Plane, points: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Whether the ray from each point (N×3) towards `towards` crosses the bounded plane patch."""
    n = plane.normal.astype(np.float32)
    direction = np.asarray(towards, dtype=np.float32)
    denominator = float(n @ direction)
    if abs(denominator) < 1e-6 or plane.shape.kind is None:
        return np.zeros(len(points), dtype=bool)
    rel = plane.origin.astype(np.float32) - points
    t = (rel @ n) / np.float32(denominator)
    hit_points = points + t[:, None] * direction - plane.origin.astype(np.float32)
    u, v = hit_points @ plane.e1.astype(np.float32), hit_points @ plane.e2.astype(np.float32)
    return (t > _SHADOW_EPS) & plane.shape.contains(u, v)


def sphere_blocks(sphere: Sphere, points: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Whether the ray from each point (N×3) towards the unit direction `towards` crosses the sphere."""
    rel = points - sphere.centre.astype(np.float32)
    b = rel @ np.asarray(towards, dtype=np.float32)
    c = (rel * rel).sum(axis=1) - np.float32(sphere.radius**2)
    disc = b * b - c
    far = -b + np.sqrt(np.maximum(disc, 0.0))
    near = -b - np.sqrt(np.maximum(disc, 0.0))
    return (disc > 0) & (far > _SHADOW_EPS) & (near > _SHADOW_EPS)


def blocks(surface: Plane | Sphere | Box, points: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Whether the ray from each point towards the light crosses `surface` (shadow rays; unbounded planes never
    block: they are the ground and walls a scene stands in)."""
    if isinstance(surface, Box):
        return surface.blocks(points, towards)
    if isinstance(surface, Sphere):
        return sphere_blocks(surface, points, towards)
    return plane_blocks(surface, points, towards)


Surface = Plane | Sphere | Box
