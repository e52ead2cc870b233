"""Meshes: an OFF parser that accepts the real ModelNet quirks, and deterministic area-weighted surface sampling.

ModelNet ships OFF files whose header is glued to the counts (``OFF1234 5678 0``), which generic mesh libraries
reject; other mesh formats (.obj .ply .stl .glb) go through trimesh.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from pointdistill.data.base import validate_points
from pointdistill.data.readers.common import require_file
from pointdistill.errors import DataError


def _content_lines(path: Path) -> list[str]:
    require_file(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read OFF file: {error}") from None
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def _numbers(lines: list[str], dtype: type, path: Path, what: str) -> np.ndarray:
    try:
        return np.array(" ".join(lines).split(), dtype=dtype)
    except ValueError as error:
        raise DataError(path, f"non-numeric value in the {what}: {error}") from None


def read_off(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse an OFF mesh into (vertices float64 [V, 3], triangles int64 [F, 3]); polygons are fan-triangulated."""
    lines = _content_lines(path)
    if not lines or not lines[0].upper().startswith("OFF"):
        raise DataError(path, "not an OFF file (first line must start with 'OFF')")
    counts_text = lines[0][3:].strip()
    body = lines[1:]
    if not counts_text:
        if not body:
            raise DataError(path, "truncated OFF file: no vertex/face counts")
        counts_text, body = body[0], body[1:]
    try:
        counts = [int(value) for value in counts_text.split()]
    except ValueError:
        raise DataError(path, f"bad OFF counts line {counts_text!r}") from None
    if len(counts) < 2 or min(counts[:2]) < 0:
        raise DataError(path, f"bad OFF counts line {counts_text!r}")
    num_vertices, num_faces = counts[0], counts[1]
    if len(body) < num_vertices + num_faces:
        raise DataError(
            path, f"truncated OFF file: header promises {num_vertices} vertices and {num_faces} faces, "
            f"found {len(body)} data lines"
        )
    vertices = _vertex_block(body[:num_vertices], path)
    faces = _face_block(body[num_vertices:num_vertices + num_faces], num_vertices, path)
    return vertices, faces


def _vertex_block(lines: list[str], path: Path) -> np.ndarray:
    values = _numbers(lines, np.float64, path, "vertices")
    if values.size == len(lines) * 3:
        return values.reshape(-1, 3)
    # Rare: per-vertex colours or normals after xyz; keep the first three columns.
    rows = [line.split() for line in lines]
    if min(len(row) for row in rows) < 3:
        raise DataError(path, "a vertex line has fewer than 3 coordinates")
    return np.array([row[:3] for row in rows], dtype=np.float64)


def _face_block(lines: list[str], num_vertices: int, path: Path) -> np.ndarray:
    values = _numbers(lines, np.float64, path, "faces")
    if values.size == len(lines) * 4 and np.all(values[::4] == 3):
        triangles = values.reshape(-1, 4)[:, 1:]
    else:
        triangles = _triangulate([line.split() for line in lines], path)
    if triangles.size and (triangles.min() < 0 or triangles.max() >= num_vertices):
        raise DataError(path, f"a face references a vertex outside [0, {num_vertices})")
    return triangles.astype(np.int64)


def _triangulate(rows: list[list[str]], path: Path) -> np.ndarray:
    """Fan-triangulate polygons ``k i1 .. ik [colour]``, grouping faces by size so the work is vectorised."""
    sizes = np.array([int(row[0]) for row in rows], dtype=np.int64)
    if (sizes < 3).any():
        raise DataError(path, "a face has fewer than 3 vertices")
    if any(len(row) < size + 1 for row, size in zip(rows, sizes)):
        raise DataError(path, "a face line lists fewer vertex indices than its size")
    triangles = []
    for size in np.unique(sizes):
        polygons = np.array([row[1:size + 1] for row, s in zip(rows, sizes) if s == size], dtype=np.int64)
        for corner in range(1, size - 1):
            triangles.append(polygons[:, [0, corner, corner + 1]])
    return np.concatenate(triangles) if triangles else np.zeros((0, 3), dtype=np.int64)


def load_mesh(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read any supported mesh or point-cloud file via trimesh: (vertices, triangles or None for point clouds)."""
    if path.suffix.lower() == ".off":
        return read_off(path)
    require_file(path)
    import trimesh

    try:
        loaded = trimesh.load(path, process=False)
    except Exception as error:  # trimesh raises many unrelated types for bad files
        raise DataError(path, f"cannot read mesh: {type(error).__name__}: {error}") from None
    if isinstance(loaded, trimesh.Scene):
        geometries = list(loaded.dump()) if loaded.geometry else []
        meshes = [g for g in geometries if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if meshes:
            loaded = trimesh.util.concatenate(meshes)
        elif geometries:
            loaded = geometries[0]
        else:
            raise DataError(path, "file holds no geometry")
    vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = getattr(loaded, "faces", None)
    if faces is None or len(faces) == 0:
        return vertices, None
    return vertices, np.asarray(faces, dtype=np.int64)


def sample_surface(
    vertices: np.ndarray, triangles: np.ndarray, count: int, rng: np.random.Generator, origin: str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``count`` points uniformly on the surface (faces picked by area); returns (points, face normals)."""
    validate_points(vertices, origin)
    if len(triangles) == 0:
        raise DataError(origin, "mesh has no faces")
    corners = vertices[triangles]
    edge1 = corners[:, 1] - corners[:, 0]
    edge2 = corners[:, 2] - corners[:, 0]
    cross = np.cross(edge1, edge2)
    doubled_area = np.linalg.norm(cross, axis=1)
    cumulative = np.cumsum(doubled_area)
    if not cumulative[-1] > 0:
        raise DataError(origin, "mesh has zero surface area")
    picks = np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right")
    picks = np.minimum(picks, len(triangles) - 1)
    u, v = rng.random((2, count))
    outside = u + v > 1
    u[outside], v[outside] = 1 - u[outside], 1 - v[outside]
    points = corners[picks, 0] + u[:, None] * edge1[picks] + v[:, None] * edge2[picks]
    normals = cross[picks] / np.maximum(doubled_area[picks], 1e-30)[:, None]
    return points.astype(np.float32), normals.astype(np.float32)


def file_rng(key: str, seed: int) -> np.random.Generator:
    """A generator fixed by (file key, seed): a mesh samples the same points every epoch and in every worker."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
