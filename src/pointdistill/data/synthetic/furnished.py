"""Rooms furnished with real object point clouds from a labelled object dataset (e.g. ModelNet40).

The room itself (floor, walls with a door, the planner that keeps footprints apart and backs wall furniture onto
walls) is the procedural one of :mod:`~pointdistill.data.synthetic.scenes`; the furniture is drawn from the object
dataset's furniture-like classes (:data:`FURNITURE`), scaled to a plausible real size, stood on the floor and turned
about the up axis. The object files carry neither colour nor normals: each object gets one colour (its class's
typical colour, jittered) and normals are estimated by PCA over each point's 16 nearest neighbours, oriented away
from the object's centre.

The object files' up axis is a parameter, ``z`` by default: the shared ModelNet40 npz, although documented as
y-up, is z-up by its shapes (measured on its test split: chairs are tallest along z, tables, sofas and beds
flattest along z, and their longest side is y for 96%, 98% and 91% of them). Clouds are turned y-up (the builders'
convention that the room planner expects) before they are scaled.

Splits keep source objects apart: scenes of ``train`` and ``val`` draw from disjoint parts of the object dataset's
``train`` split, scenes of ``test`` from its ``test`` split, so no object is seen in training and in test. Scene
``i`` of a split is a pure function of ``(seed, split, i)`` and the object dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pointdistill.data.base import DatasetSource
from pointdistill.data.transforms import up_axis_matrix
from pointdistill.data.synthetic.mesh import Mesh
from pointdistill.data.synthetic.registry import uniform
from pointdistill.data.synthetic.scenes import (
    CLASS_COLORS,
    Placed,
    Room,
    build_walls,
    footprint,
    place_object,
    sample_room,
)
from pointdistill.errors import DataError
from pointdistill.ops.knn import knn

FURNITURE: dict[str, tuple[str, float, float, str]] = {
    "bathtub": ("length", 1.5, 1.8, "wall"),
    "bed": ("length", 1.9, 2.2, "wall"),
    "bench": ("length", 1.0, 1.6, "aligned"),
    "bookshelf": ("height", 1.5, 2.1, "wall"),
    "chair": ("height", 0.8, 1.05, "free"),
    "desk": ("length", 1.0, 1.6, "wall"),
    "dresser": ("length", 0.8, 1.5, "wall"),
    "flower_pot": ("height", 0.3, 0.7, "free"),
    "lamp": ("height", 1.2, 1.7, "free"),
    "night_stand": ("height", 0.45, 0.65, "wall"),
    "piano": ("length", 1.4, 1.6, "wall"),
    "plant": ("height", 0.5, 1.4, "free"),
    "sink": ("height", 0.8, 0.95, "wall"),
    "sofa": ("length", 1.6, 2.3, "wall"),
    "stool": ("height", 0.45, 0.75, "free"),
    "table": ("length", 1.0, 1.9, "aligned"),
    "toilet": ("height", 0.7, 0.85, "wall"),
    "tv_stand": ("length", 1.0, 1.8, "wall"),
    "wardrobe": ("height", 1.8, 2.2, "wall"),
}
"""Object class -> (the dimension its size range bounds, low, high in metres, placement style): "length" is the
longest horizontal extent. Styles as in :func:`~pointdistill.data.synthetic.scenes.placement_style`."""

STRUCTURE = ("floor", "wall")
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.2
"""Share of the object dataset's train objects kept for the validation scenes."""
_SPLIT_KEY = {"train": 0, "test": 1, "val": 2}
_SCENE_STREAM, _POOL_STREAM = 3, 4
_EXTRA_COLORS = {"bathtub": (0.92, 0.92, 0.9), "dresser": (0.55, 0.4, 0.28), "flower_pot": (0.6, 0.35, 0.25),
                 "night_stand": (0.5, 0.36, 0.24), "piano": (0.08, 0.08, 0.08), "plant": (0.25, 0.5, 0.2),
                 "sink": (0.9, 0.9, 0.92), "toilet": (0.93, 0.93, 0.93), "tv_stand": (0.3, 0.25, 0.22),
                 "wardrobe": (0.62, 0.5, 0.38)}


