"""Zipf-Sinkhorn's marginals, its alpha = 0 limit and the softmap loss against slow per-view loops."""

from __future__ import annotations

import math

import pytest
import torch

from pointdistill.losses.softmap import ClusterLoss, SoftmapLoss
from pointdistill.losses.zipf_sinkhorn import ZipfSinkhorn, zipf_prior

K = 16
SIZES = (7, 12, 5)


def views() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    logits = torch.nn.functional.normalize(torch.randn(sum(SIZES), K), dim=1) @ torch.nn.functional.normalize(
        torch.randn(K, K), dim=1
    ).T
    segment = torch.repeat_interleave(torch.arange(len(SIZES)), torch.tensor(SIZES))
    return logits, segment


def slow_sinkhorn(logits: torch.Tensor, temp: float, weights: torch.Tensor, iterations: int) -> torch.Tensor:
    """The textbook algorithm on one view, in float64 and linear space."""
    q = torch.exp(logits.double() / temp)
    q = q / q.sum()
    n = q.shape[0]
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / n
        q = q / q.sum(dim=0, keepdim=True) * weights
    return q


def test_zipf_prior_is_a_normalised_power_law() -> None:
    w = zipf_prior(5, 1.3)
    assert w.sum().item() == pytest.approx(1.0)
    assert w[0] / w[1] == pytest.approx(2**1.3)


@pytest.mark.parametrize("alpha", [0.0, 1.3])
@pytest.mark.parametrize("iterations", [3, 40])
def test_plan_reaches_prototype_totals_exactly_and_point_totals_nearly(alpha: float, iterations: int) -> None:
    """The last scaling is the columns', so w_k holds exactly after any number of iterations; the rows converge
    (3 iterations leave them loose on sharp logits, so their tolerance is checked after 40)."""
    logits, segment = views()
    plan = ZipfSinkhorn(K, alpha=alpha, iterations=iterations).plan(logits, segment, len(SIZES), temp=0.07)
    w = zipf_prior(K, alpha).float()
    start = 0
    for n in SIZES:
        block = plan[start : start + n]
        torch.testing.assert_close(block.sum(dim=0), w, rtol=1e-5, atol=1e-7)
        if iterations > 3:
            torch.testing.assert_close(block.sum(dim=1), torch.full((n,), 1.0 / n), rtol=1e-2, atol=0.0)
        start += n


@pytest.mark.parametrize("alpha", [0.0, 1.3])
def test_plan_equals_the_textbook_loop_per_view(alpha: float) -> None:
    logits, segment = views()
    plan = ZipfSinkhorn(K, alpha=alpha, iterations=3).plan(logits, segment, len(SIZES), temp=0.04)
    start = 0
    for n in SIZES:
        slow = slow_sinkhorn(logits[start : start + n], 0.04, zipf_prior(K, alpha), 3)
        torch.testing.assert_close(plan[start : start + n].double(), slow, rtol=1e-4, atol=1e-9)
        start += n


def test_alpha_zero_is_ordinary_sinkhorn_with_uniform_prototype_mass() -> None:
    logits, segment = views()
    plan = ZipfSinkhorn(K, alpha=0.0).plan(logits, segment, len(SIZES), temp=0.05)
    start = 0
    for n in SIZES:
        torch.testing.assert_close(plan[start : start + n].sum(dim=0), torch.full((K,), 1.0 / K))
        start += n


def test_an_alpha_given_per_call_equals_a_sinkhorn_built_with_it() -> None:
    """The alpha warm-up passes the exponent of the step; the configured one is used otherwise."""
    logits, segment = views()
    for rank in ("index", "usage"):
        ramped = ZipfSinkhorn(K, alpha=1.3, rank=rank)(logits, segment, len(SIZES), temp=0.05, alpha=0.4)
        built = ZipfSinkhorn(K, alpha=0.4, rank=rank)(logits, segment, len(SIZES), temp=0.05)
        torch.testing.assert_close(ramped, built)
    default = ZipfSinkhorn(K, alpha=1.3)
    torch.testing.assert_close(default(logits, segment, len(SIZES), temp=0.05),
                               default(logits, segment, len(SIZES), temp=0.05, alpha=1.3))


def test_every_softmap_column_sums_to_one_over_its_view() -> None:
    logits, segment = views()
    for support in ("view", "batch"):
        maps = ZipfSinkhorn(K, support=support)(logits, segment, len(SIZES), temp=0.04)
        totals = torch.zeros(len(SIZES), K).index_add_(0, segment, maps)
        torch.testing.assert_close(totals, torch.ones(len(SIZES), K))


def test_extreme_logits_stay_finite() -> None:
    logits, segment = views()
    maps = ZipfSinkhorn(K)(logits * 1e3, segment, len(SIZES), temp=0.04)
    assert torch.isfinite(maps).all()


def test_usage_ranking_gives_the_most_used_prototype_the_largest_weight() -> None:
    sinkhorn = ZipfSinkhorn(K, rank="usage", usage_momentum=0.0)
    logits, segment = views()
    logits[:, 5] += 5.0
    sinkhorn.plan(logits, segment, len(SIZES), temp=0.1)
    sinkhorn.usage.commit()
    assert int(sinkhorn.usage.ranks()[5]) == 1
    assert sinkhorn.log_weights()[5] == pytest.approx(math.log(zipf_prior(K, 1.3)[0].item()), rel=1e-5)


def test_softmap_loss_equals_a_slow_loop() -> None:
    logits, segment = views()
    targets = ZipfSinkhorn(K)(logits.flip(0), segment, len(SIZES), temp=0.04)
    student = torch.randn(len(segment), K, generator=torch.Generator().manual_seed(1))
    loss = SoftmapLoss(0.1)(targets, student, segment, len(SIZES))
    start = 0
    for v, n in enumerate(SIZES):
        total = 0.0
        for k in range(K):
            column = student[start : start + n, k] / 0.1
            softmap = torch.exp(column) / torch.exp(column).sum()
            total += -(targets[start : start + n, k] * softmap.log()).sum().item()
        assert loss[v].item() == pytest.approx(total / K, rel=1e-5)
        start += n


def test_cluster_loss_equals_a_slow_loop() -> None:
    logits, segment = views()
    targets = torch.softmax(logits / 0.04, dim=1)
    student = torch.randn(len(segment), K, generator=torch.Generator().manual_seed(2))
    loss = ClusterLoss(0.1)(targets, student, segment, len(SIZES))
    start = 0
    for v, n in enumerate(SIZES):
        total = sum(
            -(targets[i] * torch.log_softmax(student[i] / 0.1, dim=0)).sum().item() for i in range(start, start + n)
        )
        assert loss[v].item() == pytest.approx(total / n, rel=1e-5)
        start += n
