"""DGCNN, PointNet and PCT behind the same interface as the ViT."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.models import DGCNN, PCT, EncoderConfig, PointEncoder, PointNet, build_encoder, feature_knn
from pointdistill.models.common import edge_linear


@pytest.fixture(scope="module")
def encoders() -> dict[str, PointEncoder]:
    torch.manual_seed(0)
    return {name: build_encoder(EncoderConfig(name=name)).eval() for name in ("dgcnn", "pointnet", "pct")}


def _token_count(name: str, points: int) -> int:
    return points // 4 if name == "pct" else points


@pytest.mark.parametrize("name", ["dgcnn", "pointnet", "pct"])
@pytest.mark.parametrize(("batch", "points"), [(1, 1024), (2, 256), (1, 512)])
def test_output_shapes(encoders: dict[str, PointEncoder], name: str, batch: int, points: int) -> None:
    model = encoders[name]
    out = model(torch.randn(batch, points, 3))
    tokens = _token_count(name, points)
    assert out.tokens.shape == (batch, tokens, model.token_dim)
    assert out.centers.shape == (batch, tokens, 3)
    assert out.global_feature.shape == (batch, model.feature_dim)
    assert out.cls is None


def test_dimensions() -> None:
    assert (DGCNN().token_dim, DGCNN().feature_dim) == (1024, 2048)
    assert (PointNet().token_dim, PointNet().feature_dim) == (1024, 1024)
    assert (PCT().token_dim, PCT().feature_dim) == (1024, 2048)


@pytest.mark.parametrize(("name", "index", "width"), [("dgcnn", 2, 128), ("pointnet", 3, 128), ("pct", -1, 256)])
def test_return_hidden(encoders: dict[str, PointEncoder], name: str, index: int, width: int) -> None:
    out = encoders[name](torch.randn(2, 256, 3), return_hidden=[index])
    assert len(out.hidden) == 1 and out.hidden[0].shape == (2, _token_count(name, 256), width)
    with pytest.raises(ValueError, match="out of range"):
        encoders[name](torch.randn(1, 256, 3), return_hidden=[7])


@pytest.mark.parametrize("name", ["dgcnn", "pointnet"])
def test_point_order_only_permutes_tokens(encoders: dict[str, PointEncoder], name: str) -> None:
    torch.manual_seed(1)
    points = torch.randn(1, 256, 3)
    perm = torch.randperm(256)
    out, shuffled = encoders[name](points), encoders[name](points[:, perm])
    torch.testing.assert_close(shuffled.tokens, out.tokens[:, perm], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(shuffled.global_feature, out.global_feature, atol=1e-4, rtol=1e-4)


def test_pct_num_groups_sets_the_token_count(encoders: dict[str, PointEncoder]) -> None:
    assert encoders["pct"](torch.randn(1, 256, 3), num_groups=32).tokens.shape == (1, 32, 1024)
    with pytest.raises(ValueError, match="num_groups"):
        encoders["pct"](torch.randn(1, 256, 3), num_groups=300)


@pytest.mark.parametrize("name", ["dgcnn", "pointnet", "pct"])
def test_gradients_and_bf16(name: str) -> None:
    torch.manual_seed(0)
    model = build_encoder(EncoderConfig(name=name, norm="batch")).train()
    points = torch.randn(2, 256, 3)
    out = model(points)
    out.global_feature.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    model.eval()
    reference = model(points)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(points)
    assert F.cosine_similarity(low.global_feature.float(), reference.global_feature).min() > 0.99


def test_feature_knn_matches_brute_force_and_chunking() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 50, 8)
    expected = torch.cdist(x, x).topk(5, largest=False).indices
    assert torch.equal(feature_knn(x, 5), expected)
    assert torch.equal(feature_knn(x, 5, chunk_elements=7), expected)
    padded = feature_knn(x[:, :3], 5)
    assert padded.shape == (2, 3, 5) and torch.equal(padded[..., 3:], padded[..., :1].expand(-1, -1, 2))


def test_feature_knn_ignores_autocast() -> None:
    x = torch.randn(1, 40, 16) * 100
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = feature_knn(x, 4)
    assert torch.equal(low, feature_knn(x, 4))


def test_edge_linear_equals_concatenated_edge_features() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(2 * 6, 10)
    source, centres = torch.randn(2, 20, 6), torch.randn(2, 4, 6)
    index = torch.randint(0, 20, (2, 4, 3))
    neighbours = torch.stack([source[b][index[b]] for b in range(2)])
    edges = torch.cat([neighbours - centres.unsqueeze(2), centres.unsqueeze(2).expand_as(neighbours)], -1)
    torch.testing.assert_close(edge_linear(linear, source, centres, index), linear(edges), atol=1e-5, rtol=1e-5)
