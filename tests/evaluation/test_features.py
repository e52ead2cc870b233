"""Feature extraction: deterministic resampling, unit-sphere normalisation, batching, eval mode, labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.features import (
    extract_features,
    normalize_unit_sphere,
    pad_clouds,
    prepare_batch,
    resample_point_index,
)
from pointdistill.ops.gather import gather_points

CPU = torch.device("cpu")


def resampled(clouds: list[np.ndarray], num_points: int, **kwargs) -> torch.Tensor:
    """The points :func:`resample_point_index` keeps, before normalisation."""
    padded = pad_clouds(clouds)
    return gather_points(padded, resample_point_index(padded, [len(c) for c in clouds], num_points, **kwargs))


def test_normalize_unit_sphere_centres_and_scales_each_cloud():
    points = torch.randn(3, 50, 3) * torch.tensor([1.0, 5.0, 0.1]).view(3, 1, 1) + 7.0
    out = normalize_unit_sphere(points)
    assert torch.allclose(out.mean(dim=1), torch.zeros(3, 3), atol=1e-5)
    assert torch.allclose(out.norm(dim=-1).amax(dim=1), torch.ones(3), atol=1e-5)


def test_pad_clouds_keeps_each_cloud_first_and_zeros_after():
    clouds = [np.ones((2, 3)), np.full((4, 3), 2.0, np.float32)]
    padded = pad_clouds(clouds)
    assert padded.shape == (2, 4, 3) and padded.dtype == torch.float32
    assert padded[0, :2].eq(1).all() and padded[0, 2:].eq(0).all() and padded[1].eq(2).all()


@pytest.mark.parametrize("sampling", ["fps", "random"])
def test_resample_mixed_sizes_is_deterministic_and_keeps_input_points(sampling):
    rng = np.random.default_rng(0)
    clouds = [rng.normal(size=(n, 3)).astype(np.float32) for n in (40, 100, 16)]
    first = resampled(clouds, 32, sampling=sampling, seeds=[5, 6, 7])
    again = resampled(clouds, 32, sampling=sampling, seeds=[5, 6, 7])
    assert first.shape == (3, 32, 3)
    assert torch.equal(first, again)
    for cloud, picked in zip(clouds, first):
        # every output point is one of the cloud's own points (no padding zeros invented)
        distance = torch.cdist(picked, torch.from_numpy(cloud), compute_mode="donot_use_mm_for_euclid_dist").amin(dim=1)
        assert distance.max() < 1e-6
    # a cloud with more points than asked keeps distinct points
    assert len(torch.unique(first[1], dim=0)) == 32


def test_random_resampling_follows_each_clouds_own_seed():
    rng = np.random.default_rng(2)
    clouds = [rng.normal(size=(50, 3)).astype(np.float32) for _ in range(2)]
    index = resample_point_index(pad_clouds(clouds), [50, 50], 10, sampling="random", seeds=[3, 4])
    alone = resample_point_index(pad_clouds(clouds[1:]), [50], 10, sampling="random", seeds=[4])
    assert torch.equal(index[1], alone[0]), "a sample's points must not depend on its batch"
    assert not torch.equal(index[0], index[1])
    assert bool((index[:, 1:] > index[:, :-1]).all()), "a random subset keeps the clouds' point order"


def test_fps_spreads_points_better_than_a_prefix():
    rng = np.random.default_rng(1)
    cloud = rng.normal(size=(500, 3)).astype(np.float32)
    picked = resampled([cloud], 16, sampling="fps")[0]
    spacing = torch.pdist(picked).min()
    prefix_spacing = torch.pdist(torch.from_numpy(cloud[:16])).min()
    assert spacing > prefix_spacing


@pytest.mark.parametrize("sampling", ["fps", "random"])
def test_clouds_already_at_size_pass_through_unchanged(sampling):
    clouds = [np.arange(24, dtype=np.float32).reshape(8, 3)] * 2
    index = resample_point_index(pad_clouds(clouds), [8, 8], 8, sampling=sampling)
    assert index.tolist() == [list(range(8))] * 2


def test_prepare_batch_is_the_resampled_clouds_normalised():
    rng = np.random.default_rng(3)
    clouds = [rng.normal(size=(n, 3)).astype(np.float32) * 4 + 1 for n in (30, 20)]
    batch = prepare_batch(clouds, 16, sampling="random", seeds=[0, 1])
    torch.testing.assert_close(batch, normalize_unit_sphere(resampled(clouds, 16, sampling="random", seeds=[0, 1])))


def test_bad_knobs_raise_config_errors():
    with pytest.raises(ConfigError, match="sampling"):
        resample_point_index(torch.zeros(1, 4, 3), [4], 2, sampling="nearest")
    with pytest.raises(ConfigError, match="num_points"):
        prepare_batch([np.zeros((4, 3), np.float32)], 0)


def test_extract_features_batches_consistently_and_restores_mode(encoder_factory, source):
    encoder = encoder_factory().train()
    split = source.split("train")
    x_small, y = extract_features(encoder, split, num_points=32, batch_size=5, device=CPU)
    x_big, _ = extract_features(encoder, split, num_points=32, batch_size=64, device=CPU, precision="fp32")
    assert encoder.training, "extraction must leave the encoder in the mode it found it"
    assert x_small.shape == (len(split), 3 * 24) and x_small.dtype == np.float32
    np.testing.assert_allclose(x_small, x_big, rtol=1e-5, atol=1e-5)
    assert y.tolist() == [split[i]["label"] for i in range(len(split))]


def test_extract_features_subset_pooling_and_unlabelled(encoder_factory, helpers):
    encoder = encoder_factory()
    unlabelled = helpers.make_source(labelled=False).split("train")
    x, y = extract_features(encoder, unlabelled, num_points=32, batch_size=8, device=CPU,
                            pooling=("max",), indices=[3, 1])
    assert y is None
    full, _ = extract_features(encoder, unlabelled, num_points=32, batch_size=8, device=CPU, pooling=("max",))
    np.testing.assert_allclose(x, full[[3, 1]], atol=1e-6)
    with pytest.raises(ConfigError, match="pooling"):
        extract_features(encoder, unlabelled, num_points=32, batch_size=8, device=CPU, pooling=("median",))


def test_invalid_points_name_the_sample(encoder_factory):
    from pointdistill.data.base import LazySplit

    split = LazySplit([0], lambda _: {"points": np.full((10, 3), np.nan, np.float32), "name": "broken_0007"})
    with pytest.raises(DataError, match="broken_0007"):
        extract_features(encoder_factory(), split, num_points=8, batch_size=4, device=CPU)


def test_padding_small_clouds_is_said_once_per_run_with_a_count(encoder_factory, capsys, monkeypatch):
    from pointdistill.data import padding
    from pointdistill.data.base import LazySplit

    monkeypatch.setattr(padding, "_reported", False)
    sizes = [20, 64, 5, 64, 64]
    split = LazySplit(sizes, lambda n: {"points": np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)})
    extract_features(encoder_factory(), split, num_points=5, batch_size=2, device=CPU, desc="knn train")
    assert "warning" not in capsys.readouterr().err
    for desc in ("knn train", "knn train", "knn test"):
        extract_features(encoder_factory(), split, num_points=64, batch_size=2, device=CPU, desc=desc)
    err = capsys.readouterr().err
    assert "warning: knn train: 2 of 5 clouds have fewer points than num_points=64 (the smallest has 5)" in err
    assert err.count("warning") == 1, "said once per run, not per split or call"
