"""Full fine-tuning for classification (the Point-MAE protocol), and the supervised training pieces it shares with
part segmentation (:mod:`pointdistill.evaluation.partseg`).

A fresh copy of the encoder (``encoder_factory()``, once per seed) gets the head of
:class:`~pointdistill.evaluation.heads.ClassificationHead` on concat(CLS, mean, max) of its final tokens (mean + max
for encoders without CLS) and the whole model is trained with AdamW, a per-step linear warm-up then cosine learning
rate, gradient clipping, stochastic depth on the encoder and Point-MAE's scale-and-translate augmentation.

Honest model selection: a stratified validation split is carved from **train** (``val_fraction``, seeded by
``split_seed``, the same for every training seed); the epoch with the best validation accuracy is kept in memory and
its test accuracy is reported as ``val_selected_test_accuracy``. The headline ``test_accuracy`` is the **last**
epoch's, averaged over ``seeds`` (population std beside it). Test data are never used to choose anything. Voting
(``vote_repeats`` > 0) averages the logits of ``vote_passes`` augmented passes of the last-epoch model and reports
the mean and std over repeats, never the maximum.

Defaults that differ from the paper for CPU budgets: ``epochs`` 20 (Point-MAE: 300, with 10 warm-up epochs; set
``warmup_epochs`` accordingly). Point-MAE trains with plain cross-entropy, so ``label_smoothing`` defaults to 0 (0.2
is the DGCNN-style value some successors use). ``drop_path`` (0.1 as in Point-MAE fine-tuning) is written into the
encoder's :class:`~pointdistill.models.blocks.DropPath` modules with timm's linear depth rule (block ``i`` of ``L``
gets ``drop_path * i / (L - 1)``); ``None`` keeps whatever the factory built. Encoders without stochastic depth
(PointNet, DGCNN) are trained without it, and ``drop_path_blocks`` in the result says how many blocks got it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from pointdistill.data.base import DatasetSource, PointSplit, validate_label, validate_points
from pointdistill.errors import ConfigError, DataError, TrainingError
from pointdistill.evaluation.common import EncoderFactory, options_dict, percent, require_labels
from pointdistill.evaluation.features import (
    PRECISIONS,
    SAMPLINGS,
    autocast_context,
    check_pooling,
    eval_mode,
    normalize_unit_sphere,
)
from pointdistill.evaluation.heads import ClassificationHead, Classifier
from pointdistill.models.base import pooled_features
from pointdistill.models.blocks import DropPath
from pointdistill.ops.fps import farthest_point_sample
from pointdistill.ops.gather import gather_points
from pointdistill.training.schedules import cosine_schedule, epochs_to_steps

HEADLINE = "test_accuracy"
_LOAD_CHUNK = 256
"""Clouds read and resampled together: bounds the padded FPS batch while keeping FPS batched."""


@dataclass
class Options:
    """Every knob of the fine-tuning protocol (all reported in the result)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 5e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    grad_clip: float = 10.0
    label_smoothing: float = 0.0
    drop_path: float | None = 0.1
    head_hidden: tuple[int, ...] = (256, 256)
    head_dropout: float = 0.5
    pooling: tuple[str, ...] = ("cls", "mean", "max")
    num_points: int = 1024
    num_groups: int | None = None
    sampling: str = "fps"
    augment: bool = True
    scale_range: tuple[float, float] = (2.0 / 3.0, 3.0 / 2.0)
    translate: float = 0.2
    val_fraction: float = 0.1
    split_seed: int = 0
    seeds: tuple[int, ...] = (0,)
    vote_passes: int = 10
    vote_repeats: int = 0
    train_split: str = "train"
    test_split: str = "test"
    precision: str = "auto"
    progress: bool = True


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