@dataclass
class ObjectPool:
    """The furniture objects one split of scenes may use: their clouds (y up, unit sphere), classes and names."""

    points: np.ndarray  # float32 [M, P, 3]
    classes: np.ndarray  # int64 [M], index into the scene classes
    names: list[str]  # "<object split>/<object name>"

    def members(self, scene_class: int) -> np.ndarray:
        return np.flatnonzero(self.classes == scene_class)


@dataclass
class FurnishedSet:
    """Scene class names (floor, wall, then the furniture classes used) and the object pool of every scene split."""

    classes: list[str]
    pools: dict[str, ObjectPool]
    root: str  # the object dataset, for error messages


def load_furniture(source: DatasetSource, seed: int, up: str = "z") -> FurnishedSet:
    """The furniture of a labelled object dataset with ``train`` and ``test`` splits, split into scene pools;
    ``up`` is the objects' up axis."""
    to_y_up = up_axis_matrix(up, "y").astype(np.float32)
    if not source.labelled:
        raise DataError(source.root, "furnished scenes need a labelled object dataset (class names and labels)")
    for split in ("train", "test"):
        source.split(split)
    present = [name for name in FURNITURE if name in source.classes]
    if not present:
        raise DataError(source.root, f"no furniture-like class in this dataset (looked for: {', '.join(FURNITURE)})")
    classes = list(STRUCTURE) + present
    pools: dict[str, ObjectPool] = {}
    for split in ("train", "test"):
        data = source.split(split)
        keep = [sample for sample in (data[i] for i in range(len(data)))
                if source.classes[int(sample["label"])] in present]
        if not keep:
            raise DataError(source.root, f"split {split!r} holds no object of the classes {present}")
        sizes = {len(s["points"]) for s in keep}
        if len(sizes) > 1:
            raise DataError(source.root, f"objects of split {split!r} differ in point count {sorted(sizes)}; "
                                         "pack them to one count first (pointdistill data pack --num-points)")
        pool = ObjectPool(
            np.stack([np.asarray(s["points"], dtype=np.float32) for s in keep]) @ to_y_up.T,
            np.array([classes.index(source.classes[int(s["label"])]) for s in keep], dtype=np.int64),
            [f"{split}/{s['name']}" for s in keep],
        )
        if split == "test":
            pools["test"] = pool
            continue
        order = np.random.default_rng(np.random.SeedSequence([seed], spawn_key=(_POOL_STREAM,))).permutation(
            len(pool.names))
        cut = int(round(len(order) * VAL_FRACTION))
        for name, part in (("val", np.sort(order[:cut])), ("train", np.sort(order[cut:]))):
            pools[name] = ObjectPool(pool.points[part], pool.classes[part], [pool.names[i] for i in part])
    return FurnishedSet(classes, pools, str(source.root))


