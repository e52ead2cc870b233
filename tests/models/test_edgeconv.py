"""The memory-lean EdgeConv against DGCNN's EdgeConv written out on the full [B, N, k, 2C] edge features."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pointdistill.models.dgcnn import DGCNN, EdgeConv


def _reference(conv: EdgeConv, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """max_j LeakyReLU(norm(W [x_j - x_i, x_i])): the edge tensor materialised, the norm over all its elements."""
    batch, points, k = index.shape
    neighbours = x.gather(1, index.reshape(batch, -1, 1).expand(-1, -1, x.shape[-1])).reshape(batch, points, k, -1)
    centres = x.unsqueeze(2).expand_as(neighbours)
    edges = F.linear(torch.cat([neighbours - centres, centres], dim=-1), conv.linear.weight)
    return F.leaky_relu(conv.norm(edges), 0.2).amax(dim=2)


def _pair(norm: str, seed: int = 0) -> tuple[EdgeConv, EdgeConv]:
    """The lean layer (sliced into many small pieces) and a copy for the reference, with non-trivial norm params."""
    torch.manual_seed(seed)
    lean = EdgeConv(5, 7, norm, chunk_elements=64)
    with torch.no_grad():
        lean.norm.weight.uniform_(-1.5, 1.5)
        lean.norm.bias.normal_()
        if norm == "batch":
            lean.norm.running_mean.normal_()
            lean.norm.running_var.uniform_(0.5, 2.0)
    reference = EdgeConv(5, 7, norm)
    reference.load_state_dict(lean.state_dict())
    return lean, reference


def _inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = (torch.randn(3, 13, 5, generator=generator) * 2 + 0.5).requires_grad_()
    index = torch.randint(0, 13, (3, 13, 4), generator=generator)
    return x, index


def _grads(conv: EdgeConv, x: torch.Tensor, out: torch.Tensor, upstream: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(out, [x, *conv.parameters()], upstream))


@pytest.mark.parametrize("norm", ["layer", "batch"])
@pytest.mark.parametrize("training", [True, False])
def test_values_and_gradients_match_the_definition(norm: str, training: bool) -> None:
    lean, reference = _pair(norm)
    lean.train(training)
    reference.train(training)
    x, index = _inputs()
    out, expected = lean(x, index), _reference(reference, x, index)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    upstream = torch.randn_like(out)
    for got, want in zip(_grads(lean, x, out, upstream), _grads(reference, x, expected, upstream)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for name, buffer in reference.norm.named_buffers():
        torch.testing.assert_close(getattr(lean.norm, name), buffer, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_running_statistics_follow_batchnorm(momentum: float | None) -> None:
    lean, reference = _pair("batch")
    lean.norm.momentum = reference.norm.momentum = momentum
    for seed in range(3):
        x, index = _inputs(seed)
        lean(x, index)
        _reference(reference, x, index)
    assert int(lean.norm.num_batches_tracked) == 3
    torch.testing.assert_close(lean.norm.running_mean, reference.norm.running_mean, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(lean.norm.running_var, reference.norm.running_var, atol=1e-6, rtol=1e-5)


def test_slicing_does_not_change_the_result() -> None:
    torch.manual_seed(0)
    model = DGCNN(k=6, widths=(8, 16), out_dim=12, norm="batch")
    points = torch.randn(2, 40, 3)
    whole = model(points).global_feature
    for layer in model.layers:
        layer.chunk_elements = 1
    torch.testing.assert_close(model(points).global_feature, whole, atol=1e-5, rtol=1e-5)


def test_teacher_forward_under_no_grad_and_bf16() -> None:
    lean, reference = _pair("layer")
    x, index = _inputs()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = lean(x, index)
    assert low.dtype == torch.bfloat16 and not low.requires_grad
    torch.testing.assert_close(low.float(), _reference(reference, x, index).detach(), atol=0.1, rtol=0.05)


def test_backward_keeps_no_edge_tensor() -> None:
    """What autograd saves for backward is a few [B, N, C'] tensors, not the [B, N, k, C'] edges (20x larger)."""
    saved: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor.numel())
        return tensor

    for norm in ("layer", "batch"):
        conv = EdgeConv(16, 32, norm).train()
        x = torch.randn(2, 256, 16, requires_grad=True)
        index = torch.randint(0, 256, (2, 256, 20))
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            out = conv(x, index)
        out.sum().backward()
        assert max(saved) <= 2 * 256 * 32, norm


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_backward_under_bf16_autocast(norm: str) -> None:
    """A bf16 autocast step (backward rebuilds the edges under the same autocast state) tracks the fp32 gradients."""
    lean, reference = _pair(norm)
    x, index = _inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = lean(x, index)
    (grad_low,) = torch.autograd.grad(low.float().square().sum(), [x])
    (grad_ref,) = torch.autograd.grad(_reference(reference, x, index).square().sum(), [x])
    assert F.cosine_similarity(grad_low.flatten(), grad_ref.flatten(), dim=0) > 0.99
