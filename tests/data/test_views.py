"""Multi-crop views: fixed shapes and dtypes, crops drawn from the cloud, per-crop normalisation, determinism."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from pointdistill.data.views import MultiCropViews, asymdsd_views, dcglr_views


def sample(n: int = 600, label: int | None = 4, seed: int = 0) -> dict:
    points = np.random.default_rng(seed).uniform(-1, 1, size=(n, 3)) * [2.0, 1.0, 0.5] + 5.0
    out = {"points": points.astype(np.float32), "name": "shape_7"}
    if label is not None:
        out["label"] = label
    return out


def test_dcglr_views_have_the_papers_shapes_and_float32():
    views = dcglr_views()(sample(), np.random.default_rng(0))
    assert views["global"].shape == (2, 1024, 3) and views["global"].dtype == np.float32
    assert views["local"].shape == (8, 256, 3) and views["local"].dtype == np.float32
    assert views["points"].shape == (1024, 3) and views["points"].dtype == np.float32
    assert views["label"] == 4 and views["label"].dtype == np.int64


def test_asymdsd_views_have_the_papers_shapes():
    views = asymdsd_views()(sample(2048), np.random.default_rng(0))
    assert views["global"].shape == (2, 1024, 3)
    assert views["local"].shape == (4, 256, 3)
    assert all(np.isfinite(v).all() for v in (views["global"], views["local"], views["points"]))


def test_label_is_absent_when_the_sample_has_none():
    views = dcglr_views()(sample(label=None), np.random.default_rng(0))
    assert "label" not in views


def test_views_are_a_function_of_the_stream():
    maker = asymdsd_views()
    first = maker(sample(), np.random.default_rng(5))
    again = maker(sample(), np.random.default_rng(5))
    other = maker(sample(), np.random.default_rng(6))
    for key in ("global", "local", "points"):
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.allclose(first["global"], other["global"])


def test_crops_differ_from_each_other():
    views = dcglr_views()(sample(), np.random.default_rng(1))
    assert not np.allclose(views["global"][0], views["global"][1])
    assert not np.allclose(views["local"][0], views["local"][1])


def test_points_is_the_unit_sphere_normalised_cloud():
    views = MultiCropViews(num_points=600)(sample(), np.random.default_rng(0))
    full = views["points"]
    assert np.linalg.norm(full, axis=1).max() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(full.mean(axis=0), 0.0, atol=1e-5)


@pytest.mark.parametrize("crop", ["nearest", "box"])
def test_unnormalised_crops_are_subsets_of_the_cloud_and_locals_are_smaller(crop):
    maker = MultiCropViews(crop=crop, crop_normalize="none", num_points=600, global_points=400, local_points=100)
    views = maker(sample(), np.random.default_rng(2))
    cloud = {tuple(p) for p in views["points"].tolist()}
    for view in np.concatenate([views["global"].reshape(-1, 3), views["local"].reshape(-1, 3)]):
        assert tuple(view.tolist()) in cloud
    global_extent = np.ptp(views["global"], axis=1).max(axis=1).mean()
    local_extent = np.ptp(views["local"], axis=1).max(axis=1).mean()
    assert local_extent < global_extent


def test_unit_sphere_crop_normalisation_recentres_and_rescales_each_crop():
    maker = MultiCropViews(crop_normalize="unit_sphere", augment=None)
    views = maker(sample(), np.random.default_rng(3))
    for crops in (views["global"], views["local"]):
        np.testing.assert_allclose(crops.mean(axis=1), 0.0, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(crops, axis=2).max(axis=1), 1.0, atol=1e-5)


def test_center_crop_normalisation_keeps_the_crop_size():
    maker = MultiCropViews(crop_normalize="center", augment=None)
    views = maker(sample(), np.random.default_rng(3))
    np.testing.assert_allclose(views["local"].mean(axis=1), 0.0, atol=1e-5)
    assert np.linalg.norm(views["local"], axis=2).max() < 1.0


def test_small_clouds_are_upsampled_to_the_fixed_counts_and_flagged_padded():
    views = dcglr_views()(sample(100), np.random.default_rng(0))
    assert views["global"].shape == (2, 1024, 3) and views["points"].shape == (1024, 3)
    assert views["padded"] and not dcglr_views(num_points=100)(sample(100), np.random.default_rng(0))["padded"]


def test_view_maker_pickles_and_reproduces():
    maker = asymdsd_views(up="z")
    clone = pickle.loads(pickle.dumps(maker))
    np.testing.assert_array_equal(
        clone(sample(), np.random.default_rng(9))["local"], maker(sample(), np.random.default_rng(9))["local"]
    )


def test_no_local_crops_when_none_requested():
    views = MultiCropViews(num_local=0)(sample(), np.random.default_rng(0))
    assert "local" not in views


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"crop": "sphere"}, "crop kind"),
        ({"crop_normalize": "scale"}, "normalisation"),
        ({"global_scale": (0.0, 1.0)}, "global_scale"),
        ({"local_scale": (0.5, 0.2)}, "local_scale"),
    ],
)
def test_bad_parameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiCropViews(**kwargs)


def test_asymdsd_crops_are_augmented_then_fill_the_unit_sphere():
    """The reference augments each crop (rotation, anisotropic scale) and normalises it afterwards."""
    views = asymdsd_views(num_points=600)(sample(2048), np.random.default_rng(3))
    for key in ("global", "local"):
        crops = views[key]
        np.testing.assert_allclose(crops.mean(axis=1), 0.0, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(crops, axis=-1).max(axis=1), 1.0, atol=1e-5)


def test_asymdsd_crops_never_hold_fewer_distinct_points_than_the_view():
    """The reference's floor n = max(int(scale * N), view points): a 0.05 crop of 2048 points still has 256."""
    views = asymdsd_views(num_points=600, local_scale=(0.05, 0.05))(sample(2048), np.random.default_rng(0))
    assert all(len(np.unique(crop, axis=0)) == 256 for crop in views["local"])
    plain = asymdsd_views(num_points=600, local_scale=(0.05, 0.05), crop_min_points=False)
    views = plain(sample(2048), np.random.default_rng(0))
    assert all(len(np.unique(crop, axis=0)) <= round(0.05 * 2048) for crop in views["local"])
