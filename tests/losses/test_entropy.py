import math

import pytest
import torch

from pointdistill.losses.entropy import entropy, marginal_entropy, target_entropy


def test_one_hot_targets_spread_over_prototypes():
    probs = torch.eye(4)  # confident and diverse: healthy
    assert target_entropy(probs).item() == pytest.approx(0.0, abs=1e-6)
    assert marginal_entropy(probs).item() == pytest.approx(math.log(4), abs=1e-6)


def test_collapse_signatures():
    uniform = torch.full((5, 4), 0.25)
    assert target_entropy(uniform).item() == pytest.approx(math.log(4), abs=1e-6)
    same_one_hot = torch.zeros(5, 4)
    same_one_hot[:, 2] = 1.0
    assert target_entropy(same_one_hot).item() == pytest.approx(0.0, abs=1e-6)
    assert marginal_entropy(same_one_hot).item() == pytest.approx(0.0, abs=1e-6)


def test_entropy_of_a_known_distribution_and_leading_dims():
    p = torch.tensor([0.5, 0.25, 0.25])
    assert entropy(p).item() == pytest.approx(1.5 * math.log(2), abs=1e-6)
    views = torch.eye(3).repeat(2, 1).reshape(2, 3, 3)
    assert marginal_entropy(views).item() == pytest.approx(math.log(3), abs=1e-6)
