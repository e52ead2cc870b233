"""Tiny triangle meshes for the procedural data: primitives, rigid/affine transforms, assembly, surface sampling.

Every shape in :mod:`pointdistill.data.synthetic` is assembled from a handful of these primitives, each face tagged
with the id of the part it belongs to, and then sampled *once* as a whole. Sampling the assembled mesh by area
(instead of giving each part a fixed number of points) is what makes the density uniform over the surface, as it
is for clouds sampled from real CAD meshes.

Closed primitives are wound so that face normals point outwards (positive signed volume); scans rely on that for
back-face culling and scenes for their normals. Thin walls (cups, lamp shades) are modelled as closed solids with
a thickness, never as single-sided sheets, so that the rule holds everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Mesh:
    """Vertices float64 [V, 3], faces int64 [F, 3] and the part id of every face, int64 [F]."""

    vertices: np.ndarray
    faces: np.ndarray
    part: np.ndarray

    def transformed(self, matrix: np.ndarray | None = None, offset: ArrayLike | None = None) -> Mesh:
        """Apply ``v @ matrix.T + offset``; a mirroring matrix also reverses the winding so normals stay outward."""
        vertices = self.vertices
        faces = self.faces
        if matrix is not None:
            matrix = np.asarray(matrix, dtype=np.float64)
            vertices = vertices @ matrix.T
            if np.linalg.det(matrix) < 0:
                faces = faces[:, ::-1]
        if offset is not None:
            vertices = vertices + np.asarray(offset, dtype=np.float64)
        return Mesh(vertices, faces, self.part)

    def moved(self, offset: ArrayLike) -> Mesh:
        return self.transformed(offset=offset)

    def scaled(self, factors: float | ArrayLike) -> Mesh:
        return self.transformed(np.diag(np.broadcast_to(np.asarray(factors, dtype=np.float64), (3,))))

    def rotated(self, matrix: np.ndarray, about: ArrayLike | None = None) -> Mesh:
        """Rotate about the origin, or about the point ``about``."""
        if about is None:
            return self.transformed(matrix)
        about = np.asarray(about, dtype=np.float64)
        return self.transformed(matrix, about - np.asarray(matrix) @ about)

    def with_part(self, part: int) -> Mesh:
        return Mesh(self.vertices, self.faces, np.full(len(self.faces), part, dtype=np.int64))

    @property
    def bounds(self) -> np.ndarray:
        """[[min x, min y, min z], [max x, max y, max z]]."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])


def concat(meshes: Iterable[Mesh]) -> Mesh:
    """Assemble parts into one mesh, keeping each face's part id."""
    meshes = list(meshes)
    if not meshes:
        raise ValueError("concat needs at least one mesh")
    sizes = np.array([len(m.vertices) for m in meshes])
    shifts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    faces = np.concatenate([m.faces + s for m, s in zip(meshes, shifts)])
    return Mesh(np.concatenate([m.vertices for m in meshes]), faces, np.concatenate([m.part for m in meshes]))


# ----------------------------------------------------------------------------------------------------- rotations


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def axis_angle(axis: ArrayLike, angle: float) -> np.ndarray:
    """Rotation by ``angle`` about ``axis`` (Rodrigues)."""
    k = np.asarray(axis, dtype=np.float64)
    k = k / np.linalg.norm(k)
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * kx + (1.0 - np.cos(angle)) * (kx @ kx)