def resample_index(
    padded: torch.Tensor, sizes: Sequence[int], num_points: int, sampling: str, seeds: Sequence[int]
) -> torch.Tensor:
    """Indices [B, num_points] into each padded cloud of ``padded`` [B, Nmax, 3] holding ``sizes`` real points.

    Same rule as :func:`pointdistill.evaluation.features.resample_clouds` (so frozen and fine-tuned protocols see the
    same points), but returning indices so per-point labels follow their points.
    """
    batch = len(sizes)
    if all(size == num_points for size in sizes):
        return torch.arange(num_points).expand(batch, -1)
    if sampling == "random":
        picked = []
        for size, seed in zip(sizes, seeds):
            rng = np.random.default_rng(seed)
            picked.append(np.sort(rng.choice(size, num_points, replace=size < num_points)))
        return torch.from_numpy(np.stack(picked)).long()
    return farthest_point_sample(padded, num_points, lengths=torch.tensor(list(sizes)))


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
    bar = tqdm(total=len(split), desc=desc, unit="shape", file=sys.stderr, disable=not progress, leave=False)
    with bar:
        for start in range(0, len(split), _LOAD_CHUNK):
            chunk = range(start, min(start + _LOAD_CHUNK, len(split)))
            read = [_read_sample(split, i, num_classes, with_parts, protocol) for i in chunk]
            sizes = [len(r[1]) for r in read]
            padded = torch.zeros(len(read), max(sizes), 3)
            padded_parts = torch.zeros(len(read), max(sizes), dtype=torch.long)
            for row, (_, pts, _, parts) in enumerate(read):
                padded[row, : len(pts)] = torch.from_numpy(pts)
                if parts is not None:
                    padded_parts[row, : len(pts)] = torch.from_numpy(parts.astype(np.int64))
            index = resample_index(padded, sizes, num_points, sampling, list(chunk))
            points_out.append(normalize_unit_sphere(gather_points(padded, index)))
            if with_parts:
                parts_out.append(padded_parts.gather(1, index))
            labels.extend(r[2] for r in read)
            names.extend(r[0] for r in read)
            bar.update(len(read))
    return Clouds(
        points=torch.cat(points_out),
        labels=torch.tensor(labels, dtype=torch.long),
        names=names,
        parts=torch.cat(parts_out) if with_parts else None,
    )


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted ``(train, val)`` indices with about ``fraction`` of each class in val.

    Per-class quotas are apportioned by largest remainder so the total is ``round(fraction * M)`` even when classes
    are small; every class keeps at least one training sample.
    """
    labels = np.asarray(labels)
    total = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quota = fraction * counts
    take = np.floor(quota).astype(int)
    spare = int(round(fraction * total)) - int(take.sum())
    if spare > 0:
        order = np.argsort(-(quota - take), kind="stable")
        take[order[:spare]] += 1
    take = np.minimum(take, counts - 1)
    rng = np.random.default_rng(seed)
    val = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    val_index = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=int)
    train_index = np.setdiff1d(np.arange(total), val_index)
    return train_index, val_index


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


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no decay on biases, norm parameters (1-D) and tokens (CLS, mask), as in Point-MAE."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias") or "token" in name:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


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
    optimizer = torch.optim.AdamW(param_groups(model, settings.weight_decay), lr=settings.lr)
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
            f"{protocol}: the train split ({len(clouds)} samples) is too small to carve a validation split of "
            f"{fraction:.0%}; raise val_fraction or set it to 0 to train without model selection",
        )
    return clouds.subset(train_index), clouds.subset(val_index)


# ------------------------------------------------------------------------------------------------- classification


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    points: torch.Tensor,
    batch_size: int,
    device: torch.device,
    precision: str,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Float32 logits [M, C] (CPU) of ``model`` in eval mode, optionally on ``transform``-ed inputs."""
    outputs = []
    with eval_mode(model), autocast_context(precision, device):
        for start in range(0, len(points), batch_size):
            batch = points[start : start + batch_size]
            if transform is not None:
                batch = transform(batch)
            outputs.append(model(batch.to(device)).float().cpu())
    return torch.cat(outputs)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).float().mean())


def vote_accuracies(model: nn.Module, test: Clouds, options: Options, seed: int, device: torch.device) -> list[float]:
    """Accuracy of each voting repeat: logits averaged over ``vote_passes`` scale-and-translate passes."""
    accuracies = []
    for repeat in range(options.vote_repeats):
        generator = torch.Generator().manual_seed(seed * 100_003 + repeat)

        def augment(batch: torch.Tensor) -> torch.Tensor:
            return random_scale_translate(batch, generator, options.scale_range, options.translate)

        logits = sum(
            predict_logits(model, test.points, options.batch_size, device, options.precision, augment)
            for _ in range(options.vote_passes)
        )
        accuracies.append(percent(_accuracy(logits, test.labels)))
    return accuracies


def _check_options(options: Options) -> None:
    check_common(options, "finetune")
    check_pooling(options.pooling)
    if not 0 <= options.label_smoothing < 1:
        raise ConfigError(f"finetune.label_smoothing: must be in [0, 1), got {options.label_smoothing!r}")
    if options.vote_repeats < 0 or options.vote_passes < 1:
        raise ConfigError(
            "finetune.vote_repeats must be >= 0 and vote_passes >= 1, "
            f"got {options.vote_repeats} and {options.vote_passes}"
        )


