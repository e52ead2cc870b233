"""Supervised training pieces shared by the end-to-end protocols (:mod:`~pointdistill.evaluation.finetune` and
:mod:`~pointdistill.evaluation.partseg`): one place for loading labelled splits into memory, the honest validation
split carved from train, Point-MAE's augmentation and stochastic-depth rule, and the AdamW + warm-up/cosine loop with
best-validation selection, so both protocols train and select the same way.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pointdistill.data.base import DatasetSource, PointSplit, validate_label, validate_points
from pointdistill.data.padding import PaddingTally
from pointdistill.errors import ConfigError, DataError, TrainingError
from pointdistill.evaluation.common import EncoderFactory
from pointdistill.evaluation.features import (
    PRECISIONS,
    SAMPLINGS,
    autocast_context,
    normalize_unit_sphere,
    pad_clouds,
    resample_point_index,
)
from pointdistill.evaluation.splits import stratified_split
from pointdistill.models.blocks import DropPath
from pointdistill.models.weight_decay import weight_decay_groups
from pointdistill.ops.gather import gather_points
from pointdistill.utils.schedules import cosine_schedule, epochs_to_steps

_LOAD_CHUNK = 256
"""Clouds read and resampled together: bounds the padded FPS batch while keeping FPS batched."""


# ----------------------------------------------------------------------------------------------------------- data


@dataclass
class Clouds:
    """A split held in memory: ``points`` [M, N, 3] (resampled, unit sphere), ``labels`` [M], ``parts`` [M, N]."""

    points: torch.Tensor
    labels: torch.Tensor
    names: list[str]
    parts: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.points.shape[0]

    def subset(self, index: np.ndarray) -> Clouds:
        rows = torch.as_tensor(index, dtype=torch.long)
        parts = None if self.parts is None else self.parts[rows]
        return Clouds(self.points[rows], self.labels[rows], [self.names[i] for i in index], parts)


def _read_sample(split: PointSplit, index: int, num_classes: int, with_parts: bool, protocol: str) -> tuple:
    sample = split[index]
    name = str(sample.get("name", f"sample {index}"))
    points = validate_points(sample["points"], name)
    if "label" not in sample:
        raise DataError(name, f"protocol {protocol!r} needs a class label ('label') on every sample; this one has none")
    label = validate_label(sample["label"], num_classes, name)
    parts = None
    if with_parts:
        if "part" not in sample:
            raise DataError(name, f"protocol {protocol!r} needs per-point part labels ('part'); this sample has none")
        parts = np.asarray(sample["part"]).reshape(-1)
        if len(parts) != len(points):
            raise DataError(name, f"'part' has {len(parts)} labels for {len(points)} points")
    return name, points, label, parts


def load_clouds(
    split: PointSplit,
    *,
    num_points: int,
    num_classes: int,
    sampling: str,
    protocol: str,
    with_parts: bool = False,
    progress: bool = False,
    desc: str = "load",
) -> Clouds:
    """Read a whole labelled split into memory, each cloud resampled to ``num_points`` and put on the unit sphere.

    Bad samples raise a DataError naming the sample: no label, label out of range, missing part labels, or part
    labels whose count differs from the point count.
    """
    points_out, labels, names, parts_out = [], [], [], []
    padding = PaddingTally(f"{protocol} {desc}", f"num_points={num_points}")
    bar = tqdm(total=len(split), desc=desc, unit="shape", file=sys.stderr, disable=not progress, leave=False)
    with bar:
        for start in range(0, len(split), _LOAD_CHUNK):
            chunk = range(start, min(start + _LOAD_CHUNK, len(split)))
            read = [_read_sample(split, i, num_classes, with_parts, protocol) for i in chunk]
            sizes = [len(r[1]) for r in read]
            padding.add_sizes(sizes, num_points)
            padded = pad_clouds([r[1] for r in read])
            index = resample_point_index(padded, sizes, num_points, sampling=sampling, seeds=list(chunk))
            points_out.append(normalize_unit_sphere(gather_points(padded, index)))
            if with_parts:
                padded_parts = torch.zeros(len(read), max(sizes), dtype=torch.long)
                for row, (_, _, _, parts) in enumerate(read):
                    padded_parts[row, : len(parts)] = torch.from_numpy(parts.astype(np.int64))
                parts_out.append(padded_parts.gather(1, index))
            labels.extend(r[2] for r in read)
            names.extend(r[0] for r in read)
            bar.update(len(read))
    padding.report()
    return Clouds(
        points=torch.cat(points_out),
        labels=torch.tensor(labels, dtype=torch.long),
        names=names,
        parts=torch.cat(parts_out) if with_parts else None,
    )


def random_scale_translate(
    points: torch.Tensor,
    generator: torch.Generator,
    scale_range: tuple[float, float],
    translate: float,
    anisotropic: bool = True,
) -> torch.Tensor:
    """Scale each cloud of ``points`` [B, N, 3] by U(scale_range) (per axis when ``anisotropic``) and shift it by
    U(-translate, translate) per axis: Point-MAE's ``PointcloudScaleAndTranslate`` (anisotropic) and PointNet++'s
    part-segmentation ``random_scale`` + ``shift`` (isotropic)."""
    batch = points.shape[0]
    low, high = scale_range
    scale = torch.rand(batch, 1, 3 if anisotropic else 1, generator=generator) * (high - low) + low
    shift = (torch.rand(batch, 1, 3, generator=generator) * 2 - 1) * translate
    return points * scale.to(points.device) + shift.to(points.device)


# ------------------------------------------------------------------------------------------------------- training


def set_drop_path(module: nn.Module, rate: float) -> int:
    """Set stochastic depth on every block that owns :class:`DropPath` modules, rising linearly from 0 on the first
    block to ``rate`` on the last (timm's rule); returns the number of blocks changed."""
    owners = [m for m in module.modules() if any(isinstance(c, DropPath) for c in m.children())]
    rates = np.linspace(0.0, rate, len(owners)) if owners else []
    for owner, value in zip(owners, rates):
        for child in owner.children():
            if isinstance(child, DropPath):
                child.drop_prob = float(value)
    return len(owners)


def fresh_encoder(
    encoder_factory: EncoderFactory, seed: int, drop_path: float | None
) -> tuple[nn.Module, int | None]:
    """A new encoder built under ``seed`` with stochastic depth ``drop_path`` (None keeps the factory's), and the
    number of blocks that got it (None when untouched). Call inside :func:`seeded` so the caller's RNG is kept."""
    torch.manual_seed(seed)
    encoder = encoder_factory()
    drop_path_blocks = set_drop_path(encoder, drop_path) if drop_path is not None else None
    return encoder, drop_path_blocks


@dataclass
class FitResult:
    """What :func:`fit` leaves: the best-validation state (CPU copy) and epoch (1-based), and per-epoch curves."""

    best_state: dict[str, torch.Tensor] | None
    best_epoch: int | None
    best_score: float | None
    train_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)


