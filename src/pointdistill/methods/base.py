"""What the training engine needs from a self-distillation method, and nothing more.

A method owns a student and an EMA teacher, makes its own views from one sample (in data-loader workers), and turns
a collated batch of views into a loss. The engine owns everything else: device, precision, optimiser, LR and weight
decay schedules, gradient clipping/accumulation, logging, checkpoints, DDP. That split keeps a method class short:
it wires blocks (encoder, heads, losses, masks) together and does not hide a training loop.

One optimiser step may span several micro-batches (gradient accumulation) and several processes. Per step the engine
calls ``training_step`` once per micro-batch, then ``before_optimizer_step``, the optimiser, ``update_teacher`` and
``commit_statistics`` once each. Teacher-side running statistics therefore live in
:class:`~pointdistill.losses.step_statistics.StepStatistics` modules: micro-batches only add to them, and
``commit_statistics`` folds the whole global batch in once, so splitting a step changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from pointdistill.data.base import ViewTransform
from pointdistill.losses.step_statistics import StepStatistics
from pointdistill.models.base import PointEncoder


@dataclass(frozen=True)
class StepInfo:
    """Where training stands, in *global optimiser steps* (already divided by world size and accumulation)."""

    step: int
    total_steps: int
    steps_per_epoch: int

    @property
    def epoch(self) -> float:
        return self.step / max(1, self.steps_per_epoch)


class Method(nn.Module):
    """Base class of DCGLR, AsymDSD and DOS; a subclass registers itself with
    :func:`pointdistill.methods.registry.register_method`, which also registers its config section.

    Subclasses define ``student`` and ``teacher`` sub-modules and implement the hooks below. Only the student's
    parameters are optimised; ``teacher`` never receives gradients.
    """

    name: ClassVar[str]
    student: nn.Module
    teacher: nn.Module

    def view_transform(self) -> ViewTransform:
        """A picklable callable ``(sample, rng) -> dict of fixed-shape arrays`` run per sample in the workers."""
        raise NotImplementedError

    def build_loader(
        self, split: Any, config: Any, *, rank: int, world_size: int, seed: int, num_workers: int, pin_memory: bool
    ) -> torch.utils.data.DataLoader | None:
        """The training loader of ``split`` for one rank, or None (the default) for the engine's loader of object
        clouds through :meth:`view_transform`. Scene methods (DOS) batch whole scenes of varying size, which the
        fixed-shape view pipeline cannot carry, so they build their own loader here."""
        return None

    def training_step(self, batch: dict[str, torch.Tensor], info: StepInfo) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one micro-batch and scalar logs (teacher target entropy, batch-marginal entropy, ...).

        The loss must be a mean over the micro-batch's samples, so that the engine's average over ``accumulate``
        micro-batches is the loss of the whole step. Teacher statistics are only observed here, never committed.
        """
        raise NotImplementedError

    def before_optimizer_step(self, info: StepInfo) -> None:
        """Hook after backward and clipping, before ``optimizer.step`` (e.g. freezing the last head layer)."""

    def update_teacher(self, info: StepInfo) -> None:
        """EMA update of the teacher after each optimiser step."""
        raise NotImplementedError

    @torch.no_grad()
    def commit_statistics(self) -> None:
        """Fold this optimiser step's teacher statistics in, all-reduced over processes (once per step)."""
        for module in self.modules():
            if isinstance(module, StepStatistics):
                module.commit()

    def teacher_encoder(self) -> PointEncoder:
        """The backbone whose features downstream protocols evaluate (DCGLR: the teacher's)."""
        raise NotImplementedError
