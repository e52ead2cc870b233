"""Write the synthetic data to disk in layouts the readers already understand.

- shapes and scans: one ``.npz`` like the files in ``shared/data``: ``classes``, ``<split>_points`` float32
  [M, N, 3], ``<split>_labels`` int64, ``<split>_names`` str, plus ``<split>_parts`` int64 [M, N] and
  ``part_names`` (global part id -> "class/part") for shapes, ``<split>_mask`` int64 [M, N] for scans. Stored
  uncompressed so the npz reader can memory-map it.
- scenes: the Pointcept layout ``<out>/<split>/<scene>/{coord,color,normal,segment,instance}.npy`` with colour as
  uint8 0-255 like ScanNet, segment and instance int16 (-1 = none), coordinates in metres, z up, and the class
  names in ``<out>/classes.json`` (a JSON list, which the Pointcept reader picks up). Rooms furnished with real
  objects (:mod:`~pointdistill.data.synthetic.furnished`) add ``<scene>/objects.json``: each instance's class and
  source object.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pointdistill.data.base import DatasetSource, Sample
from pointdistill.data.readers.pointcept import CLASSES_FILE
from pointdistill.data.registry import open_dataset
from pointdistill.data.synthetic.furnished import furnished_scene, load_furniture, scene_split_sizes
from pointdistill.data.synthetic.shapes import global_part_names
from pointdistill.data.synthetic.source import SPLITS, synthetic_source
from pointdistill.errors import ConfigError, DataError

PART_KEY = "parts"  # <split>_parts, the name the npz reader looks for
MASK_KEY = "mask"  # <split>_mask, as ScanObjectNN names it


def _write_npz(source: DatasetSource, out_dir: Path, progress: bool) -> Path:
    kind, n = source.info["kind"], source.info["num_points"]
    count = sum(source.info["sizes"].values())
    arrays: dict[str, np.ndarray] = {"classes": np.array(source.classes)}
    if kind == "shapes":
        arrays["part_names"] = np.array(global_part_names())
    extra = "part" if kind == "shapes" else "mask"
    extra_key = PART_KEY if kind == "shapes" else MASK_KEY
    with tqdm(total=count, desc=f"synthetic {kind}", unit="shape", disable=not progress) as bar:
        for split in SPLITS:
            data = source.split(split)
            points = np.empty((len(data), n, 3), dtype=np.float32)
            labels = np.empty(len(data), dtype=np.int64)
            per_point = np.empty((len(data), n), dtype=np.int64)
            names = []
            for i in range(len(data)):
                sample = data[i]
                points[i], labels[i], per_point[i] = sample["points"], sample["label"], sample[extra]
                names.append(sample["name"])
                bar.update()
            arrays[f"{split}_points"], arrays[f"{split}_labels"] = points, labels
            arrays[f"{split}_names"], arrays[f"{split}_{extra_key}"] = np.array(names, dtype=str), per_point
    path = out_dir / f"synthetic_{kind}_{n}.npz"
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)
    return path


def write_scene(folder: Path, sample: Sample, objects: list[dict[str, Any]] | None = None) -> None:
    """One scene's Pointcept files (and its objects' provenance when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "coord.npy", sample["points"].astype(np.float32))
    np.save(folder / "color.npy", np.round(sample["color"] * 255.0).astype(np.uint8))
    np.save(folder / "normal.npy", sample["normals"].astype(np.float32))
    np.save(folder / "segment.npy", sample["segment"].astype(np.int16))
    np.save(folder / "instance.npy", sample["instance"].astype(np.int16))
    if objects is not None:
        (folder / "objects.json").write_text(json.dumps(objects, indent=1))


def write_classes(out_dir: Path, classes: list[str]) -> None:
    (out_dir / CLASSES_FILE).write_text(json.dumps(list(classes)))


def _write_scenes(source: DatasetSource, out_dir: Path, progress: bool) -> Path:
    count = sum(source.info["sizes"].values())
    write_classes(out_dir, source.classes)
    with tqdm(total=count, desc="synthetic scenes", unit="scene", disable=not progress) as bar:
        for split in SPLITS:
            data = source.split(split)
            for i in range(len(data)):
                sample = data[i]
                write_scene(out_dir / split / sample["name"], sample)
                bar.update()
    return out_dir


def write_furnished_scenes(
    objects: str | Path, out_dir: str | Path, count: int, seed: int = 0, objects_up: str = "z", progress: bool = True
) -> Path:
    """Write ``count`` rooms furnished with the furniture of the labelled object dataset at ``objects`` (any path
    :func:`~pointdistill.data.registry.open_dataset` reads, up axis ``objects_up``) in the Pointcept layout, split
    train / val / test."""
    if int(count) != count or count < 1:
        raise ConfigError(f"scene count must be a positive integer, got {count!r}")
    furniture = load_furniture(open_dataset(objects), int(seed), objects_up)
    sizes = scene_split_sizes(int(count))
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_classes(out_dir, furniture.classes)
        with tqdm(total=count, desc="furnished scenes", unit="scene", disable=not progress) as bar:
            for split, size in sizes.items():
                for index in range(size):
                    sample, placed = furnished_scene(furniture, split, int(seed), index)
                    write_scene(out_dir / split / sample["name"], sample, placed)
                    bar.update()
    except OSError as error:
        raise DataError(out_dir, f"cannot write the scenes: {error}") from None
    return out_dir


def write_synthetic(
    kind: str,
    out_dir: str | Path,
    count: int = 4096,
    seed: int = 0,
    num_points: int | None = None,
    test_fraction: float = 0.25,
    progress: bool = True,
) -> Path:
    """Generate ``count`` samples of ``kind`` and write them under ``out_dir``; returns the .npz file (shapes,
    scans) or the scene root (scenes). The same arguments give the same files as :func:`synthetic_source`."""
    source = synthetic_source(kind, count, seed, num_points, test_fraction)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if kind == "scenes":
            return _write_scenes(source, out_dir, progress)
        return _write_npz(source, out_dir, progress)
    except OSError as error:
        raise DataError(out_dir, f"cannot write the synthetic data: {error}") from None
