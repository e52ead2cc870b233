"""ScanObjectNN-like scans: partial visibility, background labelled -1, exact point counts, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.data.synthetic.mesh import box, concat, ellipsoid, face_areas, face_normals, sample_faces
from pointdistill.data.synthetic.scans import BACKGROUND, _background, scan_mesh, visible
from pointdistill.data.synthetic.shapes import CLASSES, build_shape


def test_visibility_keeps_only_the_side_facing_the_camera() -> None:
    sphere = ellipsoid((1.0, 1.0, 1.0), 32, 16)
    points, face = sample_faces(sphere.vertices, sphere.faces, 20_000, np.random.default_rng(0))
    normals = face_normals(sphere.vertices, sphere.faces)[face]
    camera = np.array([0.0, 0.0, 5.0])
    seen = visible(points, normals, camera, np.zeros(3), cell=0.01, tolerance=0.02)
    assert 0.3 < seen.mean() < 0.5  # a sphere seen from 5 radii shows ~40 % of its surface
    assert points[seen, 2].min() > 0.1


def test_visibility_hides_what_is_behind_a_nearer_surface() -> None:
    near = box((1.0, 1.0, 0.05), (0.0, 0.0, 1.0))
    far = box((0.6, 0.6, 0.05), (0.0, 0.0, -1.0), part=1)
    scene = concat([near, far])
    points, face = sample_faces(scene.vertices, scene.faces, 20_000, np.random.default_rng(1))
    normals = face_normals(scene.vertices, scene.faces)[face]
    seen = visible(points, normals, np.array([0.0, 0.0, 6.0]), np.zeros(3), cell=0.01, tolerance=0.02)
    assert seen[scene.part[face] == 0].any()
    assert not seen[scene.part[face] == 1].any()


def test_background_floor_and_walls_face_the_object() -> None:
    lo, hi = np.array([-0.3, 0.0, -0.3]), np.array([0.3, 1.0, 0.3])
    walls = 0
    for k in range(20):
        away = np.array([np.sin(k), 0.0, np.cos(k)])
        meshes = _background(np.random.default_rng(k), lo, hi, 0.6, away)
        assert (meshes[0].part == BACKGROUND).all()
        assert np.allclose(face_normals(meshes[0].vertices, meshes[0].faces), (0.0, 1.0, 0.0))
        for m in meshes[1:]:
            assert (m.part == BACKGROUND).all()
            if len(m.faces) == 2:  # a wall: behind the object as seen from the camera, facing it
                walls += 1
                centre = m.vertices.mean(axis=0)
                assert np.dot(centre, away) > 0
                assert np.dot(face_normals(m.vertices, m.faces)[0], -centre) > 0
    assert walls > 0


@pytest.mark.parametrize("label", [CLASSES.index(c) for c in ("chair", "cabinet", "mug", "airplane")])
def test_scan_is_partial_with_background(label: int) -> None:
    mesh = build_shape(label, np.random.default_rng(label))
    scan = scan_mesh(mesh, label, np.random.default_rng([label, 1]))
    assert scan.points.shape == (2048, 3) and scan.points.dtype == np.float32
    assert scan.mask.dtype == np.int64 and set(np.unique(scan.mask)) == {BACKGROUND, label}
    assert np.isfinite(scan.points).all()
    assert np.linalg.norm(scan.points, axis=1).max() == pytest.approx(1.0, abs=1e-5)
    assert ((scan.face >= 0) == (scan.mask == label)).all()
    # Area of the object faces the scan hits, against a full-surface sample of as many object points.
    areas = face_areas(mesh.vertices, mesh.faces)
    hit = areas[np.unique(scan.face[scan.face >= 0])].sum() / areas.sum()
    _, full = sample_faces(mesh.vertices, mesh.faces, int((scan.mask == label).sum()), np.random.default_rng(3))
    full_hit = areas[np.unique(full)].sum() / areas.sum()
    assert hit < 0.8 * full_hit


def test_point_count_is_configurable_and_clutter_optional() -> None:
    label = CLASSES.index("table")
    mesh = build_shape(label, np.random.default_rng(0))
    scan = scan_mesh(mesh, label, np.random.default_rng(1), num_points=512, clutter=False)
    assert scan.points.shape == (512, 3) and (scan.mask == label).all()


def test_scans_are_deterministic_and_rotation_option_changes_them() -> None:
    label = CLASSES.index("lamp")

    def make(seed: int, **options):
        mesh = build_shape(label, np.random.default_rng(5))
        return scan_mesh(mesh, label, np.random.default_rng(seed), 1024, **options)

    a, b, c = make(1), make(1), make(2)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.points, c.points)
    assert not np.allclose(make(1, max_rotation_deg=10.0).points, a.points)


def test_background_fraction_is_moderate_on_average() -> None:
    fractions = []
    for k in range(len(CLASSES)):
        scan = scan_mesh(build_shape(k, np.random.default_rng(k)), k, np.random.default_rng([k, 9]), 1024)
        fractions.append((scan.mask == BACKGROUND).mean())
    assert 0.1 < np.mean(fractions) < 0.6
    assert max(fractions) < 0.9
