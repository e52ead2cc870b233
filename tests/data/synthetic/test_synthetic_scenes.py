"""Synthetic rooms: non-overlapping furniture, z-up metric coordinates, consistent per-point labels."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.data.synthetic.scenes import SCENE_CLASSES, generate_scene, plan_room, sample_room

FLOOR, WALL = SCENE_CLASSES.index("floor"), SCENE_CLASSES.index("wall")


def _overlap(a, b, tol: float) -> bool:
    return a[0] < b[2] - tol and b[0] < a[2] - tol and a[1] < b[3] - tol and b[1] < a[3] - tol


@pytest.fixture(scope="module")
def rooms():
    out = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        room = plan_room(rng)
        out.append((room, sample_room(room, rng)))
    return out


def test_floor_objects_do_not_overlap_and_stay_inside(rooms) -> None:
    for room, _ in rooms:
        standing = [o for o in room.objects if o.host is None]
        assert len(standing) >= 3
        for i, a in enumerate(standing):
            x0, y0, x1, y1 = a.footprint
            assert x0 >= 0 and y0 >= 0 and x1 <= room.width and y1 <= room.depth
            assert a.mesh.bounds[0, 2] == pytest.approx(0.0, abs=0.02)  # stands on the floor
            for b in standing[i + 1 :]:
                assert not _overlap(a.footprint, b.footprint, 0.0), (a.name, b.name)


def test_tabletop_items_stand_on_their_host(rooms) -> None:
    items = 0
    for room, _ in rooms:
        for o in room.objects:
            if o.host is None:
                continue
            items += 1
            host = room.objects[o.host]
            hx0, hy0, hx1, hy1 = host.footprint
            x0, y0, x1, y1 = o.footprint
            assert hx0 - 1e-6 <= x0 and x1 <= hx1 + 1e-6 and hy0 - 1e-6 <= y0 and y1 <= hy1 + 1e-6
            assert o.mesh.bounds[0, 2] > 0.3  # on a top, not on the floor
    assert items > 0


def test_sampled_instances_do_not_overlap(rooms) -> None:
    for room, sample in rooms:
        boxes = {}
        for o in room.objects:
            if o.host is None:
                pts = sample["points"][sample["instance"] == o.instance]
                if len(pts):
                    boxes[o.instance] = (*pts[:, :2].min(axis=0), *pts[:, :2].max(axis=0))
        keys = list(boxes)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                assert not _overlap(boxes[a], boxes[b], 0.02)


def test_fields_labels_and_axes(rooms) -> None:
    for room, s in rooms:
        n = len(s["points"])
        assert 20_000 <= n <= 60_000
        assert s["points"].dtype == np.float32 and s["color"].dtype == np.float32 and s["normals"].dtype == np.float32
        assert s["segment"].dtype == np.int64 and s["instance"].dtype == np.int64
        assert all(len(s[k]) == n for k in ("color", "normals", "segment", "instance"))
        assert np.isfinite(s["points"]).all()
        assert s["color"].min() >= 0 and s["color"].max() <= 1
        assert np.allclose(np.linalg.norm(s["normals"], axis=1), 1.0, atol=1e-4)
        assert s["segment"].min() >= 0 and s["segment"].max() < len(SCENE_CLASSES)
        stuff = np.isin(s["segment"], [FLOOR, WALL])
        assert (s["instance"][stuff] == -1).all() and (s["instance"][~stuff] >= 0).all()
        floor = s["points"][s["segment"] == FLOOR]
        assert np.abs(floor[:, 2]).max() < 0.02  # z up, floor at z = 0
        assert np.allclose(s["normals"][s["segment"] == FLOOR], (0, 0, 1), atol=1e-5)
        assert s["points"][:, 2].max() <= room.height + 0.02
        wall = s["segment"] == WALL
        inward = (np.array([room.width / 2, room.depth / 2]) - s["points"][wall, :2]) * s["normals"][wall, :2]
        assert (inward.sum(axis=1) > 0).all()
        for o in room.objects:  # every object class name maps to its segment id
            assert set(np.unique(s["segment"][s["instance"] == o.instance])) <= {SCENE_CLASSES.index(o.name)}


def test_exact_point_count_and_determinism() -> None:
    a = generate_scene(np.random.default_rng(3), num_points=5000)
    b = generate_scene(np.random.default_rng(3), num_points=5000)
    c = generate_scene(np.random.default_rng(4), num_points=5000)
    assert len(a["points"]) == 5000
    for key in a:
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["points"], c["points"])