@dataclass
class FitSettings:
    """The optimisation knobs :func:`fit` needs (a view on a protocol's Options)."""

    epochs: int
    batch_size: int
    lr: float
    min_lr: float
    weight_decay: float
    warmup_epochs: float
    grad_clip: float
    precision: str
    progress: bool

    @classmethod
    def from_options(cls, options: Any) -> FitSettings:
        """The optimisation knobs of a protocol's Options (every supervised protocol names them the same)."""
        return cls(
            options.epochs, options.batch_size, options.lr, options.min_lr, options.weight_decay,
            options.warmup_epochs, options.grad_clip, options.precision, options.progress,
        )


def fit(
    model: nn.Module,
    train_size: int,
    step_loss: Callable[[torch.Tensor], torch.Tensor],
    validate: Callable[[], float] | None,
    settings: FitSettings,
    generator: torch.Generator,
    device: torch.device,
    desc: str,
) -> FitResult:
    """Train ``model`` with AdamW and a per-step warm-up + cosine learning rate; select on ``validate`` (higher is
    better), evaluated after every epoch.

    ``step_loss(index)`` returns the loss of the training samples ``index`` (long tensor). Batches are drawn from a
    fresh permutation each epoch; the incomplete last batch is dropped (BatchNorm needs more than one sample) unless
    the whole set is smaller than one batch.
    """
    if train_size < 2:
        raise TrainingError(f"{desc}: {train_size} training sample(s) left after the validation split; need >= 2")
    batch_size = min(settings.batch_size, train_size)
    per_epoch = train_size // batch_size
    total = per_epoch * settings.epochs
    warmup = min(epochs_to_steps(settings.warmup_epochs, per_epoch), total)
    schedule = cosine_schedule(settings.lr, settings.min_lr, total, warmup)
    groups = weight_decay_groups(model.named_parameters(), settings.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=settings.lr)
    result = FitResult(best_state=None, best_epoch=None, best_score=None)
    step = 0
    bar = tqdm(range(settings.epochs), desc=desc, unit="epoch", file=sys.stderr, disable=not settings.progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(train_size, generator=generator)
        losses = []
        for b in range(per_epoch):
            for group in optimizer.param_groups:
                group["lr"] = schedule(step)
            with autocast_context(settings.precision, device):
                loss = step_loss(order[b * batch_size : (b + 1) * batch_size])
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"{desc}: loss became {loss.item()} at epoch {epoch + 1}, step {step}; lower lr or check the data"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if settings.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            losses.append(loss.item())
            step += 1
        result.train_loss.append(float(np.mean(losses)))
        postfix = {"loss": f"{result.train_loss[-1]:.3f}"}
        if validate is not None:
            score = validate()
            result.val_score.append(score)
            postfix["val"] = f"{score:.3f}"
            if result.best_score is None or score > result.best_score:
                result.best_score, result.best_epoch = score, epoch + 1
                result.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        bar.set_postfix(postfix)
    return result


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (numpy's default, as few-shot and voting results are usually
    reported), rounded to 2 decimals."""
    array = np.asarray(values, dtype=np.float64)
    return round(float(array.mean()), 2), round(float(array.std()), 2)


def resolved_precision(precision: str, device: torch.device) -> str:
    """``bf16`` or ``fp32``: what the ``precision`` knob (``auto`` included) actually runs at on ``device``."""
    with autocast_context(precision, device):
        return "bf16" if torch.is_autocast_enabled(device.type) else "fp32"


def seeded(device: torch.device) -> Any:
    """An RNG fork so seeding a run (head init, dropout, drop-path) leaves the caller's global RNG untouched."""
    if device.type != "cuda":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device.index if device.index is not None else torch.cuda.current_device()])


