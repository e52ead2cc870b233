"""3D-ViT: shapes for every cloud size, presets, hidden states, the split API used by masked students."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pointdistill.config import load_config
from pointdistill.models import EncoderConfig, PointViT, build_encoder
from pointdistill.ops import gather_points


def _tiny(**overrides) -> PointViT:
    torch.manual_seed(0)
    cfg = EncoderConfig(name="vit", preset="tiny", embed_dim=48, depth=3, num_heads=3, drop_path=0.0, **overrides)
    return build_encoder(cfg).eval()


@pytest.fixture(scope="module")
def vit() -> PointViT:
    return _tiny()


@pytest.mark.parametrize(("batch", "points", "groups"), [(1, 1024, 64), (2, 256, 16), (2, 512, 32), (1, 2048, 128)])
def test_default_patch_count_follows_the_cloud_size(vit: PointViT, batch: int, points: int, groups: int) -> None:
    out = vit(torch.randn(batch, points, 3))
    assert out.tokens.shape == (batch, groups, 48)
    assert out.centers.shape == (batch, groups, 3)
    assert out.cls.shape == out.global_feature.shape == (batch, 48)
    assert torch.equal(out.global_feature, out.cls)
    assert out.hidden == []


def test_num_groups_overrides_the_default(vit: PointViT) -> None:
    assert vit(torch.randn(2, 256, 3), num_groups=8).tokens.shape == (2, 8, 48)
    with pytest.raises(ValueError, match="fewer than"):
        vit(torch.randn(1, 16, 3), num_groups=32)


def test_tiny_preset_uses_the_light_patch_embedding() -> None:
    model = build_encoder(EncoderConfig(name="vit", preset="tiny"))
    assert (model.token_dim, len(model.blocks), model.blocks[0].attn.num_heads) == (192, 6, 3)
    assert model.patch_embed.local[0].out_features == 64


@pytest.mark.parametrize(("preset", "expected"), [("s", 21.8e6), ("b", 85.8e6)])
def test_preset_parameter_counts(preset: str, expected: float) -> None:
    with torch.device("meta"):
        model = build_encoder(EncoderConfig(name="vit", preset=preset))
    count = sum(p.numel() for p in model.parameters())
    print(f"ViT-{preset.upper()} parameters: {count / 1e6:.3f}M")
    assert abs(count - expected) <= 0.3e6


def test_return_hidden_gives_requested_blocks_in_order(vit: PointViT) -> None:
    out = vit(torch.randn(2, 256, 3), return_hidden=[-1, 0])
    assert [h.shape for h in out.hidden] == [(2, 16, 48), (2, 16, 48)]
    torch.testing.assert_close(out.hidden[0], out.tokens)
    assert not torch.allclose(out.hidden[1], out.tokens)
    with pytest.raises(ValueError, match="out of range"):
        vit(torch.randn(1, 256, 3), return_hidden=[3])


def test_raw_hidden_states_skip_the_final_norm() -> None:
    model = _tiny(hidden_norm=False)
    out = model(torch.randn(1, 256, 3), return_hidden=[2])
    torch.testing.assert_close(model.norm(out.hidden[0]), out.tokens)


def test_position_is_added_before_every_block(vit: PointViT) -> None:
    """Block i sees (CLS + patch tokens for i = 0, block i-1's output after) + (0 for CLS, pos for patches), every
    block runs once in order, and the output tokens are the last block's, normed."""
    inputs, outputs = [], []

    def record(module: torch.nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        inputs.append(args[0])
        outputs.append(output)

    points = torch.randn(1, 256, 3)
    hooks = [block.register_forward_hook(record) for block in vit.blocks]
    try:
        out = vit(points)
    finally:
        for hook in hooks:
            hook.remove()
    tokens, pos = vit.embed(vit.patchify(points))
    assert pos.abs().amax() > 1e-3, "pos must stand far above assert_close's tolerance, or a skip would pass"
    assert len(inputs) == len(vit.blocks) == 3
    position = torch.cat([torch.zeros_like(pos[:, :1]), pos], dim=1)
    expected = torch.cat([vit.cls_token.expand(1, -1, -1), tokens], dim=1) + position
    for index, (block_input, block_output) in enumerate(zip(inputs, outputs)):
        torch.testing.assert_close(block_input, expected, msg=f"block {index} input is not previous state + position")
        expected = block_output + position
    torch.testing.assert_close(out.tokens, vit.norm(outputs[-1])[:, 1:])
    torch.testing.assert_close(out.cls, vit.norm(outputs[-1])[:, 0])


def test_embed_then_encode_equals_forward(vit: PointViT) -> None:
    points = torch.randn(2, 512, 3)
    patches = vit.patchify(points)
    tokens, pos = vit.embed(patches)
    split = vit.encode(tokens, pos, patches.centers, return_hidden=[1])
    whole = vit(points, return_hidden=[1])
    for a, b in [(split.tokens, whole.tokens), (split.cls, whole.cls), (split.hidden[0], whole.hidden[0])]:
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(split.centers, whole.centers)


def test_encoding_a_visible_subset_ignores_the_other_patches(vit: PointViT) -> None:
    patches = vit.patchify(torch.randn(2, 256, 3))
    tokens, pos = vit.embed(patches)
    visible = torch.tensor([[0, 3, 5, 9], [1, 2, 8, 15]])
    centers = gather_points(patches.centers, visible)
    out = vit.encode(gather_points(tokens, visible), gather_points(pos, visible), centers)
    assert out.tokens.shape == (2, 4, 48)
    corrupted = tokens.clone()
    corrupted[:, 10:13] = 100.0
    again = vit.encode(gather_points(corrupted, visible), gather_points(pos, visible), out.centers)
    torch.testing.assert_close(again.tokens, out.tokens)


def test_gradients_reach_every_parameter() -> None:
    model = _tiny().train()
    out = model(torch.randn(2, 256, 3))
    (out.tokens.square().mean() + out.cls.sum()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_bf16_autocast_is_close_to_fp32(vit: PointViT) -> None:
    points = torch.randn(2, 512, 3)
    reference = vit(points)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = vit(points)
    assert F.cosine_similarity(low.cls.float(), reference.cls).min() > 0.99
    assert (low.tokens.float() - reference.tokens).norm() / reference.tokens.norm() < 0.05


def test_same_seed_same_model_and_output() -> None:
    points = torch.randn(1, 256, 3)
    a, b = _tiny(), _tiny()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert torch.equal(a(points).tokens, b(points).tokens)


def test_cls_attention_is_a_distribution_over_patches(vit: PointViT) -> None:
    weights, centers = vit.cls_attention(torch.randn(2, 256, 3))
    assert weights.shape == (2, 3, 16) and centers.shape == (2, 16, 3)
    assert torch.all(weights >= 0) and torch.all(weights.sum(-1) <= 1.0 + 1e-6)


def test_bad_points_shape_is_rejected(vit: PointViT) -> None:
    with pytest.raises(ValueError, match=r"\[B, N, 3\]"):
        vit(torch.randn(2, 256, 6))


@pytest.mark.parametrize(("uniform", "expected"), [(False, [0.0, 0.1, 0.2]), (True, [0.2, 0.2, 0.2])])
def test_drop_path_ramps_linearly_or_is_uniform(uniform: bool, expected: list[float]) -> None:
    vit = build_encoder(
        EncoderConfig(name="vit", embed_dim=48, depth=3, num_heads=3, drop_path=0.2, drop_path_uniform=uniform)
    )
    rates = [block.drop_path1.drop_prob for block in vit.blocks]
    assert rates == pytest.approx(expected)


def test_asymdsd_b_presets_use_the_reference_uniform_drop_path() -> None:
    for name in ("asymdsd-vit-b", "asymdsd-cls-vit-b", "asymdsd-mpm-vit-b"):
        cfg = load_config(name)
        assert cfg.encoder.drop_path == 0.2 and cfg.encoder.drop_path_uniform, name


def test_vit_without_cls_token_feeds_only_patches_and_mean_pools() -> None:
    vit = _tiny(cls_token=False)
    assert vit.cls_token is None
    points = torch.randn(2, 256, 3)
    out = vit(points, return_hidden=[0])
    assert out.cls is None and out.tokens.shape == (2, 16, 48) and out.hidden[0].shape == (2, 16, 48)
    torch.testing.assert_close(out.global_feature, out.tokens.mean(dim=1))
    patches = vit.patchify(points)
    tokens, pos = vit.embed(patches)
    x = tokens
    for block in vit.blocks:
        x = block(x + pos)
    torch.testing.assert_close(out.tokens, vit.norm(x))
    with pytest.raises(ValueError, match="cls_token=False"):
        vit.cls_attention(points)
