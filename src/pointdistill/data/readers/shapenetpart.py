"""ShapeNetPart (``shapenetcore_partanno_segmentation_benchmark_v0_normal``): ``x y z nx ny nz part`` per row.

The part column holds the global part id (0..49); ``label`` is the category index. ``info["seg_classes"]`` maps
each category to its part ids, which the part-segmentation protocol needs to restrict predictions and compute
instance mIoU.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.readers.common import find_root, load_table, make_sample, read_lines, require_file
from pointdistill.errors import DataError

FORMAT = "shapenetpart"
UPSTREAM_NAMES = ("shapenetcore_partanno_segmentation_benchmark_v0_normal",)
SPLITS = ("train", "val", "test")
PART_COUNTS = {
    "Airplane": 4, "Bag": 2, "Cap": 2, "Car": 4, "Chair": 4, "Earphone": 3, "Guitar": 3, "Knife": 2,
    "Lamp": 4, "Laptop": 2, "Motorbike": 6, "Mug": 2, "Pistol": 3, "Rocket": 3, "Skateboard": 3, "Table": 3,
}
"""Parts per category; the global ids are consecutive in alphabetical category order (Airplane 0-3 ... Table
47-49), the numbering of the released files."""


def standard_seg_classes() -> dict[str, list[int]]:
    """The 16 categories -> their global part ids (50 in all)."""
    table, start = {}, 0
    for category in sorted(PART_COUNTS):
        table[category] = list(range(start, start + PART_COUNTS[category]))
        start += PART_COUNTS[category]
    return table


def _is_root(path: Path) -> bool:
    return (path / "synsetoffset2category.txt").is_file() and (path / "train_test_split").is_dir()


def locate(path: Path) -> Path | None:
    return find_root(path, UPSTREAM_NAMES, _is_root)


def _load(item: tuple[Path, int, str], num_classes: int, parts: dict[int, list[int]]) -> Sample:
    path, label, name = item
    table = load_table(path, delimiter=None, min_columns=7)
    sample = make_sample(
        {"points": table[:, :3], "normals": table[:, 3:6], "part": table[:, 6], "label": label}, name, path, num_classes
    )
    allowed = parts.get(label)
    if allowed is not None:
        part = sample["part"]
        bad = (part < allowed[0]) | (part > allowed[-1])
        if bad.any():
            raise DataError(path, f"part id {int(part[bad][0])} out of range [{allowed[0]}, {allowed[-1]}] "
                                  f"for category {label}")
    return sample


def read(path: Path) -> DatasetSource:
    """Read the category table and the split lists; the per-shape text files are parsed on access."""
    root = locate(Path(path))
    if root is None:
        raise DataError(path, "not a ShapeNetPart layout: expected synsetoffset2category.txt and train_test_split/")
    category_file = root / "synsetoffset2category.txt"
    synset_to_category = {}
    for line in read_lines(category_file):
        fields = line.split()
        if len(fields) != 2:
            raise DataError(category_file, f"expected '<category> <synset>' per line, got {line!r}")
        synset_to_category[fields[1]] = fields[0]
    classes = sorted(synset_to_category.values())
    label_of = {category: index for index, category in enumerate(classes)}
    seg_classes = {c: ids for c, ids in standard_seg_classes().items() if c in label_of}
    parts = {label_of[c]: ids for c, ids in seg_classes.items()}
    load = partial(_load, num_classes=len(classes), parts=parts)
    splits = {}
    for split in SPLITS:
        list_file = root / "train_test_split" / f"shuffled_{split}_file_list.json"
        if not list_file.exists():
            continue
        items = []
        for entry in _read_json_list(list_file):
            synset, shape_id = entry.rstrip("/").split("/")[-2:]
            if synset in synset_to_category:
                category = synset_to_category[synset]
                items.append((root / synset / f"{shape_id}.txt", label_of[category], f"{synset}/{shape_id}"))
        splits[split] = LazySplit(items, load)
    if not splits:
        raise DataError(root / "train_test_split", "no shuffled_{train,val,test}_file_list.json")
    info = {"seg_classes": seg_classes, "synsets": {c: s for s, c in synset_to_category.items()}}
    return DatasetSource(FORMAT, root, classes, splits, info=info)


def _read_json_list(path: Path) -> list[str]:
    require_file(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(path, f"not a JSON file list: {error}") from None
    if not isinstance(entries, list) or not all(isinstance(e, str) and e.count("/") >= 1 for e in entries):
        raise DataError(path, "expected a JSON list of 'shape_data/<synset>/<id>' strings")
    return entries
