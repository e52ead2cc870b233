"""Synthetic object classes: every class builds, part labels follow the global part table, clouds are normalised."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pointdistill.data.synthetic.mesh import signed_volume
from pointdistill.data.synthetic.shapes import (
    CLASSES,
    NUM_PARTS,
    PART_NAMES,
    build_shape,
    global_part_names,
    part_class,
    part_offset,
    sample_shape,
)


def test_class_and_part_tables_are_consistent() -> None:
    assert len(CLASSES) >= 12 and list(CLASSES) == sorted(CLASSES)
    assert NUM_PARTS == sum(len(PART_NAMES[c]) for c in CLASSES) == len(global_part_names())
    offsets = [part_offset(c) for c in CLASSES]
    assert offsets[0] == 0 and all(b - a == len(PART_NAMES[c]) for a, b, c in zip(offsets, offsets[1:], CLASSES))
    names, owner = global_part_names(), part_class()
    for c in CLASSES:
        for k, part in enumerate(PART_NAMES[c]):
            assert names[part_offset(c) + k] == f"{c}/{part}"
            assert owner[part_offset(c) + k] == CLASSES.index(c)
    with pytest.raises(KeyError, match="unknown synthetic class"):
        part_offset("teapot")


def test_classes_share_part_names() -> None:
    """Overlap by design: legs, seats, bodies... appear in several classes."""
    counts: dict[str, int] = {}
    for c in CLASSES:
        for part in PART_NAMES[c]:
            counts[part] = counts.get(part, 0) + 1
    assert counts["leg"] >= 6 and counts["seat"] >= 4 and counts["body"] >= 4


@pytest.mark.parametrize("label", range(len(CLASSES)), ids=CLASSES)
def test_every_class_generates_normalised_labelled_clouds(label: int) -> None:
    name = CLASSES[label]
    seen: set[int] = set()
    lo, hi = part_offset(name), part_offset(name) + len(PART_NAMES[name])
    for k in range(30):
        points, part = sample_shape(label, np.random.default_rng([label, k]), 512)
        assert points.shape == (512, 3) and points.dtype == np.float32
        assert part.shape == (512,) and part.dtype == np.int64
        assert np.isfinite(points).all()
        assert np.abs(points.mean(axis=0)).max() < 1e-5
        assert np.linalg.norm(points, axis=1).max() == pytest.approx(1.0, abs=1e-5)
        assert ((part >= lo) & (part < hi)).all()
        seen.update(np.unique(part).tolist())
    assert seen == set(range(lo, hi)), f"{name}: parts never generated: {set(range(lo, hi)) - seen}"


@pytest.mark.parametrize("label", range(len(CLASSES)), ids=CLASSES)
def test_meshes_are_metric_upright_and_wound_outwards(label: int) -> None:
    mesh = build_shape(label, np.random.default_rng(label))
    lo, hi = mesh.bounds
    assert lo[1] == pytest.approx(0.0, abs=0.02)  # stands on the floor (up to small foot offsets)
    assert 0.02 < hi[1] < 5.0  # a plausible size in metres
    assert signed_volume(mesh) > 0


def test_same_seed_same_cloud_different_seed_different() -> None:
    a = sample_shape(3, np.random.default_rng(11), 256)
    b = sample_shape(3, np.random.default_rng(11), 256)
    c = sample_shape(3, np.random.default_rng(12), 256)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_shapes_vary_within_a_class() -> None:
    extents = np.array([np.ptp(sample_shape(7, np.random.default_rng(k), 512)[0], axis=0) for k in range(10)])
    assert (extents.std(axis=0) > 0.02).all()


def test_generation_speed() -> None:
    """Generous bound (single core, shared machine): the measured rate is tens of thousands per minute."""
    start = time.perf_counter()
    for k in range(200):
        sample_shape(k % len(CLASSES), np.random.default_rng(k), 1024)
    assert time.perf_counter() - start < 20.0
