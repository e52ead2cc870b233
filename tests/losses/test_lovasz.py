"""Lovasz-softmax against a slow per-class reference written from the paper's Algorithm 1."""

from __future__ import annotations

import torch

from pointdistill.losses.lovasz import LovaszSoftmax, lovasz_softmax


def _reference(probabilities: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    losses = []
    for c in range(probabilities.shape[1]):
        foreground = (target == c).double()
        if foreground.sum() == 0:
            continue
        errors = (foreground - probabilities[:, c].double()).abs()
        order = torch.argsort(errors, descending=True)
        jaccards = []
        for k in range(1, len(order) + 1):
            top = order[:k]
            intersection = foreground.sum() - foreground[top].sum()
            union = foreground.sum() + (1 - foreground[top]).sum()
            jaccards.append(1 - intersection / union)
        jaccards = torch.stack(jaccards)
        gradient = torch.cat([jaccards[:1], jaccards[1:] - jaccards[:-1]])
        losses.append((errors[order] * gradient).sum())
    return torch.stack(losses).mean()


def test_lovasz_softmax_equals_the_slow_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 5, generator=generator)
    target = torch.randint(0, 4, (40,), generator=generator)  # class 4 absent: not averaged
    target[:3] = -1
    keep = target >= 0
    expected = _reference(logits[keep].softmax(1), target[keep])
    assert torch.allclose(LovaszSoftmax()(logits, target).double(), expected, atol=1e-6)


def test_lovasz_is_zero_for_a_perfect_prediction_and_has_gradients() -> None:
    target = torch.tensor([0, 1, 2, 1, 0])
    perfect = torch.nn.functional.one_hot(target, 3).float()
    assert lovasz_softmax(perfect, target).item() == 0.0
    logits = torch.randn(5, 3, requires_grad=True)
    LovaszSoftmax()(logits, target).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
