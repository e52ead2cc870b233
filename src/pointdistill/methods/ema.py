"""The EMA teacher: a frozen copy of the student whose parameters trail the student's.

``t <- m * t + (1 - m) * s`` over parameters, done as one ``torch._foreach_lerp_`` over all tensors (a handful of
fused kernels instead of one Python iteration per parameter, which matters with hundreds of ViT tensors per step).
Buffers (e.g. BatchNorm running statistics) are copied, not averaged: they are statistics, not weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def unwrap(module: nn.Module) -> nn.Module:
    """The underlying module of a DistributedDataParallel / DataParallel / ``torch.compile`` wrapper."""
    while True:
        if isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        elif hasattr(module, "_orig_mod") and isinstance(module._orig_mod, nn.Module):
            module = module._orig_mod
        else:
            return module


def make_teacher(student: nn.Module) -> nn.Module:
    """A deep copy of (the unwrapped) ``student`` that never requires gradients."""
    teacher = copy.deepcopy(unwrap(student))
    teacher.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In place: ``teacher_param = momentum * teacher_param + (1 - momentum) * student_param``; buffers copied.

    Parameters and buffers are matched by name, so a mismatched architecture fails loudly instead of averaging the
    wrong tensors together.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    teacher, student = unwrap(teacher), unwrap(student)
    t_params, s_params = _matched(teacher.named_parameters(), student.named_parameters(), "parameter")
    if t_params and momentum < 1.0:
        torch._foreach_lerp_(t_params, [p.detach() for p in s_params], 1.0 - momentum)
    t_bufs, s_bufs = _matched(teacher.named_buffers(), student.named_buffers(), "buffer")
    if t_bufs:
        torch._foreach_copy_(t_bufs, s_bufs)


def _matched(teacher_items, student_items, kind: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    teacher_map, student_map = dict(teacher_items), dict(student_items)
    if teacher_map.keys() != student_map.keys():
        missing = sorted(set(student_map) ^ set(teacher_map))[:5]
        raise ValueError(f"teacher and student {kind}s differ (e.g. {missing}); the teacher must be a student copy")
    names = list(student_map)
    for name in names:
        if teacher_map[name].shape != student_map[name].shape:
            raise ValueError(
                f"{kind} {name!r}: teacher shape {list(teacher_map[name].shape)} != "
                f"student shape {list(student_map[name].shape)}"
            )
    return [teacher_map[n] for n in names], [student_map[n] for n in names]
