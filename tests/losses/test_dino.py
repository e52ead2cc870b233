import math

import pytest
import torch

from pointdistill.losses.dino import DINOLoss, token_cross_entropy


def _hand_ce(teacher: torch.Tensor, student_logits: torch.Tensor, temp: float) -> float:
    log_probs = torch.log_softmax(student_logits / temp, dim=-1)
    return float(-(teacher * log_probs).sum(-1).mean())


def test_pairs_on_a_hand_example():
    torch.manual_seed(0)
    teacher = torch.softmax(torch.randn(2, 3, 4), dim=-1)  # I=2 views, B=3, K=4
    student = torch.randn(3, 3, 4)  # J=3 views
    loss = DINOLoss(student_temp=0.1)
    pairs = loss.pair_losses(teacher, student)
    assert pairs.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert pairs[i, j].item() == pytest.approx(_hand_ce(teacher[i], student[j], 0.1), rel=1e-5)
    assert loss(teacher, student).item() == pytest.approx(pairs.sum().item() / 6, rel=1e-5)
    off_diagonal = (pairs.sum() - pairs[0, 0] - pairs[1, 1]).item() / 4  # (0,1), (0,2), (1,0), (1,2)
    assert loss(teacher, student, exclude_diagonal=True).item() == pytest.approx(off_diagonal, rel=1e-5)


def test_dcglr_global_loss_uses_the_two_cross_pairs():
    teacher = torch.softmax(torch.randn(2, 5, 6), dim=-1)
    student = torch.randn(2, 5, 6)
    expected = (_hand_ce(teacher[0], student[1], 0.1) + _hand_ce(teacher[1], student[0], 0.1)) / 2
    assert DINOLoss(0.1)(teacher, student, exclude_diagonal=True).item() == pytest.approx(expected, rel=1e-5)


def test_loss_is_entropy_when_student_matches_teacher():
    target = torch.tensor([[[0.5, 0.5, 0.0]]])
    student = torch.tensor([[[0.0, 0.0, -1e4]]])
    assert DINOLoss(1.0)(target, student).item() == pytest.approx(math.log(2), abs=1e-5)


def test_gradient_reaches_student_only_and_bad_shapes_rejected():
    teacher = torch.softmax(torch.randn(2, 3, 4), dim=-1)
    student = torch.randn(2, 3, 4, requires_grad=True)
    DINOLoss()(teacher, student).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        DINOLoss()(teacher, torch.randn(2, 4, 4))
    with pytest.raises(ValueError):
        DINOLoss()(teacher[:1], student[:1].detach(), exclude_diagonal=True)
    with pytest.raises(ValueError):
        DINOLoss(student_temp=0.0)


def test_token_cross_entropy_is_the_mean_over_tokens() -> None:
    torch.manual_seed(0)
    targets = torch.softmax(torch.randn(3, 5, 7), dim=-1)
    logits = torch.randn(3, 5, 7)
    expected = torch.stack(
        [-(targets[i, j] * torch.log_softmax(logits[i, j] / 0.1, -1)).sum() for i in range(3) for j in range(5)]
    ).mean()
    torch.testing.assert_close(token_cross_entropy(targets, logits, 0.1), expected)
