"""Synthetic indoor rooms in the ScanNet conventions: metres, z up, per-point colour, normal, semantic and instance.

A room is a floor, four walls (one with a door opening kept clear of furniture) and furniture built by the object
builders of :mod:`~pointdistill.data.synthetic.shapes` at their real size: beds, sofas, bookshelves, cabinets and
desks stand against a wall facing the room, tables may get chairs around them, and tables, desks and low cabinets
carry small objects (monitors, lamps, mugs, cups, vases, bottles). Footprints are checked so that nothing standing
on the floor overlaps. The whole room is then sampled once by area, so the density is uniform over all surfaces.

``segment`` indexes :data:`SCENE_CLASSES` (floor 0, wall 1, then the object classes); ``instance`` numbers the
objects from 0 and is -1 on floor and walls. The floor spans [0, width] x [0, depth] at z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pointdistill.data.synthetic.mesh import (
    Mesh,
    concat,
    face_areas,
    face_normals,
    quad,
    rot_x,
    rot_y,
    rot_z,
    sample_faces,
)
from pointdistill.data.synthetic.registry import chance, uniform
from pointdistill.data.synthetic.shapes import REGISTRY  # via shapes, so that every builder is registered

FLOOR_OBJECTS = ("bed", "bench", "bookshelf", "cabinet", "chair", "desk", "lamp", "sofa", "stool", "table")
TABLETOP_OBJECTS = ("monitor", "lamp", "mug", "cup", "vase", "bottle")
SCENE_CLASSES: tuple[str, ...] = (
    ("floor", "wall") + FLOOR_OBJECTS + tuple(c for c in TABLETOP_OBJECTS if c not in FLOOR_OBJECTS)
)
_SEGMENT = {name: i for i, name in enumerate(SCENE_CLASSES)}

_AGAINST_WALL = {"bed", "bookshelf", "cabinet", "desk", "sofa"}
_FLOOR_WEIGHTS = {
    "bed": 1.0, "bench": 0.6, "bookshelf": 1.2, "cabinet": 1.2, "chair": 1.5,
    "desk": 1.2, "lamp": 0.6, "sofa": 1.0, "stool": 0.6, "table": 1.4,
}
_TOP_PART = {"table": "top", "desk": "top", "cabinet": "body"}  # the part whose upper face carries small objects
_DOOR_WIDTH, _DOOR_HEIGHT = 0.9, 2.05
_Y_UP_TO_Z_UP = rot_x(np.pi / 2.0)  # (x, y, z) -> (x, -z, y): builders face +z, so furniture faces -y before its yaw

# Typical colours (RGB in [0, 1]) per class; instances jitter them and parts may take a material colour instead.
CLASS_COLORS: dict[str, tuple[float, float, float]] = {
    "floor": (0.55, 0.42, 0.3), "wall": (0.86, 0.84, 0.8), "bed": (0.75, 0.72, 0.68), "bench": (0.5, 0.35, 0.22),
    "bookshelf": (0.55, 0.4, 0.26), "cabinet": (0.7, 0.62, 0.5), "chair": (0.35, 0.3, 0.28), "desk": (0.6, 0.48, 0.34),
    "lamp": (0.9, 0.85, 0.7), "sofa": (0.35, 0.4, 0.5), "stool": (0.45, 0.32, 0.2), "table": (0.58, 0.44, 0.3),
    "monitor": (0.1, 0.1, 0.12), "mug": (0.85, 0.85, 0.82), "cup": (0.8, 0.85, 0.88), "vase": (0.3, 0.45, 0.6),
    "bottle": (0.25, 0.5, 0.3),
}
_MATERIALS = np.array([[0.15, 0.15, 0.16], [0.6, 0.6, 0.62], [0.9, 0.9, 0.88], [0.45, 0.3, 0.18], [0.7, 0.55, 0.38]])
_FLOORS = np.array([[0.55, 0.42, 0.3], [0.7, 0.68, 0.64], [0.4, 0.4, 0.42], [0.62, 0.5, 0.38]])


@dataclass
class Placed:
    """One object in a room: its world mesh (z up), class, instance id, floor footprint and host (tabletop items)."""

    name: str
    instance: int
    mesh: Mesh
    footprint: tuple[float, float, float, float]  # x0, y0, x1, y1
    host: int | None = None


@dataclass
class Room:
    width: float
    depth: float
    height: float
    structure: list[tuple[str, Mesh]] = field(default_factory=list)  # floor and wall pieces
    objects: list[Placed] = field(default_factory=list)


def footprint(mesh: Mesh) -> tuple[float, float, float, float]:
    lo, hi = mesh.bounds
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _overlaps(a: tuple[float, ...], b: tuple[float, ...], gap: float) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def turn(yaw: float) -> np.ndarray:
    """Turns a y-up builder mesh z-up and about z so that its front (+z) faces (sin yaw, -cos yaw)."""
    return rot_z(yaw) @ _Y_UP_TO_Z_UP


def build_walls(rng: np.random.Generator, room: Room) -> tuple[float, float, float, float]:
    """Floor and inward-facing walls; one wall gets a door. Returns the footprint to keep clear in front of it."""
    w, d, h = room.width, room.depth, room.height
    room.structure.append(("floor", quad((0.0, 0.0, 0.0), (w, 0.0, 0.0), (0.0, d, 0.0))))
    # Each wall: a start corner and its run along the floor, counterclockwise seen from above, so that
    # quad(start, up, run) has its normal pointing into the room.
    walls = [((0.0, 0.0), (w, 0.0)), ((w, 0.0), (0.0, d)), ((w, d), (-w, 0.0)), ((0.0, d), (0.0, -d))]
    door_wall = int(rng.integers(4))
    clear = (0.0, 0.0, 0.0, 0.0)
    for k, (start, run) in enumerate(walls):
        start3, run3 = np.array([start[0], start[1], 0.0]), np.array([run[0], run[1], 0.0])
        length = float(np.hypot(*run))
        unit = run3 / length
        up = np.array([0.0, 0.0, h])
        if k != door_wall or length < _DOOR_WIDTH + 0.6:
            room.structure.append(("wall", quad(start3, up, run3)))
            continue
        a = uniform(rng, 0.2, length - _DOOR_WIDTH - 0.2)
        b = a + _DOOR_WIDTH
        room.structure.append(("wall", quad(start3, up, unit * a)))
        room.structure.append(("wall", quad(start3 + unit * b, up, unit * (length - b))))
        lintel = np.array([0.0, 0.0, _DOOR_HEIGHT])
        room.structure.append(("wall", quad(start3 + unit * a + lintel, up - lintel, unit * _DOOR_WIDTH)))
        inward = np.array([-unit[1], unit[0], 0.0])
        door = [start3 + unit * a, start3 + unit * b]
        corners = np.array(door + [c + inward for c in door])
        clear = (corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max())
    return clear


def _fits(fp: tuple[float, float, float, float], room: Room, taken: list[tuple[float, float, float, float]]) -> bool:
    inside = fp[0] >= 0.02 and fp[1] >= 0.02 and fp[2] <= room.width - 0.02 and fp[3] <= room.depth - 0.02
    return inside and not any(_overlaps(fp, other, 0.05) for other in taken)


def placement_style(name: str) -> str:
    """How a class stands in a room: ``"wall"`` (backed against a wall), ``"free"`` (any heading) or ``"aligned"``
    (roughly parallel to the walls)."""
    if name in _AGAINST_WALL:
        return "wall"
    return "free" if name in ("chair", "stool", "lamp") else "aligned"


def place_object(
    rng: np.random.Generator, mesh: Mesh, name: str, room: Room, taken: list, style: str | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Try random poses (against a wall for wall furniture) until the footprint is free.

    ``style`` overrides :func:`placement_style` of ``name``; ``mesh`` may be a bare point set (no faces): only
    its vertices are moved. Returns the pose (matrix, offset) taking the y-up builder mesh into the room, or None
    if nothing fits."""
    style = style or placement_style(name)
    for _ in range(25):
        if style == "wall":
            side = int(rng.integers(4))
            normal = [(0.0, 1.0), (-1.0, 0.0), (0.0, -1.0), (1.0, 0.0)][side]
            yaw = float(np.arctan2(normal[0], -normal[1]))
        elif style == "free":
            yaw = uniform(rng, 0.0, 2.0 * np.pi)
        else:  # tables, benches: roughly aligned with the walls
            yaw = int(rng.integers(4)) * np.pi / 2 + uniform(rng, -0.1, 0.1)
        turned = mesh.transformed(turn(yaw))
        x0, y0, x1, y1 = footprint(turned)
        if x1 - x0 > room.width - 0.1 or y1 - y0 > room.depth - 0.1:
            return None
        x, y = uniform(rng, 0.05 - x0, room.width - 0.05 - x1), uniform(rng, 0.05 - y0, room.depth - 0.05 - y1)
        if style == "wall":
            gap = uniform(rng, 0.0, 0.08)
            x = [x, room.width - gap - x1, x, gap - x0][side]
            y = [gap - y0, y, room.depth - gap - y1, y][side]
        if _fits(footprint(turned.moved((x, y, 0.0))), room, taken):
            return turn(yaw), np.array([x, y, 0.0])
    return None


