"""The weight-decay rule: matrices decay; biases, norms, 1-D tensors and learned tokens or positions do not."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pointdistill.models import EncoderConfig, build_encoder
from pointdistill.models.weight_decay import DECAY_KEY, is_decayed, weight_decay_groups


class Tokens(nn.Module):
    """Every kind of parameter the rule tells apart."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.batch_norm = nn.BatchNorm1d(4)
        self.pos_embed = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 4))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, 4))
        self.pos_embedding = nn.Parameter(torch.zeros(1, 8, 4))
        self.scale = nn.Parameter(torch.ones(4))
        self.matrix_bias = nn.Parameter(torch.zeros(2, 4))
        self.frozen = nn.Parameter(torch.zeros(4, 4), requires_grad=False)


DECAYED = {"linear.weight", "pos_embed.0.weight", "pos_embed.2.weight"}
NOT_DECAYED = {
    "linear.bias", "norm.weight", "norm.bias", "batch_norm.weight", "batch_norm.bias", "pos_embed.0.bias",
    "pos_embed.2.bias", "cls_token", "mask_token", "cls_pos", "pos_embedding", "scale", "matrix_bias",
}


def test_each_kind_of_parameter_is_classified() -> None:
    named = dict(Tokens().named_parameters())
    assert {name for name, p in named.items() if p.requires_grad} == DECAYED | NOT_DECAYED
    assert {name for name in DECAYED | NOT_DECAYED if is_decayed(name, named[name])} == DECAYED


def test_groups_hold_every_trainable_parameter_once_with_its_decay() -> None:
    model = Tokens()
    named = dict(model.named_parameters())
    groups = weight_decay_groups(model.named_parameters(), 0.05)
    by_flag = {group[DECAY_KEY]: group for group in groups}
    assert len(groups) == 2 and set(by_flag) == {True, False}
    assert (by_flag[True]["weight_decay"], by_flag[False]["weight_decay"]) == (0.05, 0.0)
    assert {id(p) for p in by_flag[True]["params"]} == {id(named[n]) for n in DECAYED}
    assert {id(p) for p in by_flag[False]["params"]} == {id(named[n]) for n in NOT_DECAYED}
    torch.optim.AdamW(groups, lr=1e-3)


def test_empty_groups_are_dropped() -> None:
    groups = weight_decay_groups(nn.LayerNorm(4).named_parameters(), 0.1)
    assert [(group[DECAY_KEY], len(group["params"])) for group in groups] == [(False, 2)]
    assert weight_decay_groups([], 0.1) == []


@pytest.mark.parametrize("name", ["vit", "dgcnn", "pointnet", "pct"])
def test_in_every_encoder_only_matrices_other_than_tokens_decay(name: str) -> None:
    encoder = build_encoder(EncoderConfig(name=name, preset="tiny", depth=1))
    for param_name, param in encoder.named_parameters():
        token = param_name == "cls_token"
        expected = param.ndim > 1 and not token
        assert is_decayed(param_name, param) == expected, param_name


def test_decay_all_puts_every_parameter_in_the_decayed_group() -> None:
    layer = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    groups = weight_decay_groups(layer.named_parameters(), 0.05, decay_all=True)
    assert len(groups) == 1 and groups[0][DECAY_KEY] and len(groups[0]["params"]) == 4