def stand_object(points: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """A y-up unit-sphere cloud at real size for its class, standing on y = 0, centred over the origin."""
    dimension, low, high = FURNITURE[name][:3]
    extent = points.max(axis=0) - points.min(axis=0)
    current = extent[1] if dimension == "height" else max(extent[0], extent[2])
    scaled = points.astype(np.float64) * (uniform(rng, low, high) / max(float(current), 1e-6))
    centre = (scaled.max(axis=0) + scaled.min(axis=0)) / 2.0
    centre[1] = scaled[:, 1].min()
    return scaled - centre


def estimate_normals(clouds: np.ndarray, k: int = 16) -> np.ndarray:
    """Unit normals [B, P, 3] of clouds [B, P, 3]: the least-variance direction of each point's k nearest
    neighbours, flipped to point away from the cloud's centroid (a cheap outward guess for closed objects)."""
    points = torch.from_numpy(np.ascontiguousarray(clouds, dtype=np.float32))
    _, index = knn(points, points, min(k, points.shape[1]))
    neighbours = torch.gather(points.unsqueeze(1).expand(-1, points.shape[1], -1, -1), 2,
                              index.unsqueeze(-1).expand(-1, -1, -1, 3))
    centred = neighbours - neighbours.mean(dim=2, keepdim=True)
    covariance = centred.transpose(-1, -2) @ centred
    normals = torch.linalg.eigh(covariance.double())[1][..., 0].float()
    outward = points - points.mean(dim=1, keepdim=True)
    sign = torch.where((normals * outward).sum(-1, keepdim=True) < 0, -1.0, 1.0)
    return (normals * sign).numpy()


def _object_color(name: str, rng: np.random.Generator) -> np.ndarray:
    base = np.asarray(CLASS_COLORS.get(name, _EXTRA_COLORS.get(name, (0.5, 0.5, 0.5))))
    return np.clip(base * rng.uniform(0.75, 1.2, 3), 0.0, 1.0)


def furnished_scene(furniture: FurnishedSet, split: str, seed: int, index: int) -> tuple[dict[str, Any], list[dict]]:
    """Scene ``index`` of ``split``: the sample dict (points, color, normals, segment, instance, name) and, per
    object, its instance id, class and source object."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_KEY[split], index], spawn_key=(_SCENE_STREAM,)))
    pool = furniture.pools[split]
    if not pool.names:
        raise DataError(furniture.root, f"no furniture object left for the {split!r} scenes (too few objects)")
    available = np.unique(pool.classes)
    room = Room(uniform(rng, 3.5, 8.0), uniform(rng, 3.0, 7.0), uniform(rng, 2.5, 3.0))
    taken = [build_walls(rng, room)]
    target = int(np.clip(round(room.width * room.depth / uniform(rng, 2.5, 5.0)), 3, 12))
    sources: list[int] = []
    for _ in range(target):
        scene_class = int(rng.choice(available))
        row = int(rng.choice(pool.members(scene_class)))
        name = furniture.classes[scene_class]
        local = stand_object(pool.points[row], name, rng)
        cloud = Mesh(local, np.empty((0, 3), dtype=np.int64), np.empty(0, dtype=np.int64))
        pose = place_object(rng, cloud, name, room, taken, FURNITURE[name][3])
        if pose is None:
            continue
        world = cloud.transformed(*pose)
        taken.append(footprint(world))
        room.objects.append(Placed(name, len(room.objects), world, footprint(world)))
        sources.append(row)
    structure = sample_room(Room(room.width, room.depth, room.height, room.structure), rng)
    clouds = np.stack([placed.mesh.vertices for placed in room.objects]) if room.objects else np.zeros((0, 1, 3))
    count = clouds.shape[1]
    segment = np.repeat([furniture.classes.index(o.name) for o in room.objects], count).astype(np.int64)
    colors = np.repeat(np.stack([_object_color(o.name, rng) for o in room.objects]).reshape(-1, 3), count, axis=0)
    colors = np.clip(colors + rng.normal(0.0, 0.03, colors.shape), 0.0, 1.0)
    normals = estimate_normals(clouds) if room.objects else clouds
    sample = {
        "points": np.concatenate([structure["points"], clouds.reshape(-1, 3).astype(np.float32)]),
        "color": np.concatenate([structure["color"], colors.astype(np.float32)]),
        "normals": np.concatenate([structure["normals"], normals.reshape(-1, 3).astype(np.float32)]),
        "segment": np.concatenate([structure["segment"], segment]),
        "instance": np.concatenate([structure["instance"], np.repeat(np.arange(len(clouds)), count)]),
        "name": f"scene_{split}_{index:06d}",
    }
    objects = [{"instance": o.instance, "class": o.name, "source": pool.names[row]}
               for o, row in zip(room.objects, sources)]
    return sample, objects


def scene_split_sizes(count: int) -> dict[str, int]:
    """Scenes per split: 20% test and 10% val (at least one each once there are enough scenes), the rest train."""
    test = max(1, int(round(0.2 * count))) if count >= 2 else 0
    val = max(1, int(round(0.1 * count))) if count >= 3 else 0
    return {"train": count - test - val, "val": val, "test": test}