def align_y(direction: ArrayLike) -> np.ndarray:
    """The rotation taking +y onto ``direction`` (used to lay a cylinder built along y between two points)."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    axis = np.array([d[2], 0.0, -d[0]])  # +y x d
    sin = np.linalg.norm(axis)
    if sin < 1e-9:
        return np.eye(3) if d[1] > 0 else np.diag([1.0, -1.0, -1.0])
    return axis_angle(axis, np.arctan2(sin, d[1]))


# ---------------------------------------------------------------------------------------------------- primitives

_BOX_VERTICES = np.array(
    [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], dtype=np.float64
)
# Vertex index = 4*x + 2*y + z (each 0 or 1); two outward-wound triangles per side.
_BOX_FACES = np.array(
    [
        [0, 1, 3], [0, 3, 2],  # -x
        [4, 6, 7], [4, 7, 5],  # +x
        [0, 4, 5], [0, 5, 1],  # -y
        [2, 3, 7], [2, 7, 6],  # +y
        [0, 2, 6], [0, 6, 4],  # -z
        [1, 5, 7], [1, 7, 3],  # +z
    ],
    dtype=np.int64,
)


def box(size: ArrayLike, center: ArrayLike = (0.0, 0.0, 0.0), part: int = 0) -> Mesh:
    """Axis-aligned cuboid of extents ``size`` centred at ``center``."""
    vertices = _BOX_VERTICES * np.asarray(size, dtype=np.float64) + np.asarray(center, dtype=np.float64)
    return Mesh(vertices, _BOX_FACES, np.full(12, part, dtype=np.int64))


def quad(corner: ArrayLike, edge_u: ArrayLike, edge_v: ArrayLike, part: int = 0) -> Mesh:
    """A single-sided parallelogram; its normal is ``edge_u x edge_v`` (floors and walls of rooms)."""
    c, u, v = (np.asarray(a, dtype=np.float64) for a in (corner, edge_u, edge_v))
    vertices = np.stack([c, c + u, c + u + v, c + v])
    faces = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)
    return Mesh(vertices, faces, np.full(2, part, dtype=np.int64))


@lru_cache(maxsize=256)
def _lathe_faces(n_profile: int, segments: int, closed_loop: bool) -> np.ndarray:
    """Two triangles per (profile edge, angular step); vertex (i, j) has index i * segments + j."""
    edges = n_profile if closed_loop else n_profile - 1
    i = np.repeat(np.arange(edges), segments)
    j = np.tile(np.arange(segments), edges)
    i1 = (i + 1) % n_profile
    j1 = (j + 1) % segments
    a, b, c, d = i * segments + j, i1 * segments + j, i * segments + j1, i1 * segments + j1
    faces = np.empty((2 * len(i), 3), dtype=np.int64)
    faces[0::2] = np.stack([a, b, c], axis=1)
    faces[1::2] = np.stack([b, d, c], axis=1)
    faces.flags.writeable = False
    return faces


@lru_cache(maxsize=64)
def _circle(segments: int) -> tuple[np.ndarray, np.ndarray]:
    angles = np.arange(segments) * (2.0 * np.pi / segments)
    return np.cos(angles), np.sin(angles)


def lathe(
    radius: ArrayLike,
    height: ArrayLike,
    segments: int = 16,
    part: int | ArrayLike = 0,
    closed_loop: bool = False,
) -> Mesh:
    """Surface of revolution about the y axis of the profile ``(radius[i], height[i])``.

    An open profile must start and end on the axis (radius 0) so that the solid is closed; ``closed_loop`` joins the
    last point back to the first instead (a ring-shaped cross-section: lamp shades, tyres). ``part`` is one id or
    one id per profile edge, so that e.g. a bottle's body, neck and cap come out of one lathe. The profile is
    re-oriented automatically so normals point outwards whichever way it was traced. Triangles at the poles have
    zero area and are never sampled.
    """
    r = np.asarray(radius, dtype=np.float64)
    y = np.asarray(height, dtype=np.float64)
    edges = len(r) if closed_loop else len(r) - 1
    edge_part = np.broadcast_to(np.asarray(part, dtype=np.int64), (edges,))
    # Shoelace area of the (r, y) polygon (closed through the axis for open profiles): positive = counterclockwise,
    # which with the triangle order of _lathe_faces gives outward normals.
    area2 = np.sum(r * np.roll(y, -1) - np.roll(r, -1) * y)
    if area2 < 0:
        r, y = r[::-1], y[::-1]
        edge_part = edge_part[::-1] if not closed_loop else np.roll(edge_part[::-1], -1)
    cos, sin = _circle(segments)
    vertices = np.empty((len(r), segments, 3))
    vertices[..., 0] = r[:, None] * cos
    vertices[..., 1] = y[:, None]
    vertices[..., 2] = r[:, None] * sin
    faces = _lathe_faces(len(r), segments, closed_loop)
    return Mesh(vertices.reshape(-1, 3), faces, np.repeat(edge_part, 2 * segments))


def cylinder(
    radius: float, height: float, segments: int = 12, part: int = 0, radius_top: float | None = None
) -> Mesh:
    """Closed cylinder (or frustum/cone with ``radius_top``) standing on y = 0."""
    top = radius if radius_top is None else radius_top
    return lathe([0.0, radius, top, 0.0], [0.0, 0.0, height, height], segments, part)


def tube(
    radius: float, height: float, thickness: float, segments: int = 16, part: int = 0, radius_top: float | None = None
) -> Mesh:
    """Open-ended tube (or conical shell) with a wall ``thickness``, standing on y = 0."""
    top = radius if radius_top is None else radius_top
    return lathe(
        [radius, top, top - thickness, radius - thickness], [0.0, height, height, 0.0], segments, part, closed_loop=True
    )


def ellipsoid(radii: ArrayLike, segments: int = 12, rings: int = 7, part: int = 0) -> Mesh:
    """Low-poly ellipsoid centred at the origin."""
    t = np.linspace(0.0, np.pi, rings + 1)
    return lathe(np.sin(t), -np.cos(t), segments, part).scaled(radii)


def torus(
    major: float,
    minor: float,
    segments: int = 16,
    tube_segments: int = 8,
    arc: float = 2.0 * np.pi,
    start: float = 0.0,
    part: int = 0,
) -> Mesh:
    """Torus around the z axis (in the xy plane); ``arc`` < 2 pi gives an open bend (mug handles, footrests).

    The ends of an open arc are left open: they are meant to be buried in the part they attach to.
    """
    full = arc >= 2.0 * np.pi - 1e-9
    n_ring = segments if full else segments + 1
    theta = start + np.arange(n_ring) * (arc / segments)
    phi = np.arange(tube_segments) * (2.0 * np.pi / tube_segments)
    ring = major + minor * np.cos(phi)
    vertices = np.empty((n_ring, tube_segments, 3))
    vertices[..., 0] = np.cos(theta)[:, None] * ring
    vertices[..., 1] = np.sin(theta)[:, None] * ring
    vertices[..., 2] = minor * np.sin(phi)
    faces = _lathe_faces(n_ring, tube_segments, full)
    return Mesh(vertices.reshape(-1, 3), faces, np.full(len(faces), part, dtype=np.int64))


def prism(polygon_xz: ArrayLike, thickness: float, part: int = 0) -> Mesh:
    """Convex polygon in the xz plane extruded along y (centred on y = 0): wings, fins, table tops, car bodies."""
    poly = np.asarray(polygon_xz, dtype=np.float64)
    k = len(poly)
    # Make the polygon counterclockwise in (z, x) so that the top cap (y = +t/2) faces +y.
    if np.sum(poly[:, 1] * np.roll(poly[:, 0], -1) - np.roll(poly[:, 1], -1) * poly[:, 0]) < 0:
        poly = poly[::-1]
    half = thickness / 2.0
    vertices = np.concatenate([np.column_stack([poly[:, 0], np.full(k, y), poly[:, 1]]) for y in (-half, half)])
    fan = np.arange(1, k - 1)
    top = np.column_stack([np.full(k - 2, k), k + fan, k + fan + 1])
    bottom = np.column_stack([np.zeros(k - 2, dtype=np.int64), fan + 1, fan])
    i = np.arange(k)
    i1 = (i + 1) % k
    sides = np.concatenate([np.column_stack([i, i1, k + i1]), np.column_stack([i, k + i1, k + i])])
    faces = np.concatenate([top, bottom, sides]).astype(np.int64)
    return Mesh(vertices, faces, np.full(len(faces), part, dtype=np.int64))


def rod(start: ArrayLike, end: ArrayLike, radius: float, segments: int = 8, part: int = 0) -> Mesh:
    """A cylinder from point ``start`` to point ``end`` (legs, poles, rungs)."""
    start = np.asarray(start, dtype=np.float64)
    direction = np.asarray(end, dtype=np.float64) - start
    length = float(np.linalg.norm(direction))
    return cylinder(radius, length, segments, part).transformed(align_y(direction), start)


def beam(start: ArrayLike, end: ArrayLike, width: float, depth: float | None = None, part: int = 0) -> Mesh:
    """A square-section bar from ``start`` to ``end`` (square legs, rails, stretchers)."""
    start = np.asarray(start, dtype=np.float64)
    direction = np.asarray(end, dtype=np.float64) - start
    length = float(np.linalg.norm(direction))
    bar = box((width, length, width if depth is None else depth), (0.0, length / 2.0, 0.0), part)
    return bar.transformed(align_y(direction), start)


# ------------------------------------------------------------------------------------------------------ geometry


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals [F, 3] (zero for degenerate faces)."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.maximum(norm, 1e-30)


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


def signed_volume(mesh: Mesh) -> float:
    """Volume enclosed by a closed mesh; positive when its faces are wound outwards."""
    tri = mesh.vertices[mesh.faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def sample_faces(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points uniformly by area: returns (points float64 [n, 3], index of the face of each point [n]).

    One vectorised pass: faces picked by inverse CDF of their areas, positions by uniform barycentric coordinates
    (the square-root trick), so zero-area faces are never chosen.
    """
    tri = vertices[faces]
    edge1 = tri[:, 1] - tri[:, 0]
    edge2 = tri[:, 2] - tri[:, 0]
    cdf = np.cumsum(np.linalg.norm(np.cross(edge1, edge2), axis=1))
    if len(cdf) == 0 or cdf[-1] <= 0:
        raise ValueError("cannot sample a mesh with zero surface area")
    face = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(cdf) - 1)
    u = np.sqrt(rng.random(n))
    v = rng.random(n)
    points = tri[face, 0] + (u * (1.0 - v))[:, None] * edge1[face] + (u * v)[:, None] * edge2[face]
    return points, face


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, face_part: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted surface sample of an assembled mesh: (points float32 [n, 3], part id int64 [n])."""
    points, face = sample_faces(vertices, faces, n, rng)
    return points.astype(np.float32), np.asarray(face_part, dtype=np.int64)[face]


def normalize_unit_sphere(points: np.ndarray) -> np.ndarray:
    """Centre on the centroid and scale so the farthest point lies on the unit sphere (the ModelNet convention)."""
    centred = points - points.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=1).max())
    return centred / max(scale, 1e-12)
