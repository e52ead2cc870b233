"""Synthetic labelled object clouds with part labels (a small procedural ModelNet/ShapeNetPart).

Class ids follow :data:`CLASSES` (alphabetical). Part labels are *global* ids as in ShapeNetPart: class ``c`` owns
ids ``part_offset(c) .. part_offset(c) + len(PART_NAMES[c]) - 1``, so one per-point classifier covers every class.
Clouds are y-up, centred on their centroid and scaled to the unit sphere; no rotation about the up axis is applied
(that belongs to augmentation), but every shape gets its own proportions, part choices, counts, a mild anisotropic
stretch and a tilt of a few degrees, so that no single global statistic identifies the class.
"""

from __future__ import annotations

import numpy as np

from pointdistill.data.synthetic import furniture, objects  # noqa: F401  (the imports register the builders)
from pointdistill.data.synthetic.mesh import Mesh, normalize_unit_sphere, rot_x, rot_z, sample_faces
from pointdistill.data.synthetic.registry import REGISTRY

CLASSES: tuple[str, ...] = tuple(sorted(REGISTRY))
PART_NAMES: dict[str, list[str]] = {name: list(REGISTRY[name].parts) for name in CLASSES}
_OFFSETS = dict(zip(CLASSES, np.cumsum([0] + [len(PART_NAMES[c]) for c in CLASSES[:-1]]).tolist()))
NUM_PARTS: int = sum(len(v) for v in PART_NAMES.values())

STRETCH = 0.15  # per-axis scale jitter, relative
TILT = np.deg2rad(4.0)  # max tilt about the horizontal axes, shapes only


def part_offset(name: str) -> int:
    """The first global part id of class ``name``."""
    if name not in _OFFSETS:
        raise KeyError(f"unknown synthetic class {name!r} (known: {', '.join(CLASSES)})")
    return _OFFSETS[name]


def global_part_names() -> list[str]:
    """Global part id -> ``"class/part"`` (e.g. ``"chair/leg"``)."""
    return [f"{c}/{part}" for c in CLASSES for part in PART_NAMES[c]]


def part_class() -> np.ndarray:
    """Global part id -> class index (int64), to restrict part predictions to the parts of the known class."""
    return np.repeat(np.arange(len(CLASSES)), [len(PART_NAMES[c]) for c in CLASSES]).astype(np.int64)


def build_shape(label: int, rng: np.random.Generator) -> Mesh:
    """The metric mesh of one random instance of class ``label`` (local part ids), stretched by up to 15 % per axis.

    Scans call this with the same random stream as the clean cloud, so scan ``i`` shows the object of shape ``i``.
    """
    mesh = REGISTRY[CLASSES[label]](rng)
    return mesh.scaled(1.0 + STRETCH * (2.0 * rng.random(3) - 1.0))


def sample_shape(label: int, rng: np.random.Generator, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """One clean cloud: (points float32 [n, 3] on the unit sphere, global part id int64 [n])."""
    mesh = build_shape(label, rng)
    ax, az = TILT * (2.0 * rng.random(2) - 1.0)
    mesh = mesh.rotated(rot_x(ax) @ rot_z(az))
    points, face = sample_faces(mesh.vertices, mesh.faces, num_points, rng)
    return normalize_unit_sphere(points).astype(np.float32), mesh.part[face] + _OFFSETS[CLASSES[label]]