def _train_one_seed(
    encoder_factory: EncoderFactory,
    train: Clouds,
    val: Clouds | None,
    test: Clouds,
    num_classes: int,
    options: Options,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    with seeded(device):
        torch.manual_seed(seed)
        encoder = encoder_factory()
        drop_path_blocks = set_drop_path(encoder, options.drop_path) if options.drop_path is not None else None
        encoder = encoder.to(device)
        with torch.no_grad(), eval_mode(encoder):
            probe = encoder(train.points[:2].to(device), num_groups=options.num_groups)
            in_dim = pooled_features(probe, options.pooling).shape[-1]
        head = ClassificationHead(in_dim, num_classes, options.head_hidden, options.head_dropout)
        model = Classifier(encoder, head, options.pooling, options.num_groups).to(device)
        generator = torch.Generator().manual_seed(seed)

        def step_loss(index: torch.Tensor) -> torch.Tensor:
            points = train.points[index]
            if options.augment:
                points = random_scale_translate(points, generator, options.scale_range, options.translate)
            logits = model(points.to(device)).float()
            return F.cross_entropy(logits, train.labels[index].to(device), label_smoothing=options.label_smoothing)

        def validate() -> float:
            logits = predict_logits(model, val.points, options.batch_size, device, options.precision)
            return _accuracy(logits, val.labels)

        fitted = fit(
            model, len(train), step_loss, validate if val is not None else None,
            FitSettings(
                options.epochs, options.batch_size, options.lr, options.min_lr, options.weight_decay,
                options.warmup_epochs, options.grad_clip, options.precision, options.progress,
            ),
            generator, device, f"finetune seed {seed}",
        )
        record: dict[str, Any] = {
            "seed": seed,
            "test_accuracy": percent(_accuracy(predict_logits(model, test.points, options.batch_size, device,
                                                              options.precision), test.labels)),
            "vote_accuracies": vote_accuracies(model, test, options, seed, device),
            "drop_path_blocks": drop_path_blocks,
            "train_loss": [round(x, 4) for x in fitted.train_loss],
            "val_accuracy": [percent(x) for x in fitted.val_score],
            "val_selected_epoch": fitted.best_epoch,
            "best_val_accuracy": None if fitted.best_score is None else percent(fitted.best_score),
            "val_selected_test_accuracy": None,
        }
        if fitted.best_state is not None:
            model.load_state_dict(fitted.best_state)
            logits = predict_logits(model, test.points, options.batch_size, device, options.precision)
            record["val_selected_test_accuracy"] = percent(_accuracy(logits, test.labels))
    return record


def run(encoder_factory: EncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    """Fine-tune ``encoder_factory()`` once per seed on ``source``; see the module docstring for the protocol."""
    _check_options(options)
    num_classes = require_labels(source, "finetune")
    train_split, test_split = source.split(options.train_split), source.split(options.test_split)
    if len(train_split) < num_classes:
        raise DataError(
            source.root, f"finetune: split {options.train_split!r} has {len(train_split)} samples, fewer than the "
            f"{num_classes} classes"
        )
    if len(test_split) == 0:
        raise DataError(source.root, f"finetune: split {options.test_split!r} is empty")
    load = dict(num_points=options.num_points, num_classes=num_classes, sampling=options.sampling,
                protocol="finetune", progress=options.progress)
    full_train = load_clouds(train_split, desc=f"load {options.train_split}", **load)
    test = load_clouds(test_split, desc=f"load {options.test_split}", **load)
    train, val = carve_validation(full_train, options.val_fraction, options.split_seed, source.root, "finetune")
    runs = [_train_one_seed(encoder_factory, train, val, test, num_classes, options, s, device) for s in options.seeds]

    last_mean, last_std = mean_std([r["test_accuracy"] for r in runs])
    result: dict[str, Any] = {
        "protocol": "finetune",
        "headline": HEADLINE,
        "test_accuracy": last_mean,
        "test_accuracy_std": last_std,
        "test_accuracy_per_seed": [r["test_accuracy"] for r in runs],
        "val_selected_test_accuracy": None,
        "val_selected_test_accuracy_std": None,
        "seeds": list(options.seeds),
        "n_train": len(train),
        "n_val": 0 if val is None else len(val),
        "n_test": len(test),
        "num_classes": num_classes,
        "precision_used": resolved_precision(options.precision, device),
        "runs": [{k: v for k, v in r.items() if k != "vote_accuracies"} for r in runs],
        "options": options_dict(options),
    }
    if val is not None:
        selected = [r["val_selected_test_accuracy"] for r in runs]
        result["val_selected_test_accuracy"], result["val_selected_test_accuracy_std"] = mean_std(selected)
    if options.vote_repeats > 0:
        votes = [acc for r in runs for acc in r["vote_accuracies"]]
        vote_mean, vote_std = mean_std(votes)
        result["vote"] = {
            "passes": options.vote_passes,
            "repeats": options.vote_repeats,
            "test_accuracy": vote_mean,
            "test_accuracy_std": vote_std,
            "per_seed": [r["vote_accuracies"] for r in runs],
        }
    return result
