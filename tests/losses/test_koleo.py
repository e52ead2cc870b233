import math

import pytest
import torch

from pointdistill.losses.koleo import KoLeoLoss


def test_square_on_the_circle():
    # Four unit vectors 90 degrees apart: every nearest neighbour is sqrt(2) away.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]) * 3.0  # scale is normalised away
    assert KoLeoLoss()(x).item() == pytest.approx(-math.log(math.sqrt(2.0)), abs=1e-6)


def test_nearest_neighbour_not_mean_distance():
    # Two close points and one far: the pair sets the distance for both close points.
    angle = 0.1
    x = torch.tensor([[1.0, 0.0], [math.cos(angle), math.sin(angle)], [-1.0, 0.0]])
    close = 2 * math.sin(angle / 2)
    far = math.dist((math.cos(angle), math.sin(angle)), (-1.0, 0.0))
    expected = -(2 * math.log(close) + math.log(far)) / 3
    assert KoLeoLoss()(x).item() == pytest.approx(expected, abs=1e-5)


def test_gradient_spreads_points_and_bad_input_rejected():
    x = torch.tensor([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0]], requires_grad=True)
    before = KoLeoLoss()(x)
    before.backward()
    with torch.no_grad():
        after = KoLeoLoss()(x - 0.05 * x.grad)
    assert after < before
    with pytest.raises(ValueError):
        KoLeoLoss()(torch.randn(1, 4))


def test_slots_are_separate_batches():
    """[B, S, D]: nearest neighbours are sought within each slot only; the loss is the mean over all slots."""
    torch.manual_seed(0)
    x = torch.randn(5, 3, 4)
    per_slot = torch.stack([KoLeoLoss(1e-6)(x[:, s]) for s in range(3)])
    assert KoLeoLoss(1e-6)(x).item() == pytest.approx(per_slot.mean().item(), abs=1e-6)
    mixed = x.clone()
    mixed[0, 1] = x[1, 0]  # a copy of sample 1 of slot 0 in slot 1 must not be its neighbour
    assert KoLeoLoss(1e-6)(mixed[:, :1]).item() == pytest.approx(per_slot[0].item(), abs=1e-6)
