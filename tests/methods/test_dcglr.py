import numpy as np
import pytest
import torch
from torch import nn

from pointdistill.config import load_config
from pointdistill.errors import ConfigError, TrainingError
from pointdistill.methods import build_method
from pointdistill.methods.base import StepInfo
from pointdistill.methods.dcglr import DCGLR
from pointdistill.methods.multicrop import view_major
from pointdistill.models.base import EncoderOutput, PointEncoder


class TinyEncoder(PointEncoder):
    """Stand-in backbone: shared per-point MLP, max-pooled."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.token_dim = self.feature_dim = dim
        self.mlp = nn.Sequential(nn.Linear(3, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, points, *, num_groups=None, return_hidden=None):
        tokens = self.mlp(points)
        return EncoderOutput(tokens=tokens, centers=points, global_feature=tokens.amax(dim=1))


def tiny_config(*overrides: str):
    return load_config(
        None,
        [
            "data.num_points=64",
            "dcglr.global_points=64",
            "dcglr.local_points=16",
            "dcglr.out_dim=32",
            "dcglr.head_hidden_dim=32",
            "dcglr.head_bottleneck_dim=8",
            *overrides,
        ],
    )


def shapes(count: int = 4, n: int = 200) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    sphere = rng.normal(size=(n, 3))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    cube = rng.uniform(-1, 1, size=(n, 3))
    rod = np.c_[rng.uniform(-1, 1, n), 0.05 * rng.normal(size=(n, 2))]
    disc = np.c_[rng.uniform(-1, 1, (n, 2)), np.zeros(n)]
    return [s.astype(np.float32) for s in (sphere, cube, rod, disc)][:count]


def make_batch(method: DCGLR, seed: int = 0) -> dict[str, torch.Tensor]:
    transform = method.view_transform()
    views = [transform({"points": p}, np.random.default_rng([seed, i])) for i, p in enumerate(shapes())]
    return {key: torch.from_numpy(np.stack([v[key] for v in views])) for key in ("global", "local", "points")}


INFO = StepInfo(step=0, total_steps=100, steps_per_epoch=10)


def test_view_major_layout():
    views = torch.arange(2 * 3 * 1 * 3, dtype=torch.float32).reshape(2, 3, 1, 3)  # [B=2, V=3, N=1, 3]
    flat = view_major(views)
    assert flat.shape == (6, 1, 3)
    for v in range(3):
        for b in range(2):
            assert torch.equal(flat[v * 2 + b], views[b, v])


def test_training_step_loss_and_logs():
    torch.manual_seed(0)
    method = DCGLR(tiny_config(), TinyEncoder())
    batch = make_batch(method)
    assert batch["global"].shape == (4, 2, 64, 3) and batch["local"].shape == (4, 8, 16, 3)
    loss, logs = method.training_step(batch, INFO)
    assert loss.dim() == 0 and torch.isfinite(loss)
    expected = {"loss_global", "loss_local", "teacher_entropy", "batch_marginal_entropy"}
    expected |= {"teacher_temp", "ema_momentum"}
    assert expected <= logs.keys() and all(isinstance(v, float) for v in logs.values())
    assert logs["teacher_temp"] == pytest.approx(0.04)
    assert logs["ema_momentum"] == pytest.approx(0.996)
    assert loss.item() == pytest.approx(logs["loss_global"] + logs["loss_local"], rel=1e-5)
    assert 0 <= logs["teacher_entropy"] <= logs["batch_marginal_entropy"] + 1e-6 <= np.log(32) + 1e-5


def test_losses_match_the_pairs_of_the_spec():
    torch.manual_seed(0)
    method = DCGLR(tiny_config("dcglr.num_half_res=0"), TinyEncoder())
    batch = make_batch(method)
    loss, logs = method.training_step(batch, INFO)  # centre starts at zero: targets = softmax(t / 0.04)

    def ce(t, s):
        return -(t * torch.log_softmax(s / 0.1, dim=-1)).sum(-1).mean()

    with torch.no_grad():
        t = [torch.softmax(method.teacher([batch["global"][:, i]])[0] / 0.04, -1) for i in range(2)]
        s_glob = [method.student([batch["global"][:, i]])[0] for i in range(2)]
        s_loc = [method.student([batch["local"][:, j]])[0] for j in range(8)]
    loss_g = (ce(t[0], s_glob[1]) + ce(t[1], s_glob[0])) / 2
    loss_l = sum(ce(t[i], s_loc[j]) for i in range(2) for j in range(8)) / 16
    assert logs["loss_global"] == pytest.approx(loss_g.item(), rel=1e-4)
    assert logs["loss_local"] == pytest.approx(loss_l.item(), rel=1e-4)


def test_half_resolution_copies_are_fps_subsets_with_different_starts():
    torch.manual_seed(0)
    method = DCGLR(tiny_config(), TinyEncoder())
    points = torch.from_numpy(np.stack(shapes()))[:, :64]
    half = method.half_resolution(points)
    assert half.shape == (8, 32, 3)
    for row in range(8):
        source = points[row % 4]
        assert (half[row][:, None] == source[None]).all(-1).any(-1).all()
    assert not torch.equal(half[:4], half[4:])


def test_teacher_gets_no_gradient_and_ema_moves_it():
    torch.manual_seed(0)
    method = DCGLR(tiny_config(), TinyEncoder())
    method.train()
    assert not method.teacher.training and method.student.training
    assert all(not p.requires_grad for p in method.teacher.parameters())
    optimizer = torch.optim.AdamW([p for p in method.student.parameters() if p.requires_grad], lr=1e-2)
    before = [p.clone() for p in method.teacher.parameters()]
    info = StepInfo(step=20, total_steps=100, steps_per_epoch=10)  # epoch 2: last layer not frozen
    loss, _ = method.training_step(make_batch(method), info)
    loss.backward()
    method.before_optimizer_step(info)
    optimizer.step()
    assert all(p.grad is None for p in method.teacher.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, method.teacher.parameters()))
    momentum = method.ema_momentum(info)
    method.update_teacher(info)
    for old, t, s in zip(before, method.teacher.parameters(), method.student.parameters()):
        assert torch.allclose(t, momentum * old + (1 - momentum) * s, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(before, method.teacher.parameters()))
    assert method.teacher_encoder() is method.teacher.encoder


def test_last_layer_frozen_during_first_epoch_only():
    torch.manual_seed(0)
    method = DCGLR(tiny_config("dcglr.norm_last_layer=false"), TinyEncoder())
    batch = make_batch(method)
    last = list(method.student.head.last_layer.parameters())
    for step, frozen in ((5, True), (10, False)):
        info = StepInfo(step=step, total_steps=100, steps_per_epoch=10)
        method.zero_grad()
        method.training_step(batch, info)[0].backward()
        method.before_optimizer_step(info)
        assert all((p.grad is None) == frozen for p in last)
        assert all(p.grad is not None for p in method.student.encoder.parameters())


def _train(method: DCGLR, steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in method.student.parameters() if p.requires_grad], lr=lr)
    batches = [make_batch(method, seed) for seed in range(2)]
    losses = []
    for step in range(steps):
        info = StepInfo(step=step, total_steps=steps, steps_per_epoch=1)
        loss, _ = method.training_step(batches[step % 2], info)
        optimizer.zero_grad()
        loss.backward()
        method.before_optimizer_step(info)
        optimizer.step()
        method.update_teacher(info)
        method.commit_statistics()
        losses.append(loss.item())
    return losses


def test_student_learns_the_targets_with_adamw():
    """With the teacher and the centre held fixed (momentum 1) the targets are fixed, so every step of the full
    wiring (views, encoder calls, head, pair losses, gradients) must bring the student closer to them. With the
    default momenta the loss of a 30-step toy run is not monotone by design: the centre starts at zero and
    moves to the batch mean over ~1/(1-q) steps, flattening the targets as it goes."""
    torch.manual_seed(0)
    fixed = ("dcglr.ema_momentum=1", "dcglr.center_momentum=1", "optim.freeze_last_layer_epochs=0")
    method = DCGLR(tiny_config(*fixed), TinyEncoder(32))
    teacher_before = [p.clone() for p in method.teacher.parameters()]
    losses = _train(method, steps=30, lr=1e-3)
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4])
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, method.teacher.parameters()))


def test_default_dynamics_stay_finite():
    torch.manual_seed(0)
    method = DCGLR(tiny_config(), TinyEncoder(32))
    losses = _train(method, steps=10, lr=1e-3)
    assert np.isfinite(losses).all()
    assert not torch.equal(method.centering.center, torch.zeros_like(method.centering.center))


def test_sinkhorn_targets_and_teacher_temperature_warmup():
    torch.manual_seed(0)
    config = tiny_config(
        "dcglr.target_normalization=sinkhorn",
        "dcglr.warmup_teacher_temp=0.02",
        "dcglr.warmup_teacher_temp_epochs=2",
    )
    method = DCGLR(config, TinyEncoder())
    assert method.centering is None
    loss, logs = method.training_step(make_batch(method), StepInfo(step=10, total_steps=100, steps_per_epoch=10))
    assert torch.isfinite(loss)
    assert logs["teacher_temp"] == pytest.approx(0.03)


def test_single_global_crop_with_local_loss_only():
    method = DCGLR(tiny_config("dcglr.num_global=1", "dcglr.global_weight=0"), TinyEncoder())
    batch = make_batch(method)
    assert batch["global"].shape[1] == 1
    loss, logs = method.training_step(batch, INFO)
    assert logs["loss_global"] == 0.0 and loss.item() == pytest.approx(logs["loss_local"], rel=1e-6)
    loss.backward()


def test_missing_views_and_bad_config_are_reported():
    method = DCGLR(tiny_config(), TinyEncoder())
    with pytest.raises(TrainingError, match="'global'"):
        method.training_step({"points": torch.zeros(2, 64, 3)}, INFO)
    with pytest.raises(ConfigError, match="dcglr.num_global"):
        DCGLR(tiny_config("dcglr.num_global=1"), TinyEncoder())
    with pytest.raises(ConfigError, match="dcglr.local_scale"):
        DCGLR(tiny_config("dcglr.local_scale=[0.5, 0.2]"), TinyEncoder())
    with pytest.raises(ConfigError, match="dcglr.teacher_temp"):
        DCGLR(tiny_config("dcglr.teacher_temp=0"), TinyEncoder())


def test_build_method_registry():
    config = tiny_config()
    assert isinstance(build_method(config, TinyEncoder()), DCGLR)
    config.method = "nope"
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        build_method(config)


@pytest.mark.parametrize("encoder", ["vit", "pointnet", "dgcnn", "pct"])
def test_runs_with_every_real_backbone(encoder):
    torch.manual_seed(0)
    config = tiny_config(
        f"encoder.name={encoder}",
        "encoder.embed_dim=32",
        "encoder.depth=1",
        "encoder.num_heads=2",
        "encoder.out_dim=32",
        "encoder.group_size=8",
        "encoder.k=8",
    )
    method = build_method(config)
    batch = {k: v[:2] for k, v in make_batch(method).items()}
    loss, _ = method.training_step(batch, INFO)
    loss.backward()
    assert torch.isfinite(loss)
    assert method.teacher_encoder().feature_dim == method.student.encoder.feature_dim
