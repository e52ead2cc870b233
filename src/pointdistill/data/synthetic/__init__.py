"""Embedded procedural data: the default dataset wherever no data is given, and what the demo pretrains on.

Three kinds, all NumPy-only and deterministic per ``(seed, split, index)``:

- ``shapes``: clean object clouds of 18 classes built from parts, with global part labels (ShapeNetPart-like);
- ``scans``: ScanObjectNN-like partial views of the same objects with background clutter and a foreground mask;
- ``scenes``: ScanNet-like rooms (metres, z up) with colour, normals, semantic and instance labels.

:func:`synthetic_source` serves them lazily as a :class:`~pointdistill.data.base.DatasetSource`;
:func:`write_synthetic` writes them in the npz / Pointcept layouts the readers open;
:func:`write_furnished_scenes` writes rooms furnished with the real objects of a labelled object dataset.
"""

from pointdistill.data.synthetic.scenes import SCENE_CLASSES
from pointdistill.data.synthetic.shapes import CLASSES, NUM_PARTS, PART_NAMES, global_part_names, part_offset
from pointdistill.data.synthetic.source import KINDS, generate, synthetic_source
from pointdistill.data.synthetic.writer import write_furnished_scenes, write_synthetic

__all__ = [
    "CLASSES",
    "KINDS",
    "NUM_PARTS",
    "PART_NAMES",
    "SCENE_CLASSES",
    "generate",
    "global_part_names",
    "part_offset",
    "synthetic_source",
    "write_furnished_scenes",
    "write_synthetic",
]
