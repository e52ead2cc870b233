"""Full fine-tuning for classification (the Point-MAE protocol), on the supervised training pieces it shares with
part segmentation (:mod:`pointdistill.evaluation.supervised`).

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

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.data.base import DatasetSource
from pointdistill.errors import ConfigError
from pointdistill.evaluation.common import EncoderFactory, options_dict, percent, require_labels
from pointdistill.evaluation.features import autocast_context, check_pooling, eval_mode
from pointdistill.evaluation.heads import ClassificationHead, Classifier
from pointdistill.evaluation.supervised import (
    Clouds,
    FitSettings,
    carve_validation,
    check_common,
    fit,
    fresh_encoder,
    load_clouds,
    mean_std,
    open_splits,
    random_scale_translate,
    resolved_precision,
    seeded,
)
from pointdistill.models.base import pooled_features

HEADLINE = "test_accuracy"


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
    if options.num_groups is not None and not 1 <= options.num_groups <= options.num_points:
        raise ConfigError(
            f"finetune.num_groups: {options.num_groups} groups need as many points per cloud, but finetune.num_points "
            f"is {options.num_points}; lower num_groups or raise num_points"
        )
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
        encoder, drop_path_blocks = fresh_encoder(encoder_factory, seed, options.drop_path)
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
            FitSettings.from_options(options), generator, device, f"finetune seed {seed}",
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
    train_split, test_split = open_splits(source, options, num_classes, "finetune", "classes")
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
