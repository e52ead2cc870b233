"""The table of procedural object classes: name -> (part names, builder).

Builders register themselves with :func:`register`; they receive a namespace whose attributes are the class's
part ids (``p.seat``, ``p.leg``), so a part id can never drift out of step with the part-name table.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from pointdistill.data.synthetic.mesh import Mesh

Builder = Callable[..., Mesh]


@dataclass(frozen=True)
class ShapeClass:
    """One object class: its part names (local part id = position) and ``build(rng, parts, **options) -> Mesh``.

    Builders work in metres, y up, the object standing on y = 0 and facing +z, so scenes can place them as they are.
    """

    name: str
    parts: tuple[str, ...]
    build: Builder

    def __call__(self, rng: np.random.Generator, **options: Any) -> Mesh:
        return self.build(rng, SimpleNamespace(**{n: i for i, n in enumerate(self.parts)}), **options)


REGISTRY: dict[str, ShapeClass] = {}


def register(name: str, parts: tuple[str, ...]) -> Callable[[Builder], Builder]:
    """Decorator adding a builder to :data:`REGISTRY` under ``name`` with its part names."""

    def wrap(build: Builder) -> Builder:
        REGISTRY[name] = ShapeClass(name, parts, build)
        return build

    return wrap


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A Python float in [low, high) (builders draw dozens of these; floats keep the arithmetic cheap)."""
    return low + (high - low) * float(rng.random())


def chance(rng: np.random.Generator, p: float) -> bool:
    return float(rng.random()) < p
