"""Radius-limited nearest neighbours by sorted grid cells agree with a brute-force distance matrix."""

from __future__ import annotations

import pytest
import torch

from pointdistill.ops.radius_match import nearest_within


@pytest.mark.parametrize("chunk", [7, 8192])
def test_matches_brute_force_within_segments(chunk: int) -> None:
    torch.manual_seed(0)
    query, reference = torch.rand(400, 3) * 2, torch.rand(700, 3) * 2
    q_seg, r_seg = torch.randint(0, 3, (400,)), torch.randint(0, 3, (700,))
    index = nearest_within(query, q_seg, reference, r_seg, 0.15, chunk=chunk)
    distance = torch.cdist(query.double(), reference.double())
    distance[q_seg[:, None] != r_seg[None]] = float("inf")
    nearest, argmin = distance.min(1)
    expected = torch.where(nearest <= 0.15, argmin, -1)
    assert (index == expected).all()
    assert 0 < (index >= 0).sum() < len(index)


def test_empty_inputs_match_nothing() -> None:
    index = nearest_within(torch.rand(5, 3), torch.zeros(5, dtype=torch.long), torch.empty(0, 3),
                           torch.empty(0, dtype=torch.long), 0.1)
    assert (index == -1).all()