def check_common(options: Any, protocol: str) -> None:
    """Reject knob values no training run can use, each with a ConfigError naming the knob."""
    checks = [
        ("epochs", options.epochs >= 1, "must be >= 1"),
        ("batch_size", options.batch_size >= 2, "must be >= 2 (BatchNorm needs more than one sample per batch)"),
        ("lr", options.lr > 0, "must be positive"),
        ("min_lr", 0 <= options.min_lr <= options.lr, "must be in [0, lr]"),
        ("weight_decay", options.weight_decay >= 0, "must be >= 0"),
        ("warmup_epochs", 0 <= options.warmup_epochs <= options.epochs, "must be in [0, epochs]"),
        ("head_dropout", 0 <= options.head_dropout < 1, "must be in [0, 1)"),
        ("drop_path", options.drop_path is None or 0 <= options.drop_path < 1, "must be in [0, 1) or null"),
        ("num_points", options.num_points >= 1, "must be >= 1"),
        ("sampling", options.sampling in SAMPLINGS, f"must be one of {list(SAMPLINGS)}"),
        ("precision", options.precision in PRECISIONS, f"must be one of {list(PRECISIONS)}"),
        ("val_fraction", 0 <= options.val_fraction < 1, "must be in [0, 1)"),
        ("seeds", len(options.seeds) > 0, "needs at least one seed"),
        ("scale_range", 0 < options.scale_range[0] <= options.scale_range[1], "needs 0 < low <= high"),
        ("translate", options.translate >= 0, "must be >= 0"),
    ]
    for key, ok, problem in checks:
        if not ok:
            raise ConfigError(f"{protocol}.{key}: {problem}, got {getattr(options, key)!r}")


def open_splits(
    source: DatasetSource, options: Any, num_classes: int, protocol: str, noun: str
) -> tuple[PointSplit, PointSplit]:
    """The ``train_split`` and ``test_split`` of ``source``; DataError when train has fewer samples than the
    ``num_classes`` classes (called ``noun`` in the message) or test is empty."""
    train_split, test_split = source.split(options.train_split), source.split(options.test_split)
    if len(train_split) < num_classes:
        raise DataError(
            source.root, f"{protocol}: split {options.train_split!r} has {len(train_split)} samples, fewer than the "
            f"{num_classes} {noun}"
        )
    if len(test_split) == 0:
        raise DataError(source.root, f"{protocol}: split {options.test_split!r} is empty")
    return train_split, test_split


def carve_validation(
    clouds: Clouds, fraction: float, seed: int, root: Any, protocol: str
) -> tuple[Clouds, Clouds | None]:
    """Split ``clouds`` (the train split) into train and a stratified validation part; None when ``fraction`` is 0."""
    if fraction == 0:
        return clouds, None
    train_index, val_index = stratified_split(clouds.labels.numpy(), fraction, seed)
    if len(val_index) == 0:
        raise DataError(
            root,
            f"{protocol}: no class of the train split ({len(clouds)} samples) has 2 samples, so none can spare one "
            "for a validation split; set val_fraction to 0 to train without model selection",
        )
    return clouds.subset(train_index), clouds.subset(val_index)
