"""AsymDSD's defining properties on tiny networks: what the student encoder may see, the teacher's isolation, and
every loss term against a slow loop over samples, crops, masks and tokens.

The configs use only the shared ViT's options (no preset), shrunk: D=32, one or two blocks, 256-point global crops
cut into 32 patches of 16 points, 64-point local crops.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pointdistill.config import load_config
from pointdistill.errors import ConfigError
from pointdistill.methods import build_method
from pointdistill.methods.asymdsd import AsymDSD
from pointdistill.methods.base import StepInfo
from pointdistill.ops import Patches

TINY = [
    "method=asymdsd",
    "data.num_points=256",
    "encoder.name=vit",
    "encoder.embed_dim=32",
    "encoder.depth=2",
    "encoder.num_heads=2",
    "encoder.drop_path=0.0",
    "encoder.group_size=16",
    "encoder.points_per_group=8",
    "asymdsd.global_points=256",
    "asymdsd.local_points=64",
    "asymdsd.num_local=2",
    "asymdsd.num_masks=2",
    "asymdsd.predictor_dim=16",
    "asymdsd.predictor_depth=2",
    "asymdsd.predictor_heads=2",
    "asymdsd.out_dim=24",
    "asymdsd.head_hidden_dim=32",
    "asymdsd.head_bottleneck_dim=8",
]
MPM = [
    "encoder.cls_token=false", "asymdsd.mode=mask", "asymdsd.num_global=1", "asymdsd.num_local=0",
    "asymdsd.regression_weight=1.0",
]
INFO = StepInfo(step=3, total_steps=10, steps_per_epoch=5)


def make(*overrides: str) -> AsymDSD:
    torch.manual_seed(0)
    method = build_method(load_config(None, TINY + list(overrides)))
    assert isinstance(method, AsymDSD)
    return method.train()


def make_batch(method: AsymDSD, size: int = 3) -> dict[str, torch.Tensor]:
    transform = method.view_transform()
    clouds = [np.random.default_rng(i).normal(size=(400, 3)) * [1.0, 0.6, 0.3] for i in range(size)]
    views = [transform({"points": cloud}, np.random.default_rng(i)) for i, cloud in enumerate(clouds)]
    batch = {key: torch.from_numpy(np.stack([v[key] for v in views])) for key in ("global", "local") if key in views[0]}
    batch["sample_key"] = torch.arange(size, dtype=torch.int64) * 104_729 + 11
    return batch


def spy_masks(method: AsymDSD, monkeypatch: pytest.MonkeyPatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Record the (visible, masked) index tensors of every call of ``method.masks``."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = method.masks

    def masks(centers: torch.Tensor, keys: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append(original(centers, keys))
        return seen[-1]

    monkeypatch.setattr(method, "masks", masks)
    return seen


def test_the_student_encoder_never_receives_a_masked_token_or_position(monkeypatch: pytest.MonkeyPatch) -> None:
    method = make()
    batch = make_batch(method)
    encoder = method.student.encoder
    inputs: list[tuple[torch.Tensor, torch.Tensor]] = []
    original_encode = encoder.encode

    def encode(tokens: torch.Tensor, pos: torch.Tensor, centers: torch.Tensor, **kwargs: object) -> object:
        inputs.append((tokens.detach(), pos.detach()))
        return original_encode(tokens, pos, centers, **kwargs)

    monkeypatch.setattr(encoder, "encode", encode)
    embedded: list[int] = []
    original_embed = encoder.embed

    def embed(patches: Patches) -> tuple[torch.Tensor, torch.Tensor]:
        embedded.append(patches.centers.shape[0])
        return original_embed(patches)

    monkeypatch.setattr(encoder, "embed", embed)
    masks = spy_masks(method, monkeypatch)
    method.training_step(batch, INFO)
    assert embedded == [6, 6], "global crops embedded once (shared by their masks and crop 0), locals once"
    ((visible, masked),) = masks
    rows = visible.shape[0]
    assert rows == 2 * 3 * 2 and visible.shape[1] == 32 - round(0.7 * 32)
    masked_calls = [(t, p) for t, p in inputs if t.shape[0] == rows]
    assert len(masked_calls) == 1, "one encoder call for all masked views"
    tokens_in, pos_in = masked_calls[0]
    with torch.no_grad():
        patches = encoder.patchify(batch["global"].transpose(0, 1).reshape(-1, 256, 3))
        tokens, pos = encoder.embed(patches)
    source = torch.arange(6).repeat_interleave(2).unsqueeze(1)
    assert tokens_in.shape[1] == visible.shape[1], "only visible tokens (CLS is added inside encode)"
    torch.testing.assert_close(tokens_in, tokens[source, visible])
    torch.testing.assert_close(pos_in, pos[source, visible])
    for given, full in ((tokens_in, tokens), (pos_in, pos)):
        hidden = full[source, masked]
        assert torch.cdist(given, hidden).amin() > 1e-6, "a masked patch's token or position reached the encoder"
    mask_token = method.predictor.mask_token.detach().reshape(1, 1, -1)
    assert (tokens_in - mask_token).abs().amax(-1).amin() > 1e-6


def test_the_teacher_gets_no_gradient_and_changes_only_by_ema() -> None:
    method = make()
    loss, _ = method.training_step(make_batch(method), INFO)
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in method.teacher.parameters())
    assert method.predictor.mask_token.grad is not None and method.student.patch_head.mlp[0].weight.grad is not None
    assert not any(name.startswith("predictor") for name, _ in method.teacher.named_parameters())
    before = {k: v.clone() for k, v in method.teacher.state_dict().items()}
    with torch.no_grad():
        for p in method.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    assert all(torch.equal(before[k], v) for k, v in method.teacher.state_dict().items())
    student = dict(method.student.named_parameters())
    method.update_teacher(INFO)
    m = method.ema_momentum(INFO)
    assert 0.995 < m < 1
    for name, param in method.teacher.named_parameters():
        torch.testing.assert_close(param, m * before[name] + (1 - m) * student[name].detach())


def test_the_mask_layout_follows_the_reference() -> None:
    """G=64: 45 masked, 19 visible, blocks of 6, round(64 * 0.4 / 6) = 4 blocks; every view the same count."""
    method = make("asymdsd.num_masks=4")
    assert (method.cfg.mask_ratio, method.cfg.mask_block_fraction, method.cfg.mask_adjust_ratio) == (0.7, 0.1, 0.1)
    assert method.num_blocks(64) == 4
    centers = torch.rand(3, 64, 3, generator=torch.Generator().manual_seed(0))
    visible, masked = method.masks(centers, torch.arange(12, dtype=torch.int64))
    assert visible.shape == (12, 19) and masked.shape == (12, 45)


# ----- the slow, obvious reference ----------------------------------------------------------------------------


def cross_entropy(target: torch.Tensor, logits: torch.Tensor, temp: float = 0.1) -> torch.Tensor:
    return -(target * torch.log_softmax(logits / temp, dim=-1)).sum()


def koleo(embeddings: list[list[torch.Tensor]], eps: float = 1e-6) -> torch.Tensor:
    """embeddings[slot][sample]: nearest neighbour among the other samples of the same slot."""
    terms = []
    for slot in embeddings:
        normal = [F.normalize(e, dim=0, eps=eps) for e in slot]
        for b, x in enumerate(normal):
            nearest = min((x - y).norm() for c, y in enumerate(normal) if c != b)
            terms.append(-torch.log(nearest + eps))
    return torch.stack(terms).mean()


@torch.no_grad()
def loop_losses(
    method: AsymDSD, batch: dict[str, torch.Tensor], visible: torch.Tensor | None, masked: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """Every term of the step, one sample, crop, mask and token at a time."""
    cfg = method.cfg
    s_enc, t_enc = method.student.encoder, method.teacher.encoder
    cls_temp, patch_temp = method.teacher_temps(INFO)
    size, crops, masks = batch["global"].shape[0], cfg.num_global, cfg.num_masks
    teacher_cls, teacher_patch, teacher_tokens = {}, {}, {}
    for i in range(crops):
        for b in range(size):
            out = t_enc(batch["global"][b, i][None])
            teacher_tokens[i, b] = out.tokens[0]
            if cfg.do_cls:
                logits = method.teacher.cls_head(out.cls[0])
                teacher_cls[i, b] = torch.softmax((logits - method.cls_centering.center[0]) / cls_temp, -1)
            if cfg.do_mask:
                logits = method.teacher.patch_head(out.tokens[0])
                teacher_patch[i, b] = torch.softmax((logits - method.patch_centering.center[0]) / patch_temp, -1)
    result: dict[str, torch.Tensor] = {}
    masked_cls, crop0_cls, local_cls, global_cls = {}, {}, {}, {}
    if cfg.do_mask:
        patch_terms, regression_terms = [], []
        for i in range(crops):
            for b in range(size):
                patches = s_enc.patchify(batch["global"][b, i][None])
                tokens, pos = s_enc.embed(patches)
                for m in range(masks):
                    row = (i * size + b) * masks + m
                    vis, hid = visible[row], masked[row]
                    out = s_enc.encode(tokens[:, vis], pos[:, vis], patches.centers[:, vis])
                    if cfg.do_cls:
                        masked_cls[i, m, b] = out.cls[0]
                    memory = torch.cat([out.cls[:, None], out.tokens], 1) if cfg.do_cls else out.tokens
                    prediction = method.predictor(memory, pos[:, hid])[0]
                    for q, patch in enumerate(hid):
                        logits = method.student.patch_head(prediction[q])
                        patch_terms.append(cross_entropy(teacher_patch[i, b][patch], logits))
                        regression_terms.append(
                            F.smooth_l1_loss(prediction[q], teacher_tokens[i, b][patch], beta=cfg.regression_beta)
                        )
                if i == 0 and cfg.do_cls:
                    crop0_cls[b] = s_enc.encode(tokens, pos, patches.centers).cls[0]
        result["loss_patch"] = torch.stack(patch_terms).mean()
        if cfg.regression_weight:
            result["loss_regression"] = torch.stack(regression_terms).mean()
    if cfg.do_cls:
        for j in range(cfg.num_local):
            for b in range(size):
                local_cls[j, b] = s_enc(batch["local"][b, j][None]).cls[0]
        head = method.student.cls_head

        def term(students: dict, teachers: list[int]) -> torch.Tensor:
            pairs = [
                cross_entropy(teacher_cls[i, key[-1]], head(value)) for i in teachers for key, value in students.items()
            ]
            return torch.stack(pairs).mean()

        everyone = list(range(crops))
        terms = [term(local_cls, everyone)] if cfg.num_local else []
        if cfg.mode == "cls":
            for i in range(crops):
                for b in range(size):
                    global_cls[i, b] = s_enc(batch["global"][b, i][None]).cls[0]
            terms.append(term(global_cls, everyone))
            slots = [[global_cls[i, b] for b in range(size)] for i in range(crops)]
        else:
            terms.append(term(masked_cls, everyone))
            terms.append(term({(0, b): crop0_cls[b] for b in range(size)}, list(range(1, crops))))
            slots = [[crop0_cls[b] for b in range(size)]]
            slots += [[masked_cls[i, m, b] for b in range(size)] for i in range(crops) for m in range(masks)]
        result["loss_cls"] = torch.stack(terms).mean()
        result["loss_koleo"] = koleo(slots)
    weights = {"loss_patch": 1.0, "loss_cls": 1.0, "loss_koleo": cfg.koleo_weight}
    weights["loss_regression"] = cfg.regression_weight
    result["loss"] = sum(weights[k] * v for k, v in result.items()) / sum(weights[k] for k in result)
    return result


@pytest.mark.parametrize(
    "overrides",
    [[], ["asymdsd.mode=cls"], MPM],
    ids=["cls_mask", "cls", "mask"],
)
def test_every_term_and_the_total_equal_a_slow_loop(overrides: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    method = make(*overrides)
    batch = make_batch(method)
    for centering in (method.cls_centering, method.patch_centering):
        if centering is not None:
            centering.center.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    masks = spy_masks(method, monkeypatch)
    loss, logs = method.training_step(batch, INFO)
    visible, masked = masks[0] if masks else (None, None)
    expected = loop_losses(method, batch, visible, masked)
    assert set(expected) - {"loss"} == {k for k in logs if k.startswith("loss_")}
    for key, value in expected.items():
        got = loss if key == "loss" else torch.tensor(logs[key])
        torch.testing.assert_close(got.float(), value.float(), rtol=1e-4, atol=1e-5, msg=key)


def test_centres_move_once_per_step_from_all_teacher_global_logits() -> None:
    """CLS centre: mean of every teacher global CLS logit; patch centre: mean over ALL patches of all global crops
    (visible ones included); both only at commit, the targets of the step using the old centre."""
    method = make()
    batch = make_batch(method)
    method.training_step(batch, INFO)
    assert method.cls_centering.center.abs().max() == 0 and method.patch_centering.center.abs().max() == 0
    method.commit_statistics()
    with torch.no_grad():
        out = method.teacher.encoder(batch["global"].transpose(0, 1).reshape(-1, 256, 3))
        cls_mean = method.teacher.cls_head(out.cls).mean(0)
        patch_mean = method.teacher.patch_head(out.tokens).reshape(-1, 24).mean(0)
    torch.testing.assert_close(method.cls_centering.center[0], 0.1 * cls_mean, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(method.patch_centering.center[0], 0.1 * patch_mean, rtol=1e-4, atol=1e-6)


def test_bad_settings_name_their_key() -> None:
    for override, key in (("asymdsd.mode=both", "mode"), ("asymdsd.predictor_heads=5", "predictor_dim")):
        with pytest.raises(ConfigError, match=f"asymdsd.{key}"):
            build_method(load_config(None, TINY + [override]))
    with pytest.raises(ConfigError, match="needs encoder.cls_token=true"):
        build_method(load_config(None, TINY + ["encoder.cls_token=false"]))
    assert math.isclose(load_config(None, ["method=asymdsd"]).asymdsd.rotation_range, 2 * math.pi)
