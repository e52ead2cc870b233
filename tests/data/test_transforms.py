"""The math of each per-sample augmentation, and that per-point fields stay aligned."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.data.transforms import (
    Compose,
    Jitter,
    Normalize,
    RandomScale,
    RandomTranslate,
    Resample,
    RotateUp,
    UpAxis,
    resample_index,
    rotation_about,
    up_axis_matrix,
)


def cloud(n: int = 200, seed: int = 0) -> np.ndarray:
    points = np.random.default_rng(seed).normal(size=(n, 3)) * [1.0, 2.0, 0.5] + [3.0, -1.0, 2.0]
    return points.astype(np.float32)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_normalize_gives_zero_centroid_and_unit_radius():
    out = Normalize()(cloud(), rng())
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-6)
    assert np.linalg.norm(out, axis=1).max() == pytest.approx(1.0, abs=1e-6)


def test_normalize_leaves_a_degenerate_cloud_centred_not_nan():
    out = Normalize()(np.ones((5, 3), dtype=np.float32), rng())
    assert np.all(out == 0)


def test_normalize_handles_a_stack_of_clouds_independently():
    stack = np.stack([cloud(seed=1), 10 * cloud(seed=2)])
    out = Normalize()(stack, rng())
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1).max(axis=-1), [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[0], Normalize()(stack[0], rng()), atol=1e-6)


def test_up_axis_y_to_z_is_an_exact_signed_permutation():
    points = cloud()
    out = UpAxis("y", "z")(points, rng())
    np.testing.assert_array_equal(out, np.stack([points[:, 0], -points[:, 2], points[:, 1]], axis=1))
    np.testing.assert_array_equal(UpAxis("z", "y")(out, rng()), points)


@pytest.mark.parametrize("source", "xyz")
@pytest.mark.parametrize("target", "xyz")
def test_up_axis_matrix_is_a_proper_rotation_onto_the_target(source, target):
    matrix = up_axis_matrix(source, target)
    assert set(np.unique(matrix)) <= {-1.0, 0.0, 1.0}
    assert np.linalg.det(matrix) == pytest.approx(1.0)
    np.testing.assert_array_equal(matrix @ np.eye(3)["xyz".index(source)], np.eye(3)["xyz".index(target)])
    np.testing.assert_array_equal(matrix.T @ matrix, np.eye(3))


def test_up_axis_rejects_an_unknown_axis():
    with pytest.raises(ValueError, match="axis"):
        UpAxis("w", "z")


def test_rotate_up_keeps_norms_and_the_up_coordinate():
    points = cloud()
    out = RotateUp(2 * np.pi, up="y")(points, rng(3))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(points, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(out[:, 1], points[:, 1])
    assert not np.allclose(out, points)


def test_rotate_up_angle_stays_in_the_configured_range():
    point = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    limit = 0.3
    angles = []
    for seed in range(50):
        out = RotateUp(limit, up="z")(point, rng(seed))[0]
        angles.append(np.arctan2(out[1], out[0]))
    assert max(np.abs(angles)) <= limit / 2 + 1e-6
    assert max(np.abs(angles)) > limit / 4


def test_rotate_up_gives_each_cloud_of_a_stack_its_own_angle():
    stack = np.stack([cloud()] * 4)
    out = RotateUp()(stack, rng())
    assert not np.allclose(out[0], out[1])


def test_rotation_about_is_right_handed():
    np.testing.assert_allclose(rotation_about(2, np.pi / 2) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(rotation_about(1, np.pi / 2) @ [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], atol=1e-12)


def test_anisotropic_scale_uses_one_factor_per_axis_within_range():
    points = cloud()
    out = RandomScale(0.8, 1.2)(points, rng(1))
    factors = out / points
    assert np.allclose(factors, factors[0], rtol=1e-5)
    assert np.all((factors[0] >= 0.8) & (factors[0] <= 1.2))
    assert np.ptp(factors[0]) > 0


def test_isotropic_scale_uses_one_factor():
    points = cloud()
    factors = RandomScale(0.5, 2.0, anisotropic=False)(points, rng(1)) / points
    assert np.allclose(factors, factors[0, 0], rtol=1e-5)


def test_scale_transforms_normals_by_the_inverse_transpose():
    sphere = cloud(100)
    sphere = sphere - sphere.mean(0)
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    sample = {"points": sphere.copy(), "normals": sphere.copy()}
    out = RandomScale(0.5, 1.5)(sample, rng(2))
    factors = out["points"][0] / sphere[0]
    expected = sphere / factors
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out["normals"], expected, atol=1e-5)


def test_rotation_rotates_normals_with_the_points():
    points = cloud()
    normals = points / np.linalg.norm(points, axis=1, keepdims=True)
    out = RotateUp()({"points": points, "normals": normals}, rng(4))
    expected = out["points"] / np.linalg.norm(out["points"], axis=1, keepdims=True)
    np.testing.assert_allclose(out["normals"], expected, atol=1e-5)


def test_translate_shifts_all_points_by_one_bounded_offset():
    points = cloud()
    shift = RandomTranslate(0.2)(points, rng(5)) - points
    np.testing.assert_allclose(shift - shift[0], 0.0, atol=1e-5)
    assert np.all(np.abs(shift[0]) <= 0.2)


def test_jitter_is_clipped_and_has_the_requested_spread():
    points = np.zeros((20000, 3), dtype=np.float32)
    noise = Jitter(0.01, 0.02)(points, rng(6))
    assert np.abs(noise).max() <= 0.02 + 1e-7
    assert noise.std() == pytest.approx(0.0095, rel=0.1)


def test_resample_without_replacement_when_enough_points():
    index = resample_index(100, 60, rng())
    assert len(index) == 60 and len(np.unique(index)) == 60


def test_resample_keeps_every_point_when_upsampling():
    index = resample_index(40, 100, rng())
    assert len(index) == 100 and set(index.tolist()) == set(range(40))


def test_resample_keeps_per_point_fields_aligned():
    points = cloud(50)
    sample = {
        "points": points,
        "part": np.arange(50),
        "normals": points * 2,
        "label": 3,
        "name": "shape_1",
    }
    for size in (20, 80):
        out = Resample(size)(sample, rng(7))
        assert out["points"].shape == (size, 3) and out["part"].shape == (size,)
        np.testing.assert_array_equal(out["points"], points[out["part"]])
        np.testing.assert_array_equal(out["normals"], 2 * out["points"])
        assert out["label"] == 3 and out["name"] == "shape_1"


def test_resample_rejects_a_stack():
    with pytest.raises(ValueError, match="one cloud"):
        Resample(10)(np.zeros((2, 20, 3), dtype=np.float32), rng())


def test_compose_is_deterministic_for_a_given_stream_and_varies_across_streams():
    pipeline = Compose([Normalize(), RotateUp(), RandomScale(), Jitter(), Resample(64)])
    sample = {"points": cloud(), "part": np.arange(200)}
    first = pipeline(sample, rng(11))
    again = pipeline(sample, rng(11))
    other = pipeline(sample, rng(12))
    np.testing.assert_array_equal(first["points"], again["points"])
    np.testing.assert_array_equal(first["part"], again["part"])
    assert not np.array_equal(first["points"], other["points"])
    assert sample["points"].shape == (200, 3), "the input sample must not be modified"


def test_transforms_pickle():
    import pickle

    pipeline = Compose([UpAxis("y", "z"), RotateUp(1.0, "z"), RandomScale(), Jitter()])
    clone = pickle.loads(pickle.dumps(pipeline))
    np.testing.assert_array_equal(clone(cloud(), rng(1)), pipeline(cloud(), rng(1)))
