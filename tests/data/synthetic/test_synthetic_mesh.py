"""Mesh primitives: outward winding, exact areas/volumes, transforms, and area-weighted surface sampling."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.data.synthetic.mesh import (
    beam,
    box,
    concat,
    cylinder,
    ellipsoid,
    face_areas,
    face_normals,
    lathe,
    normalize_unit_sphere,
    prism,
    rod,
    rot_y,
    sample_faces,
    sample_surface,
    signed_volume,
    torus,
    tube,
)


def _prism_volume(n: int, r: float, h: float) -> float:
    return 0.5 * n * r * r * np.sin(2 * np.pi / n) * h


def test_box_area_volume_and_outward_normals() -> None:
    b = box((2.0, 3.0, 4.0), (1.0, -1.0, 0.5))
    assert signed_volume(b) == pytest.approx(24.0)
    assert face_areas(b.vertices, b.faces).sum() == pytest.approx(2 * (6 + 8 + 12))
    centres = b.vertices[b.faces].mean(axis=1)
    outward = np.einsum("ij,ij->i", face_normals(b.vertices, b.faces), centres - (1.0, -1.0, 0.5))
    assert (outward > 0).all()


@pytest.mark.parametrize(
    "mesh, volume",
    [
        (cylinder(0.5, 2.0, 12), _prism_volume(12, 0.5, 2.0)),
        (cylinder(1.0, 1.0, 16, radius_top=0.0), None),
        (tube(1.0, 1.0, 0.1, 16), _prism_volume(16, 1.0, 1.0) - _prism_volume(16, 0.9, 1.0)),
        (ellipsoid((1.0, 2.0, 0.5), 24, 12), 4 / 3 * np.pi * 1.0),
        (torus(1.0, 0.2, 32, 16), 2 * np.pi**2 * 1.0 * 0.04),
        (prism([(0, 0), (1, 0), (1, 1), (0, 1)], 0.5), 0.5),
        (prism([(0, 0), (0, 1), (1, 1), (1, 0)], 0.5), 0.5),
    ],
)
def test_closed_primitives_are_wound_outwards(mesh, volume) -> None:
    v = signed_volume(mesh)
    assert v > 0
    if volume is not None:
        assert v == pytest.approx(volume, rel=0.08)


def test_lathe_orients_either_profile_direction_and_keeps_edge_parts() -> None:
    r, y = [0.0, 1.0, 1.0, 0.3, 0.3, 0.0], [0.0, 0.0, 1.0, 1.2, 1.5, 1.5]
    parts = [0, 0, 1, 1, 2]
    ccw = lathe(r, y, 8, parts)
    cw = lathe(r[::-1], y[::-1], 8, parts[::-1])
    assert signed_volume(ccw) > 0 and signed_volume(cw) == pytest.approx(signed_volume(ccw))
    for m in (ccw, cw):
        top = m.vertices[m.faces].mean(axis=1)[:, 1] > 1.45
        assert set(m.part[top]) == {2}


def test_mirroring_keeps_normals_outward() -> None:
    mirrored = cylinder(0.3, 1.0).scaled((-1.0, 1.0, 1.0))
    assert signed_volume(mirrored) > 0


def test_rod_and_beam_span_their_end_points() -> None:
    a, b = np.array([0.1, 0.2, 0.3]), np.array([1.0, -0.5, 0.7])
    for m in (rod(a, b, 0.05), beam(a, b, 0.05)):
        axis = (b - a) / np.linalg.norm(b - a)
        t = (m.vertices - a) @ axis
        assert t.min() == pytest.approx(0.0, abs=1e-9) and t.max() == pytest.approx(np.linalg.norm(b - a))
        assert signed_volume(m) > 0


def test_rotation_about_a_point_fixes_it() -> None:
    m = box((1, 1, 1)).rotated(rot_y(0.7), about=(0.5, 0.5, 0.5))
    assert np.isclose(m.vertices, (0.5, 0.5, 0.5)).all(axis=1).any()


def test_sampling_is_area_weighted_and_on_the_surface() -> None:
    big, small = box((2.0, 2.0, 2.0), part=0), box((1.0, 1.0, 1.0), (5.0, 0.0, 0.0), part=1)
    m = concat([big, small])
    points, part = sample_surface(m.vertices, m.faces, m.part, 40_000, np.random.default_rng(0))
    assert points.dtype == np.float32 and points.shape == (40_000, 3)
    assert part.dtype == np.int64
    assert (part == 1).mean() == pytest.approx(6 / 30, abs=0.01)
    on_big = np.abs(points[part == 0]).max(axis=1)
    assert np.allclose(on_big, 1.0, atol=1e-6)


def test_barycentric_samples_stay_inside_the_triangle() -> None:
    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    points, face = sample_faces(vertices, np.array([[0, 1, 2]]), 5000, np.random.default_rng(1))
    assert (face == 0).all()
    assert (points[:, :2] >= -1e-12).all() and (points[:, 0] + points[:, 1] <= 1 + 1e-12).all()
    assert np.allclose(points[:, 2], 0.0)
    assert points[:, 0].mean() == pytest.approx(1 / 3, abs=0.02)


def test_zero_area_faces_are_never_sampled_and_empty_area_raises() -> None:
    cone = cylinder(1.0, 1.0, 8, radius_top=0.0)  # degenerate triangles at the poles
    _, face = sample_faces(cone.vertices, cone.faces, 5000, np.random.default_rng(2))
    assert (face_areas(cone.vertices, cone.faces)[face] > 0).all()
    flat = np.zeros((3, 3))
    with pytest.raises(ValueError):
        sample_faces(flat, np.array([[0, 1, 2]]), 10, np.random.default_rng(0))


def test_sampling_is_deterministic_per_generator_seed() -> None:
    m = ellipsoid((1, 1, 1))
    a = sample_surface(m.vertices, m.faces, m.part, 100, np.random.default_rng(7))[0]
    b = sample_surface(m.vertices, m.faces, m.part, 100, np.random.default_rng(7))[0]
    c = sample_surface(m.vertices, m.faces, m.part, 100, np.random.default_rng(8))[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_normalize_unit_sphere() -> None:
    p = normalize_unit_sphere(np.random.default_rng(0).normal(5.0, 3.0, (500, 3)))
    assert np.allclose(p.mean(axis=0), 0.0, atol=1e-12)
    assert np.linalg.norm(p, axis=1).max() == pytest.approx(1.0)
