"""ScanObjectNN-like partial scans of the synthetic shapes.

A scan is what a depth sensor sees of the object from one viewpoint, plus whatever else falls in the box cropped
around it: the object stands on a floor patch, often in front of a wall fragment, sometimes beside another object
or a small box. Only surfaces that face the sensor and are not hidden behind something nearer survive (back-face
test plus a coarse z-buffer, both vectorised), then sensor noise is added.

Fields follow ScanObjectNN: ``mask`` is -1 for background points and the object's *class index* for its own points
(so ``mask >= 0`` selects the object, whatever its class). Each scan is centred on the centroid of all its points
and scaled to the unit sphere, background included, as the h5 files are. y is up.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pointdistill.data.synthetic.mesh import (
    Mesh,
    axis_angle,
    box,
    concat,
    face_areas,
    face_normals,
    normalize_unit_sphere,
    quad,
    sample_faces,
)
from pointdistill.data.synthetic.registry import chance, uniform
from pointdistill.data.synthetic.shapes import CLASSES, REGISTRY  # via shapes, so that every builder is registered

BACKGROUND = -1


class Scan(NamedTuple):
    """points float32 [n, 3]; mask int64 [n] (-1 background, else class index); face int64 [n]: the object face
    each point was sampled from, -1 for background (lets tests measure how much of the object is seen)."""

    points: np.ndarray
    mask: np.ndarray
    face: np.ndarray


def visible(
    points: np.ndarray, normals: np.ndarray, camera: np.ndarray, target: np.ndarray, cell: float, tolerance: float
) -> np.ndarray:
    """Which sampled points a pinhole sensor at ``camera`` looking at ``target`` sees: bool [n].

    A point is kept when its surface faces the camera and its depth is within ``tolerance`` of the nearest
    front-facing point in its cell of an image-plane grid of angular size ``cell`` (a point-based z-buffer).
    """
    forward = target - camera
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 1.0, 0.0))
    right = right / np.linalg.norm(right)
    up = np.cross(right, forward)
    rel = points - camera
    depth = rel @ forward
    safe = np.maximum(depth, 1e-9)
    u, v = (rel @ right) / safe, (rel @ up) / safe
    # In front of the sensor and inside a +-70 degree field of view; the rest is out of sight.
    seen = (depth > 1e-6) & (np.abs(u) < 2.75) & (np.abs(v) < 2.75)
    facing = -np.einsum("ij,ij->i", normals, rel) / np.maximum(np.linalg.norm(rel, axis=1), 1e-12)
    front = seen & (facing > 0.0)
    iu = np.floor(np.where(seen, u, 0.0) / cell).astype(np.int64)
    iv = np.floor(np.where(seen, v, 0.0) / cell).astype(np.int64)
    iu -= iu.min()
    iv -= iv.min()
    key = iu * (iv.max() + 1) + iv
    nearest = np.full(int(key.max()) + 1, np.inf)
    np.minimum.at(nearest, key[front], depth[front])
    # A surface seen at a grazing angle spans a range of depths inside one cell: widen the tolerance by that slope
    # (capped), or only the nearest sliver of each cell would survive and the scan would come out striped.
    slope = np.sqrt(np.maximum(1.0 - facing**2, 0.0)) / np.maximum(facing, 0.25)
    return front & (depth <= nearest[key] + tolerance + cell * depth * slope)


def _background(
    rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, radius: float, away: np.ndarray
) -> list[Mesh]:
    """Floor patch, maybe a wall behind the object (``away`` = horizontal direction from the camera), maybe a
    neighbouring object and a small box, all with part id -1."""
    margin = 0.4 * radius
    x0, z0, x1, z1 = lo[0] - margin, lo[2] - margin, hi[0] + margin, hi[2] + margin
    meshes = [quad((x0, 0.0, z0), (0.0, 0.0, z1 - z0), (x1 - x0, 0.0, 0.0), BACKGROUND)]
    half = 0.5 * float(np.hypot(hi[0] - lo[0], hi[2] - lo[2]))
    if chance(rng, 0.6):
        normal = -(axis_angle((0.0, 1.0, 0.0), uniform(rng, -0.5, 0.5)) @ away)
        centre = -normal * (half + uniform(rng, 0.02, 0.4) * radius)
        along = np.array([normal[2], 0.0, -normal[0]]) * (half + margin) * 2.0  # along x up = normal
        meshes.append(quad(centre - along / 2.0, along, (0.0, hi[1] + margin, 0.0), BACKGROUND))
    side = np.array([away[2], 0.0, -away[0]]) * (1.0 if chance(rng, 0.5) else -1.0)
    if chance(rng, 0.5):
        other = REGISTRY[CLASSES[int(rng.integers(len(CLASSES)))]](rng)
        olo, ohi = other.bounds
        scale = uniform(rng, 0.4, 1.1) * (hi[1] - lo[1]) / max(ohi[1] - olo[1], 1e-6)
        other = other.moved(-(olo + ohi) / 2.0 * np.array([1.0, 0.0, 1.0]) - np.array([0.0, olo[1], 0.0])).scaled(scale)
        ohalf = 0.5 * scale * float(np.hypot(ohi[0] - olo[0], ohi[2] - olo[2]))
        offset = side * (half + ohalf + uniform(rng, -0.1, 0.2) * radius) + away * uniform(rng, -0.3, 0.3) * radius
        meshes.append(other.moved(offset).with_part(BACKGROUND))
    if chance(rng, 0.3):
        s = uniform(rng, 0.1, 0.3) * radius
        offset = -side * (half + s) + away * uniform(rng, -0.3, 0.3) * radius
        meshes.append(box((s, s * uniform(rng, 0.5, 1.5), s), (offset[0], s / 2.0, offset[2]), BACKGROUND))
    return meshes


def scan_mesh(
    mesh: Mesh,
    label: int,
    rng: np.random.Generator,
    num_points: int = 2048,
    noise: float = 0.005,
    clutter: bool = True,
    max_rotation_deg: float = 0.0,
    grid: int = 40,
) -> Scan:
    """Scan ``mesh`` (metric, y up, part ids >= 0) from a random viewpoint; see the module docstring.

    ``noise`` is the sensor noise std relative to the object's radius; ``max_rotation_deg`` > 0 tilts the whole
    scan by a random rotation up to that angle (the PB_T50_RS-style perturbation); ``grid`` is the z-buffer
    resolution across the object.
    """
    lo, hi = mesh.bounds
    mesh = mesh.moved((-(lo[0] + hi[0]) / 2.0, -lo[1], -(lo[2] + hi[2]) / 2.0))
    lo, hi = mesh.bounds
    radius = 0.5 * float(np.linalg.norm(hi - lo))
    target = np.array([0.0, hi[1] / 2.0, 0.0])
    azimuth, elevation = uniform(rng, 0.0, 2.0 * np.pi), uniform(rng, np.deg2rad(15.0), np.deg2rad(55.0))
    direction = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)])
    distance = radius * uniform(rng, 2.0, 3.5)
    camera = target + distance * direction
    # Hand-held sensors look down on furniture: keep the camera above the object's top.
    camera[1] = max(camera[1], hi[1] * uniform(rng, 1.1, 1.4))
    distance = float(np.linalg.norm(camera - target))
    away = -np.array([direction[0], 0.0, direction[2]]) / np.hypot(direction[0], direction[2])
    scene = concat([mesh] + (_background(rng, lo, hi, radius, away) if clutter else []))

    object_faces = len(mesh.faces)
    areas = face_areas(scene.vertices, scene.faces)
    object_area = areas[:object_faces].sum()
    total = int(min(4 * num_points * areas.sum() / object_area, 8 * num_points))
    points, face = sample_faces(scene.vertices, scene.faces, total, rng)
    normals = face_normals(scene.vertices, scene.faces)[face]
    cell = 2.0 * radius / distance / grid
    keep = visible(points, normals, camera, target, cell, 0.03 * radius)
    margin = uniform(rng, 0.05, 0.25) * radius
    keep &= np.all((points >= lo - margin) & (points <= hi + margin), axis=1)
    index = np.flatnonzero(keep)
    if len(index) == 0:  # a degenerate view (nothing in the crop faces the sensor): fall back to the full sample
        index = np.arange(total)
    chosen = rng.choice(index, num_points, replace=len(index) < num_points)
    points, face = points[chosen], face[chosen]
    points = points + rng.normal(0.0, noise * radius, points.shape)
    if max_rotation_deg > 0:
        axis = rng.normal(size=3)
        points = points @ axis_angle(axis, np.deg2rad(uniform(rng, -max_rotation_deg, max_rotation_deg))).T
    is_object = face < object_faces
    mask = np.where(is_object, label, BACKGROUND).astype(np.int64)
    return Scan(normalize_unit_sphere(points).astype(np.float32), mask, np.where(is_object, face, -1).astype(np.int64))
