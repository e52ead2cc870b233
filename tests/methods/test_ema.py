import pytest
import torch
from torch import nn

from pointdistill.methods.ema import ema_update, make_teacher, unwrap


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_make_teacher_copies_and_freezes():
    student = _net()
    teacher = make_teacher(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in student.parameters())
    for t, s in zip(teacher.parameters(), student.parameters()):
        assert torch.equal(t, s) and t.data_ptr() != s.data_ptr()


def test_ema_matches_hand_computation_and_copies_buffers():
    torch.manual_seed(0)
    student = _net()
    teacher = make_teacher(student)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    student.train()(torch.randn(8, 3))  # changes BatchNorm running stats
    before = [t.clone() for t in teacher.parameters()]
    ema_update(teacher, student, momentum=0.9)
    for t, old, s in zip(teacher.parameters(), before, student.parameters()):
        assert torch.allclose(t, 0.9 * old + 0.1 * s, atol=1e-6)
    assert torch.equal(teacher[1].running_mean, student[1].running_mean)
    assert teacher[1].num_batches_tracked == student[1].num_batches_tracked == 1


def test_momentum_one_keeps_teacher_and_zero_copies_student():
    student = _net()
    teacher = make_teacher(student)
    with torch.no_grad():
        student[0].weight.mul_(3.0)
    kept = teacher[0].weight.clone()
    ema_update(teacher, student, momentum=1.0)
    assert torch.equal(teacher[0].weight, kept)
    ema_update(teacher, student, momentum=0.0)
    assert torch.equal(teacher[0].weight, student[0].weight)
    with pytest.raises(ValueError):
        ema_update(teacher, student, momentum=1.5)


def test_mismatched_architecture_is_rejected():
    with pytest.raises(ValueError, match="differ"):
        ema_update(nn.Linear(3, 4), _net(), momentum=0.9)
    with pytest.raises(ValueError, match="shape"):
        ema_update(nn.Linear(3, 4), nn.Linear(3, 5), momentum=0.9)


def test_unwraps_dataparallel_style_wrappers():
    student = _net()
    wrapped = nn.DataParallel(student)
    assert unwrap(wrapped) is student
    teacher = make_teacher(wrapped)
    before = teacher[2].bias.clone()
    with torch.no_grad():
        student[2].bias.fill_(2.0)
    ema_update(teacher, wrapped, momentum=0.5)
    assert torch.allclose(teacher[2].bias, 0.5 * before + 1.0)