def _chairs_around(rng: np.random.Generator, table: Mesh, room: Room, taken: list, chairs: list[Mesh]) -> list[Mesh]:
    """Up to four chairs pulled up to the sides of ``table``, each facing its centre."""
    x0, y0, x1, y1 = footprint(table)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    placed = []
    for chair, (dx, dy) in zip(chairs, [(1, 0), (-1, 0), (0, 1), (0, -1)]):
        yaw = float(np.arctan2(-dx, dy))  # front (sin yaw, -cos yaw) points back at the table
        turned = chair.transformed(turn(yaw))
        fx0, fy0, fx1, fy1 = footprint(turned)
        gap = uniform(rng, 0.06, 0.2)
        x = cx + dx * ((x1 - x0) / 2.0 + gap + (fx1 - fx0) / 2.0) - (fx0 + fx1) / 2.0
        y = cy + dy * ((y1 - y0) / 2.0 + gap + (fy1 - fy0) / 2.0) - (fy0 + fy1) / 2.0
        moved = turned.moved((x, y, 0.0))
        if _fits(footprint(moved), room, taken):
            taken.append(footprint(moved))
            placed.append(moved)
    return placed


def _tabletop(rng: np.random.Generator, host_name: str, host: Mesh) -> list[tuple[str, Mesh]]:
    """Small objects standing on the top of a y-up ``host`` mesh, in the host's own frame (non-overlapping)."""
    top_part = REGISTRY[host_name].parts.index(_TOP_PART[host_name])
    top = host.vertices[np.unique(host.faces[host.part == top_part])]
    lo, hi = top.min(axis=0), top.max(axis=0)
    half = (hi - lo) * 0.35
    centre = (hi + lo) / 2.0
    items: list[tuple[str, Mesh]] = []
    boxes: list[tuple[float, float, float, float]] = []
    for _ in range(int(rng.integers(1, 4))):
        if host_name == "desk" and not items and chance(rng, 0.6):
            name = "monitor"
        else:
            name = str(rng.choice(["lamp", "mug", "cup", "vase", "bottle"]))
        mesh = REGISTRY[name](rng, variant="table") if name == "lamp" else REGISTRY[name](rng)
        if name != "monitor":
            mesh = mesh.rotated(rot_y(uniform(rng, 0.0, 2.0 * np.pi)))
        mlo, mhi = mesh.bounds
        x = centre[0] + uniform(rng, -half[0], half[0]) - (mlo[0] + mhi[0]) / 2.0
        z = centre[2] + uniform(rng, -half[2], half[2]) - (mlo[2] + mhi[2]) / 2.0
        if name == "monitor":
            z = lo[2] + 0.05 - mlo[2]
        fp = (x + mlo[0], z + mlo[2], x + mhi[0], z + mhi[2])
        outside = fp[0] < lo[0] or fp[2] > hi[0] or fp[1] < lo[2] or fp[3] > hi[2]
        if outside or any(_overlaps(fp, b, 0.02) for b in boxes):
            continue
        boxes.append(fp)
        items.append((name, mesh.moved((x, hi[1] - mlo[1], z))))
    return items


