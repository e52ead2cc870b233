"""Exact k-NN and ball query against an independent reference (SciPy's KD-tree and brute force)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from pointdistill.ops import ball_query, knn


def brute_knn(query: np.ndarray, ref: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = ((query[:, None, :].astype(np.float64) - ref[None].astype(np.float64)) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), order


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_kdtree_distances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(2, 700, 3)).astype(np.float32)
    query = rng.normal(size=(2, 50, 3)).astype(np.float32)
    dist, idx = knn(torch.from_numpy(query), torch.from_numpy(ref), 16)
    for b in range(2):
        tree_d, _ = cKDTree(ref[b].astype(np.float64)).query(query[b].astype(np.float64), k=16)
        np.testing.assert_allclose(dist[b].numpy(), tree_d**2, rtol=1e-5, atol=1e-6)
        recomputed = ((query[b][:, None] - ref[b][idx[b].numpy()]) ** 2).sum(-1)
        np.testing.assert_allclose(recomputed, dist[b].numpy(), rtol=1e-5, atol=1e-6)


def test_ties_and_duplicates_break_towards_lower_index() -> None:
    ref = np.array([[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0], [0, 1, 0], [5, 5, 5]], dtype=np.float32)
    query = np.zeros((1, 3), dtype=np.float32)
    _, idx = knn(torch.from_numpy(query)[None], torch.from_numpy(ref)[None], 5)
    _, expected = brute_knn(query, ref, 5)
    assert idx[0].numpy().tolist() == expected.tolist() == [[0, 1, 2, 3, 4]]


def test_k_larger_than_point_count_repeats_the_nearest() -> None:
    ref = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [3, 0, 0]]])
    dist, idx = knn(torch.tensor([[[0.9, 0, 0]]]), ref, 5)
    assert idx[0, 0].tolist() == [1, 0, 2, 1, 1]
    assert torch.allclose(dist[0, 0, 3:], dist[0, 0, :1].expand(2))


def test_padded_batch_excludes_padding() -> None:
    rng = np.random.default_rng(0)
    ref = torch.from_numpy(rng.normal(size=(2, 40, 3)).astype(np.float32))
    query = ref[:, :5].clone()
    lengths = torch.tensor([40, 10])
    _, idx = knn(query, ref, 12, ref_lengths=lengths)
    assert (idx[1] < 10).all()
    _, expected = brute_knn(query[1].numpy(), ref[1, :10].numpy(), 10)
    assert idx[1, :, :10].numpy().tolist() == expected.tolist()
    assert (idx[1, :, 10:] == idx[1, :, :1]).all()


def test_chunking_gives_identical_results() -> None:
    ref = torch.rand(2, 300, 3)
    query = torch.rand(2, 77, 3)
    d1, i1 = knn(query, ref, 8)
    d2, i2 = knn(query, ref, 8, chunk_elements=2 * 300 * 5)
    assert torch.equal(i1, i2) and torch.equal(d1, d2)


def test_ball_query_returns_first_points_inside_in_index_order() -> None:
    rng = np.random.default_rng(2)
    ref = rng.uniform(-1, 1, size=(1, 400, 3)).astype(np.float32)
    query = ref[:, :20]
    idx = ball_query(torch.from_numpy(query), torch.from_numpy(ref), 0.3, 8)[0].numpy()
    for q in range(20):
        inside = np.nonzero(((ref[0] - query[0, q]) ** 2).sum(1) <= 0.09)[0]
        expected = list(inside[:8]) + [inside[0]] * max(0, 8 - len(inside))
        assert idx[q].tolist() == expected


def test_ball_query_with_empty_ball_falls_back_to_nearest() -> None:
    ref = torch.tensor([[[0.0, 0, 0], [10, 0, 0]]])
    idx = ball_query(torch.tensor([[[9.0, 0, 0]]]), ref, 0.5, 3)
    assert idx.tolist() == [[[1, 1, 1]]]
