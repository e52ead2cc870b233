"""The scene encoder end to end: batch independence, tiny scenes, up-cast widths, gradients, order shuffling."""

from __future__ import annotations

import pytest
import torch

from pointdistill.models.scene import SceneEncoder, ScenePyramid
from pointdistill.models.stochastic import sample_keys


def surface_scene(num_points: int, seed: int, size: float = 2.0) -> torch.Tensor:
    """Points [N, 3] on a floor and two walls of a box room (a scene-like 2D manifold in 3D)."""
    generator = torch.Generator().manual_seed(seed)
    uv = torch.rand(num_points, 2, generator=generator) * size
    plane = torch.randint(0, 3, (num_points,), generator=generator)
    zero = torch.zeros(num_points)
    floor = torch.stack([uv[:, 0], uv[:, 1], zero], dim=1)
    wall_x = torch.stack([zero, uv[:, 0], uv[:, 1]], dim=1)
    wall_y = torch.stack([uv[:, 0], zero, uv[:, 1]], dim=1)
    options = torch.stack([floor, wall_x, wall_y])
    return options[plane, torch.arange(num_points)]


def small_encoder(**overrides) -> SceneEncoder:
    torch.manual_seed(0)
    options = dict(widths=(16, 24, 32), depths=(2, 1, 1), heads=(2, 2, 4), patch_size=32, grid_size=0.1)
    options.update(overrides)
    return SceneEncoder(6, **options)