def plan_room(rng: np.random.Generator) -> Room:
    """Lay out one random room (geometry only)."""
    room = Room(uniform(rng, 3.5, 8.0), uniform(rng, 3.0, 7.0), uniform(rng, 2.5, 3.0))
    taken = [build_walls(rng, room)]
    names = list(_FLOOR_WEIGHTS)
    weights = np.array([_FLOOR_WEIGHTS[n] for n in names])
    target = int(np.clip(round(room.width * room.depth / uniform(rng, 2.5, 5.0)), 3, 12))
    for _ in range(target):
        name = str(rng.choice(names, p=weights / weights.sum()))
        local = REGISTRY[name](rng, variant="floor") if name == "lamp" else REGISTRY[name](rng)
        pose = place_object(rng, local, name, room, taken)
        if pose is None:
            continue
        placed = local.transformed(*pose)
        taken.append(footprint(placed))
        host = len(room.objects)
        room.objects.append(Placed(name, host, placed, footprint(placed)))
        if name == "table" and chance(rng, 0.6):
            chairs = [REGISTRY["chair"](rng) for _ in range(int(rng.integers(2, 5)))]
            for chair in _chairs_around(rng, placed, room, taken, chairs):
                room.objects.append(Placed("chair", len(room.objects), chair, footprint(chair)))
        if name in _TOP_PART and (name != "cabinet" or local.bounds[1, 1] < 1.3) and chance(rng, 0.7):
            for item_name, item in _tabletop(rng, name, local):
                world = item.transformed(*pose)
                room.objects.append(Placed(item_name, len(room.objects), world, footprint(world), host))
    return room


