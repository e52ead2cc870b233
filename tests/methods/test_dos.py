"""DOS on the tiny scene backbone: the student's input holds visible points only, the loss equals a slow loop over
views, terms, prototypes and points, and a short pretraining run writes a checkpoint the scene API reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pointdistill.api import load_scene_encoder
from pointdistill.config import load_config
from pointdistill.data import open_dataset
from pointdistill.data.scene_views import DOSViewDataset, collate_dos_views
from pointdistill.errors import ConfigError
from pointdistill.losses.zipf_sinkhorn import zipf_prior
from pointdistill.methods import build_method
from pointdistill.methods.base import StepInfo
from pointdistill.methods.dos import DOS, LOGGED_STATISTICS, level_points
from pointdistill.training.engine import pretrain

SMALL = ["dos.max_points=1500", "dos.num_prototypes=32", "dos.head_hidden_dim=64", "dos.head_bottleneck_dim=16",
         "scene_encoder.drop_path=0.0", "scene_encoder.shuffle_orders=false", "data.synthetic_count=4"]
INFO = StepInfo(step=100, total_steps=100, steps_per_epoch=10)


@pytest.fixture(scope="module")
def scenes():
    return open_dataset("synthetic:scenes", count=4, seed=0).split("train")


def make(*overrides: str) -> DOS:
    torch.manual_seed(0)
    method = build_method(load_config("dos-tiny", SMALL + list(overrides)))
    assert isinstance(method, DOS)
    return method.train()


def batch_of(method: DOS, scenes, size: int = 2) -> dict[str, torch.Tensor]:
    dataset = DOSViewDataset(scenes, method.view_config, seed=0)
    return collate_dos_views([dataset[(0, i)] for i in range(size)])


def recorded_inputs(method: DOS, batch: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, ...]]:
    seen: list[tuple[torch.Tensor, ...]] = []
    hook = method.student.encoder.register_forward_hook(
        lambda module, args, kwargs, out: seen.append((*args, kwargs.get("mask"))), with_kwargs=True)
    method.training_step(batch, INFO)
    hook.remove()
    return seen


def test_student_never_receives_a_masked_point(scenes) -> None:
    method = make()
    batch = batch_of(method, scenes)
    (coord, feat, offset, mask), = recorded_inputs(method, batch)
    assert mask is None
    visible = batch["visible"]
    masked_coords = {tuple(p) for p in batch["coord"][~visible].tolist()}
    masked_feats = {tuple(p) for p in batch["feat"][~visible].tolist()}
    assert len(coord) == int(visible.sum())
    assert not masked_coords & {tuple(p) for p in coord.tolist()}
    assert not masked_feats & {tuple(p) for p in feat.tolist()}


def test_mask_token_ablation_feeds_the_full_view_with_the_mask(scenes) -> None:
    with pytest.raises(ConfigError, match="scene_encoder.mask_token"):
        make("dos.student_input=mask_token")
    method = make("dos.student_input=mask_token", "scene_encoder.mask_token=true")
    batch = batch_of(method, scenes)
    (coord, _, _, mask), = recorded_inputs(method, batch)
    assert len(coord) == len(batch["coord"]) and (mask == ~batch["visible"]).all()


def slow_loss(method: DOS, batch: dict[str, torch.Tensor], temp: float) -> float:
    """Per student view and term: brute-force matching, the textbook Zipf-Sinkhorn on the matched teacher logits,
    and the softmap cross-entropy prototype by prototype."""
    cfg = method.cfg
    with torch.no_grad():
        t_logits, t_pyr = method.teacher(batch["coord"], batch["feat"], batch["offset"])
        s_logits, s_pyr = method.student(batch["student_coord"], batch["student_feat"], batch["student_offset"])
    t_origin, t_view = level_points(t_pyr, batch["origin"], cfg.loss_level)
    s_origin, s_view = level_points(s_pyr, batch["origin"][batch["student_rows"]], cfg.loss_level)
    weights = zipf_prior(cfg.num_prototypes, cfg.zipf_alpha)
    views, total = len(batch["offset"]), 0.0
    for view in range(views):
        for weight, partner in ((cfg.same_view_weight, view), (cfg.cross_view_weight, view ^ 1)):
            query, reference = s_origin[s_view == view], t_origin[t_view == partner]
            distance, nearest = torch.cdist(query.double(), reference.double()).min(1)
            keep = distance <= cfg.match_radius
            if not keep.any():
                continue
            teacher = t_logits[t_view == partner][nearest[keep]].double()
            student = s_logits[s_view == view][keep].double()
            q = torch.exp(teacher / temp)
            q = q / q.sum()
            for _ in range(cfg.sinkhorn_iterations):
                q = q / q.sum(1, keepdim=True) / len(q)
                q = q / q.sum(0, keepdim=True) * weights
            q = q / q.sum(0, keepdim=True)
            term = 0.0
            for k in range(cfg.num_prototypes):
                softmap = torch.softmax(student[:, k] / cfg.student_temp, dim=0)
                term += -(q[:, k] * softmap.log()).sum().item()
            total += weight * term / cfg.num_prototypes
    return total / (views // 2)


def test_loss_equals_a_slow_loop(scenes) -> None:
    method = make()
    batch = batch_of(method, scenes)
    loss, logs = method.training_step(batch, INFO)
    assert logs["matched_cross"] > 0
    assert loss.item() == pytest.approx(slow_loss(method, batch, method.teacher_temp(INFO)), rel=1e-4)
    loss.backward()
    assert all(p.grad is None for p in method.teacher.parameters())


def test_collapse_entropies_are_logged_as_defined(scenes) -> None:
    method = make()
    batch = batch_of(method, scenes)
    _, logs = method.training_step(batch, INFO)
    assert set(LOGGED_STATISTICS) <= set(logs) and logs["zipf_alpha"] == pytest.approx(1.3)
    with torch.no_grad():
        out = method.view_logits(batch)
    for role, logits, temp in (("teacher", out.teacher, method.teacher_temp(INFO)),
                               ("student", out.student, method.cfg.student_temp)):
        probs = torch.softmax(logits.double() / temp, dim=1)
        usage = probs.mean(dim=0)
        assert logs[f"{role}_usage_entropy"] == pytest.approx(-(usage * usage.log()).sum().item(), rel=1e-4)
        assert logs[f"{role}_point_entropy"] == pytest.approx(-(probs * probs.log()).sum(1).mean().item(), rel=1e-4)
        assert 0 < logs[f"{role}_point_entropy"] < logs[f"{role}_usage_entropy"] <= math.log(32) + 1e-6


def test_zipf_alpha_warms_up_from_ordinary_sinkhorn(scenes) -> None:
    assert make().zipf_alpha(StepInfo(step=0, total_steps=100, steps_per_epoch=10)) == pytest.approx(1.3)
    method = make("dos.zipf_alpha_warmup_epochs=2")
    alphas = [method.zipf_alpha(StepInfo(step=s, total_steps=100, steps_per_epoch=10)) for s in (0, 5, 10, 20, 50)]
    assert alphas == pytest.approx([0.0, 0.325, 0.65, 1.3, 1.3])
    start = StepInfo(step=0, total_steps=100, steps_per_epoch=10)
    batch = batch_of(method, scenes)
    warming, logs = method.training_step(batch, start)
    uniform, _ = make("dos.zipf_alpha=0").training_step(batch, start)
    zipf, _ = make().training_step(batch, start)
    assert logs["zipf_alpha"] == 0.0
    assert warming.item() == pytest.approx(uniform.item(), rel=1e-6) and abs(warming.item() - zipf.item()) > 1e-4
    with pytest.raises(ConfigError, match=r"dos\.zipf_alpha_warmup_epochs"):
        make("dos.zipf_alpha_warmup_epochs=-1")


def test_cluster_ablation_gives_a_finite_loss(scenes) -> None:
    method = make("dos.target=cluster", "dos.zipf_alpha=0")
    loss, _ = method.training_step(batch_of(method, scenes), INFO)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("override, key", [("dos.mask_ratio=1.0", "dos.mask_ratio"),
                                           ("dos.loss_level=7", "dos.loss_level"),
                                           ("dos.target=other", "dos.target"),
                                           ("dos.channels=[color]", "dos.channels")])
def test_bad_config_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        make(override)


def test_two_step_pretrain_writes_a_checkpoint_the_scene_api_reads(tmp_path) -> None:
    config = load_config("dos-tiny", SMALL + ["train.progress=false", "optim.batch_size=2"])
    summary = pretrain(config, tmp_path / "run", max_steps=2)
    assert np.isfinite(summary.final_loss)
    encoder = load_scene_encoder(tmp_path / "run")
    assert encoder is not None