def scenes(*sizes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    coord = torch.cat([surface_scene(n, seed=i, size=2.0 + 2.0 * i) + 5.0 * i for i, n in enumerate(sizes)])
    feat = torch.randn(coord.shape[0], 6, generator=torch.Generator().manual_seed(9))
    return coord, feat, torch.tensor(sizes).cumsum(0)


@pytest.mark.parametrize("position", ["cpe", "rope"])
def test_a_batch_computes_what_each_scene_computes_alone(position: str) -> None:
    # Hilbert first: coarse stages have one block, and the scenes' curve depths differ (5 and 6 bits at level 0).
    encoder = small_encoder(position=position, orders=("hilbert", "hilbert-trans", "z", "z-trans")).eval()
    coord, feat, offset = scenes(300, 170)
    with torch.no_grad():
        together = encoder(coord, feat, offset)
        alone = [encoder(coord[:300], feat[:300], offset[:1]), encoder(coord[300:], feat[300:], offset[1:] - 300)]
    for level in range(3):
        split = together.offsets[level][0]
        torch.testing.assert_close(together.feats[level][:split], alone[0].feats[level], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(together.feats[level][split:], alone[1].feats[level], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(together.upcast()[:300], alone[0].upcast(), atol=1e-5, rtol=1e-4)


def test_scenes_smaller_than_a_patch_and_single_points_run() -> None:
    encoder = small_encoder().eval()
    coord, feat, offset = scenes(1, 20, 100)
    with torch.no_grad():
        pyramid = encoder(coord, feat, offset)
        single = encoder(coord[:1], feat[:1], offset[:1])
    assert pyramid.upcast().shape == (121, 72) and torch.isfinite(pyramid.upcast()).all()
    assert [o.tolist()[0] for o in pyramid.offsets] == [1, 1, 1]
    torch.testing.assert_close(single.upcast(), pyramid.upcast()[:1], atol=1e-5, rtol=1e-4)


def test_upcast_widths_of_the_sonata_pyramid() -> None:
    widths, sizes = (48, 96, 192, 384, 512), (64, 32, 16, 8, 4)
    feats = [torch.randn(n, c) for n, c in zip(sizes, widths)]
    parents = [torch.arange(n) // 2 for n in sizes[:-1]]
    pyramid = ScenePyramid(feats, [torch.zeros(n, 3) for n in sizes], [torch.tensor([n]) for n in sizes], parents)
    assert pyramid.upcast().shape == (64, 1232)
    assert pyramid.upcast(to=2).shape == pyramid.upcast(levels=2, to=2).shape == (16, 1088)
    stride4 = pyramid.upcast(levels=2, to=2)
    torch.testing.assert_close(stride4[5], torch.cat([feats[2][5], feats[3][2], feats[4][1]]))
    with pytest.raises(ValueError, match="coarsest"):
        pyramid.upcast(levels=3, to=2)


def test_forward_backward_gives_finite_gradients_for_every_parameter() -> None:
    encoder = small_encoder(drop_path=0.2, mask_token=True).train()
    coord, feat, offset = scenes(200, 90)
    mask = torch.rand(290, generator=torch.Generator().manual_seed(3)) < 0.3
    loss = encoder(coord, feat, offset, mask=mask).upcast().square().mean()
    loss.backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert encoder.stem.mask_token.grad.abs().sum() > 0


def test_eval_is_deterministic_and_training_shuffles_the_orders_per_scene() -> None:
    encoder = small_encoder()
    encoder.eval()
    assert encoder.order_choice(3, torch.device("cpu")) is None
    encoder.train()
    torch.manual_seed(1)
    choice = encoder.order_choice(20, torch.device("cpu"))
    assert (choice.sort(dim=1).values == torch.arange(4)).all()  # a permutation of the four orders per scene
    assert len({tuple(row) for row in choice.tolist()}) > 1
    assert [block.drop_path.drop_prob for stage in small_encoder(drop_path=0.3).stages for block in stage] == (
        pytest.approx([0.0, 0.1, 0.2, 0.3])
    )


def test_given_grid_equals_computed_grid_and_inputs_are_checked() -> None:
    encoder = small_encoder().eval()
    coord, feat, offset = scenes(120, 80)
    grid = torch.cat([torch.floor((c - c.min(0).values) / 0.1) for c in coord.split([120, 80])]).long()
    with torch.no_grad():
        torch.testing.assert_close(encoder(coord, feat, offset).upcast(), encoder(coord, feat, offset, grid).upcast())
    with pytest.raises(ValueError, match="offset"):
        encoder(coord, feat, torch.tensor([120, 150]))
    with pytest.raises(ValueError, match="feat"):
        encoder(coord, feat[:, :5], offset)
    with pytest.raises(ValueError, match="mask token"):
        encoder(coord, feat, offset, mask=torch.zeros(200, dtype=torch.bool))


def test_runs_under_autocast() -> None:
    encoder = small_encoder().train()
    coord, feat, offset = scenes(150, 60)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = encoder(coord, feat, offset).upcast().float().square().mean()
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_stochastic_depth_follows_each_scene_key_not_its_batch() -> None:
    encoder = small_encoder(drop_path=0.5, shuffle_orders=False).train()
    coord, feat, offset = scenes(200, 90)
    with sample_keys(torch.tensor([5, 7])):
        together = encoder(coord, feat, offset).upcast()
    with sample_keys(torch.tensor([5])):
        alone = encoder(coord[:200], feat[:200], offset[:1]).upcast()
    torch.testing.assert_close(together[:200], alone, atol=1e-5, rtol=1e-4)


def test_order_shuffles_and_stochastic_depth_follow_each_scene_key_not_its_batch() -> None:
    encoder = small_encoder(drop_path=0.5).train()
    assert encoder.shuffle_orders
    coord, feat, offset = scenes(200, 90)
    with sample_keys(torch.tensor([5, 7])):
        together = encoder(coord, feat, offset).upcast()
    with sample_keys(torch.tensor([7])):
        alone = encoder(coord[200:], feat[200:], offset[1:] - 200).upcast()
    with sample_keys(torch.tensor([8])):
        other_key = encoder(coord[200:], feat[200:], offset[1:] - 200).upcast()
    torch.testing.assert_close(together[200:], alone, atol=1e-5, rtol=1e-4)
    assert (other_key - alone).abs().max() > 1e-3