def sample_room(
    room: Room,
    rng: np.random.Generator,
    num_points: int | None = None,
    points_per_m2: float = 400.0,
    point_range: tuple[int, int] = (20_000, 60_000),
    noise: float = 0.003,
) -> dict[str, Any]:
    """Sample a room: ``num_points`` exactly, or by density (``points_per_m2``, clipped to ``point_range``)."""
    pieces: list[Mesh] = []
    segment: list[np.ndarray] = []
    instance: list[np.ndarray] = []
    colors: list[np.ndarray] = []
    floor_color = _FLOORS[int(rng.integers(len(_FLOORS)))] * uniform(rng, 0.85, 1.1)
    wall_color = np.asarray(CLASS_COLORS["wall"]) * uniform(rng, 0.9, 1.1) + rng.normal(0.0, 0.03, 3)
    for name, mesh in room.structure:
        pieces.append(mesh)
        segment.append(np.full(len(mesh.faces), _SEGMENT[name]))
        instance.append(np.full(len(mesh.faces), -1))
        colors.append(np.tile(floor_color if name == "floor" else wall_color, (len(mesh.faces), 1)))
    for obj in room.objects:
        pieces.append(obj.mesh)
        segment.append(np.full(len(obj.mesh.faces), _SEGMENT[obj.name]))
        instance.append(np.full(len(obj.mesh.faces), obj.instance))
        base = np.asarray(CLASS_COLORS[obj.name]) * rng.uniform(0.75, 1.2, 3)
        n_parts = int(obj.mesh.part.max()) + 1
        materials = _MATERIALS[rng.integers(len(_MATERIALS), size=n_parts)]
        palette = np.where(rng.random((n_parts, 1)) < 0.6, base, materials)
        colors.append(palette[obj.mesh.part])
    mesh = concat(pieces)
    if num_points is None:
        area = float(face_areas(mesh.vertices, mesh.faces).sum())
        num_points = int(np.clip(round(points_per_m2 * area), *point_range))
    points, face = sample_faces(mesh.vertices, mesh.faces, num_points, rng)
    points += rng.normal(0.0, noise, points.shape)
    color = np.concatenate(colors)[face] + rng.normal(0.0, 0.03, (num_points, 3))
    return {
        "points": points.astype(np.float32),
        "color": np.clip(color, 0.0, 1.0).astype(np.float32),
        "normals": face_normals(mesh.vertices, mesh.faces)[face].astype(np.float32),
        "segment": np.concatenate(segment).astype(np.int64)[face],
        "instance": np.concatenate(instance).astype(np.int64)[face],
    }


def generate_scene(rng: np.random.Generator, num_points: int | None = None) -> dict[str, Any]:
    """One random room as a sample dict (without ``name``)."""
    return sample_room(plan_room(rng), rng, num_points)
