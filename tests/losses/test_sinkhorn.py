import pytest
import torch

from pointdistill.losses.sinkhorn import SinkhornKnopp


def test_marginals():
    torch.manual_seed(0)
    logits = torch.randn(12, 4)
    probs = SinkhornKnopp(num_iterations=3)(logits, temp=0.5)
    assert torch.allclose(probs.sum(dim=1), torch.ones(12), atol=1e-5)  # every sample is a distribution
    # After 3 iterations the prototype marginals are close to B/K; after many they are exact.
    assert torch.allclose(probs.sum(dim=0), torch.full((4,), 3.0), atol=0.3)
    converged = SinkhornKnopp(num_iterations=200)(logits, temp=0.5)
    assert torch.allclose(converged.sum(dim=0), torch.full((4,), 3.0), atol=1e-4)
    assert torch.allclose(converged.sum(dim=1), torch.ones(12), atol=1e-5)


def test_equalises_a_dominant_prototype_and_keeps_shape():
    logits = torch.zeros(2, 8, 3)
    logits[..., 0] = 1.0  # every sample prefers prototype 0
    probs = SinkhornKnopp(num_iterations=50)(logits, temp=0.1)
    assert probs.shape == (2, 8, 3)
    assert torch.allclose(probs.reshape(-1, 3).mean(dim=0), torch.full((3,), 1 / 3), atol=1e-4)
    assert torch.softmax(logits / 0.1, dim=-1)[0, 0, 0] > 0.99


def _textbook(logits: torch.Tensor, temp: float, iterations: int) -> torch.Tensor:
    q = torch.exp(logits / temp).T  # [K, B]
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / k
        q = q / q.sum(dim=0, keepdim=True) / b
    return (q * b).T


def test_matches_the_textbook_exp_space_algorithm():
    torch.manual_seed(1)
    logits = torch.randn(10, 6).clamp(-1, 1)
    expected = _textbook(logits.double(), 0.05, 3).float()
    assert torch.allclose(SinkhornKnopp(3)(logits, temp=0.05), expected, atol=1e-5)


def test_large_logits_stay_finite_and_bad_iterations_rejected():
    probs = SinkhornKnopp()(torch.randn(6, 5) * 100, temp=0.04)
    assert torch.isfinite(probs).all()
    assert torch.allclose(probs.sum(dim=1), torch.ones(6), atol=1e-5)
    with pytest.raises(ValueError):
        SinkhornKnopp(num_iterations=0)
