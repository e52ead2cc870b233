"""Scene augmentations: shapes and dtypes kept, heights kept by up-axis rotation, seeded and reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill.data.scene_transforms import (
    ElasticDistortion,
    HorizontalFlip,
    RotateAboutUp,
    SceneAugmentConfig,
    Tilt,
    build_scene_augment,
    elastic_displacement,
)
from pointdistill.errors import ConfigError


def scene(n: int = 3000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(n, 3))
    return {
        "points": rng.uniform(-2, 2, size=(n, 3)).astype(np.float32),
        "normals": (normals / np.linalg.norm(normals, axis=1, keepdims=True)).astype(np.float32),
        "color": rng.random((n, 3)).astype(np.float32),
        "segment": rng.integers(-1, 5, n),
        "name": "room",
    }


def test_full_augment_keeps_shapes_dtypes_and_aligned_fields() -> None:
    sample = scene()
    out = build_scene_augment()(sample, np.random.default_rng(0))
    for key in ("points", "normals", "color"):
        assert out[key].shape == sample[key].shape and out[key].dtype == np.float32, key
    np.testing.assert_array_equal(out["segment"], sample["segment"])
    np.testing.assert_allclose(np.linalg.norm(out["normals"], axis=1), 1.0, atol=1e-5)
    assert 0.0 <= out["color"].min() and out["color"].max() <= 1.0
    assert not np.allclose(out["points"], sample["points"])


@pytest.mark.parametrize("up", ["x", "y", "z"])
def test_rotation_about_up_keeps_heights_and_horizontal_radii(up: str) -> None:
    axis = "xyz".index(up)
    sample = scene()
    out = RotateAboutUp(p=1.0, up=up)(sample, np.random.default_rng(1))
    np.testing.assert_allclose(out["points"][:, axis], sample["points"][:, axis], atol=1e-6)
    flat = np.delete(sample["points"], axis, axis=1)
    moved = np.delete(out["points"], axis, axis=1)
    np.testing.assert_allclose(np.linalg.norm(moved, axis=1), np.linalg.norm(flat, axis=1), rtol=1e-5)
    assert not np.allclose(moved, flat)


def test_flip_never_mirrors_the_up_axis_and_tilts_stay_small() -> None:
    sample = scene()
    for seed in range(8):
        flipped = HorizontalFlip(p=1.0, up="z")(sample, np.random.default_rng(seed))
        np.testing.assert_array_equal(flipped["points"][:, 2], sample["points"][:, 2])
        np.testing.assert_allclose(np.abs(flipped["points"]), np.abs(sample["points"]))
    tilted = Tilt(p=1.0, up="z")(sample, np.random.default_rng(2))
    radius = np.linalg.norm(sample["points"], axis=1)
    assert np.abs(tilted["points"][:, 2] - sample["points"][:, 2]).max() <= 2 * np.sin(np.pi / 64) * radius.max()


def test_same_stream_same_output_other_stream_other_output() -> None:
    augment = build_scene_augment()
    sample = scene()
    a = augment(sample, np.random.default_rng([7, 0, 3]))
    b = augment(sample, np.random.default_rng([7, 0, 3]))
    c = augment(sample, np.random.default_rng([8, 0, 3]))
    for key in ("points", "normals", "color"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.allclose(a["points"], c["points"])


def test_elastic_distortion_is_smooth_and_bounded() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 4, size=(4000, 3))
    shift = elastic_displacement(points, 0.2, 0.4, rng)
    assert shift.shape == points.shape and np.abs(shift).max() < 0.4
    near = points + 0.005
    again = elastic_displacement(np.concatenate([points, near]), 0.2, 0.4, np.random.default_rng(0))
    assert np.abs(again[:4000] - again[4000:]).max() < 0.02  # neighbours move together
    out = ElasticDistortion(p=1.0)({"points": points.astype(np.float32)}, rng)
    assert out["points"].dtype == np.float32


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="flip_p"):
        SceneAugmentConfig(flip_p=1.5)
    with pytest.raises(ConfigError, match="unknown scene augment key 'rotation'"):
        SceneAugmentConfig.from_dict({"rotation": 1.0})
    with pytest.raises(ConfigError, match="'up'"):
        SceneAugmentConfig(up="w")
    assert SceneAugmentConfig.from_dict({"scale": [0.8, 1.2], "up": "y"}).scale == (0.8, 1.2)
