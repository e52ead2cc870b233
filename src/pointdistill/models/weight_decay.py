"""Which parameters of a network AdamW decays: the one rule shared by pretraining and the supervised protocols.

Decay pulls a weight towards zero. That regularises the matrices of linear, attention and convolution layers, but
for a bias, a normalisation gain or shift, or a learned token (CLS, mask, a learned position) it only drags the
value towards an arbitrary origin, so those get no decay (Point-MAE's rule, also DINO's for biases and norms).

The rule lives with the models because it reads their parameter naming (``cls_token``, ``*_pos``) and because both
:mod:`pointdistill.training` and :mod:`pointdistill.evaluation` may depend on :mod:`pointdistill.models`, while
evaluation should not depend on the training engine.
"""

from __future__ import annotations

from typing import Any, Iterable

from torch import nn

DECAY_KEY = "apply_weight_decay"
"""Set on every group: True for the decayed group, so a weight-decay schedule can rescale the right one per step."""

NO_DECAY_WORDS = frozenset({"bias", "token", "tokens", "pos", "position", "positional"})
"""Words of a parameter's own attribute name (split at ``_``) that mark a bias or a learned token or position."""


def is_decayed(name: str, param: nn.Parameter) -> bool:
    """Whether AdamW should decay the parameter called ``name`` (as in ``named_parameters``).

    No decay for 1-D tensors (every norm's gain and shift, biases), nor for a parameter whose attribute name has a
    word of :data:`NO_DECAY_WORDS`: biases of any shape (``bias``, attention's ``bias_k``), learned tokens and
    positions (``cls_token``, ``mask_token``, ``cls_pos``). Only the attribute name (the last dotted part) is read,
    so the weights of a module that merely *computes* positions (the ViT's ``pos_embed`` MLP) are decayed like any
    other linear layer.
    """
    if param.ndim <= 1:
        return False
    return NO_DECAY_WORDS.isdisjoint(name.rsplit(".", 1)[-1].split("_"))


def weight_decay_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]], weight_decay: float, *, decay_all: bool = False
) -> list[dict[str, Any]]:
    """AdamW parameter groups: the decayed parameters at ``weight_decay``, the others at 0 (``decay_all``: every
    parameter decays, as AsymDSD's reference does).

    Parameters that do not require grad are left out; empty groups are dropped. Each group carries
    :data:`DECAY_KEY`, so a schedule that changes the weight decay during training knows which group to set.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in named_parameters:
        if param.requires_grad:
            (decay if decay_all or is_decayed(name, param) else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay, DECAY_KEY: True},
        {"params": no_decay, "weight_decay": 0.0, DECAY_KEY: False},
    ]
    return [group for group in groups if group["params"]]
