"""Linear probe: one trained linear layer on standardised frozen features.

A validation split is carved from train (stratified, seeded); the epoch is selected by validation accuracy alone.
The headline ``test_accuracy`` is the test accuracy at that selected epoch; ``test_accuracy_last`` (the last epoch)
is reported next to it so a reader can see selection did not cherry-pick. Test accuracy is measured every epoch but
never consulted for any choice.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pointdistill.data.base import DatasetSource
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import (
    ClassificationOptions,
    EncoderFactory,
    feature_summary,
    options_dict,
    percent,
    train_test_features,
)
from pointdistill.evaluation.plots import classification_plots
from pointdistill.evaluation.splits import stratified_split

HEADLINE = "test_accuracy"


@dataclass
class Options(ClassificationOptions):
    """AdamW on full passes over the standardised features (``probe_batch_size`` per step), the learning rate
    decayed to 0 by a cosine over ``epochs``; ``val_fraction`` of each class is held out for epoch selection."""

    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 1e-4
    probe_batch_size: int = 256
    val_fraction: float = 0.1


def train_probe(
    x_fit: torch.Tensor, y_fit: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor, num_classes: int,
    options: Options, watch: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[nn.Linear, dict[str, list[float]]]:
    """Train the linear layer with AdamW and a cosine schedule.

    Returns the layer as it was at the epoch of best validation accuracy (the first such epoch) and the per-epoch
    accuracies on ``val`` and, when given, on ``watch`` (the test set: recorded for the report, never used to choose).
    """
    generator = torch.Generator(device="cpu").manual_seed(options.seed)
    layer = nn.Linear(x_fit.shape[1], num_classes).to(x_fit.device)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.01)
        layer.bias.zero_()
    optimizer = torch.optim.AdamW(layer.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=options.epochs)
    history: dict[str, list[float]] = {"val": [], "test": []}
    best_state = copy.deepcopy(layer.state_dict())
    for _ in range(options.epochs):
        order = torch.randperm(len(x_fit), generator=generator).to(x_fit.device)
        for start in range(0, len(order), options.probe_batch_size):
            batch = order[start : start + options.probe_batch_size]
            loss = nn.functional.cross_entropy(layer(x_fit[batch]), y_fit[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        schedule.step()
        with torch.no_grad():
            history["val"].append(_accuracy(layer, x_val, y_val))
            if watch is not None:
                history["test"].append(_accuracy(layer, *watch))
        if history["val"][-1] > max(history["val"][:-1], default=-1.0):
            best_state = copy.deepcopy(layer.state_dict())
    layer.load_state_dict(best_state)
    return layer, history


def _accuracy(layer: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((layer(x).argmax(dim=1) == y).float().mean())


def check_options(options: Options) -> None:
    """Knob checks that need no data, run before any feature is extracted."""
    for name in ("epochs", "probe_batch_size"):
        if getattr(options, name) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {getattr(options, name)}")
    if options.lr <= 0 or options.weight_decay < 0:
        raise ConfigError(
            f"lr must be positive and weight_decay non-negative, got {options.lr} and {options.weight_decay}"
        )
    if not 0 < options.val_fraction < 1:
        raise ConfigError(f"val_fraction: must lie in (0, 1), got {options.val_fraction}")


def run(encoder_factory: EncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    check_options(options)
    x_all, y_all, x_test, y_test = train_test_features(encoder_factory, source, options, device, "linear")
    fit_index, val_index = stratified_split(y_all, options.val_fraction, options.seed)
    if len(val_index) == 0:
        raise DataError("train split", "no class has 2 samples; cannot carve a validation split from train")
    mean = x_all[fit_index].mean(axis=0)
    std = x_all[fit_index].std(axis=0) + 1e-6

    def features(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((x - mean) / std).float().to(device)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(y).to(device)

    num_classes = max(len(source.classes), int(max(y_all.max(), y_test.max())) + 1)
    test = (features(x_test), labels(y_test))
    layer, history = train_probe(
        features(x_all[fit_index]), labels(y_all[fit_index]), features(x_all[val_index]), labels(y_all[val_index]),
        num_classes, options, watch=test,
    )
    selected = int(np.argmax(history["val"]))
    result: dict[str, Any] = {
        "protocol": "linear",
        "headline": HEADLINE,
        "test_accuracy": percent(history["test"][selected]),
        "test_accuracy_last": percent(history["test"][-1]),
        "val_accuracy": percent(history["val"][selected]),
        "selected_epoch": selected + 1,
        "n_train": int(len(fit_index)),
        "n_val": int(len(val_index)),
        "n_test": int(len(y_test)),
        "num_classes": len(source.classes),
        **feature_summary(x_all),
        "options": options_dict(options),
    }
    if options.plots_dir:
        with torch.no_grad():
            predictions = layer(test[0]).argmax(dim=1).cpu().numpy()
        result["plots"] = classification_plots(
            options.plots_dir, "linear", y_test, predictions, source.classes, x_all, x_test, options.tsne, options.seed
        )
    return result
