import copy

import pytest
import torch

from pointdistill.models.heads import ProjectionHead


def test_shapes_and_layers():
    head = ProjectionHead(48, out_dim=32, hidden_dim=64, bottleneck_dim=16, nlayers=3)
    x = torch.randn(5, 48)
    assert head(x).shape == (5, 32)
    assert head(torch.randn(2, 3, 48)).shape == (2, 3, 32)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(48, 64), (64, 64), (64, 16)]
    assert head.last_layer.bias is None
    single = ProjectionHead(48, out_dim=32, bottleneck_dim=16, nlayers=1)
    assert [type(m) for m in single.mlp] == [torch.nn.Linear]
    with pytest.raises(ValueError):
        ProjectionHead(48, out_dim=32, nlayers=0)


def test_prototypes_stay_unit_norm_and_logits_are_cosines():
    torch.manual_seed(0)
    head = ProjectionHead(8, out_dim=10, hidden_dim=16, bottleneck_dim=4)
    magnitude = head.last_layer.parametrizations.weight.original0
    assert not magnitude.requires_grad
    optimizer = torch.optim.SGD([p for p in head.parameters() if p.requires_grad], lr=1.0)
    for _ in range(3):
        optimizer.zero_grad()
        head(torch.randn(6, 8)).square().sum().backward()
        optimizer.step()
    assert torch.allclose(head.prototypes.norm(dim=1), torch.ones(10), atol=1e-5)
    logits = head(torch.randn(20, 8))
    assert logits.abs().max() <= 1.0 + 1e-5
    assert torch.allclose(head.embed(torch.randn(3, 8)).norm(dim=-1), torch.ones(3), atol=1e-5)


def test_magnitude_trainable_without_norm_last_layer():
    head = ProjectionHead(8, out_dim=10, hidden_dim=16, bottleneck_dim=4, norm_last_layer=False)
    assert head.last_layer.parametrizations.weight.original0.requires_grad


def test_cancel_last_layer_gradients_keeps_mlp_gradients():
    head = ProjectionHead(8, out_dim=10, hidden_dim=16, bottleneck_dim=4, norm_last_layer=False)
    head(torch.randn(4, 8)).sum().backward()
    head.cancel_last_layer_gradients()
    assert all(p.grad is None for p in head.last_layer.parameters())
    assert all(p.grad is not None for p in head.mlp.parameters())


def test_deepcopy_keeps_weight_norm():
    head = ProjectionHead(8, out_dim=10, hidden_dim=16, bottleneck_dim=4)
    clone = copy.deepcopy(head)
    x = torch.randn(3, 8)
    assert torch.equal(head(x), clone(x))
    assert clone.last_layer.parametrizations.weight.original0 is not head.last_layer.parametrizations.weight.original0
