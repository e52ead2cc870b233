"""Scene semantic segmentation of a scene encoder: Sonata's linear probe, and a fine-tuning variant.

``mode=linear`` (the probe): the encoder is frozen (eval mode). Every scene is voxel-sampled at the encoder's grid
size (the first point of each cell, no augmentation), encoded, and its per-point feature is the full up-cast of
the pyramid (every level concatenated at the input resolution: 48 + 96 + 192 + 384 + 512 = 1232 channels with
Sonata's widths). One linear layer, on features standardised with train statistics, is trained with
cross-entropy (plus ``lovasz_weight`` times the Lovasz-softmax term that Sonata adds) by AdamW over shuffled
points. Deviation, for CPU cost: the frozen features of the train scenes are computed once, un-augmented, where
Sonata recomputes them on augmented scenes every epoch.

``mode=finetune``: the encoder is trained too, with a light decoder (Linear -> LayerNorm -> GELU -> Linear on the
same up-cast features); train scenes are augmented and randomly voxel-sampled every epoch and cropped to
``max_points``; the encoder's learning rate is ``lr * encoder_lr_scale``.

Both select their epoch by the mIoU of a validation split of train scenes (``val_fraction``, drawn with ``seed``),
never on test. The test split is scored once, with the predictions of the voxel-sampled points mapped back to every
original point: mIoU over the classes present in the test ground truth (label -1 ignored), overall accuracy, and a
per-class IoU table.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pointdistill.data.base import DatasetSource
from pointdistill.data.loader import ViewLoader, resolve_num_workers, seed_worker
from pointdistill.data.scene_batch import SceneBatch, SceneDataConfig, SceneDataset, collate_scenes
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import options_dict, percent
from pointdistill.evaluation.splits import stratified_split
from pointdistill.losses.lovasz import LovaszSoftmax
from pointdistill.models.scene.ptv3 import SceneEncoder

HEADLINE = "miou"
BACKBONE = "scene"
"""The CLI loads a scene encoder (``load_scene_encoder``) for this protocol, not an object encoder."""
MODES = ("linear", "finetune")
SceneEncoderFactory = Callable[[], SceneEncoder]


@dataclass
class Options:
    """Every knob of the protocol; ``voxel_size`` None takes the encoder's grid size, ``channels`` must add up to
    the encoder's ``in_channels``."""

    mode: str = "linear"
    train_split: str = "train"
    test_split: str = "test"
    val_fraction: float = 0.2
    channels: tuple[str, ...] = ("color", "normal")
    voxel_size: float | None = None
    up: str = "z"
    batch_size: int = 2
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.01
    point_batch: int = 16384
    lovasz_weight: float = 0.0
    encoder_lr_scale: float = 0.1
    decoder_dim: int = 128
    max_points: int | None = 40000
    num_workers: int = -1
    progress: bool = True
    seed: int = 0
    plots_dir: str | None = None


# ------------------------------------------------------------------ metrics


def confusion_matrix(prediction: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[C, C] counts, rows = ground truth; points labelled -1 (or beyond the classes) are left out."""
    keep = (target >= 0) & (target < num_classes)
    codes = target[keep].long() * num_classes + prediction[keep].long()
    return torch.bincount(codes, minlength=num_classes * num_classes).view(num_classes, num_classes)


def segmentation_scores(confusion: torch.Tensor) -> tuple[float, float, list[float | None]]:
    """(mIoU, overall accuracy, per-class IoU) in [0, 1]; a class absent from the ground truth gets None and is
    not averaged."""
    confusion = confusion.double()
    truth = confusion.sum(dim=1)
    hits = confusion.diagonal()
    union = truth + confusion.sum(dim=0) - hits
    present = truth > 0
    iou = torch.where(present, hits / union.clamp_min(1.0), torch.zeros_like(hits))
    miou = float(iou[present].mean()) if present.any() else 0.0
    accuracy = float(hits.sum() / truth.sum().clamp_min(1.0))
    return miou, accuracy, [float(v) if p else None for v, p in zip(iou.tolist(), present.tolist())]


# ------------------------------------------------------------------ data


def _loader(dataset: SceneDataset, keys: Sequence[Sequence[Any]], workers: int) -> ViewLoader:
    """Batches of the given dataset keys, in order (a list of key lists: the batches)."""
    workers = min(resolve_num_workers(workers), len(keys))
    return ViewLoader(dataset, batch_sampler=[list(batch) for batch in keys], num_workers=workers,
                      collate_fn=collate_scenes, worker_init_fn=seed_worker)


def _bar(loader: ViewLoader, desc: str, show: bool) -> tqdm:
    """Progress over a loader's batches of scenes, on stderr, gone when done."""
    return tqdm(loader, total=len(loader), desc=desc, unit="batch", file=sys.stderr, disable=not show, leave=False)


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _scene_classes(source: DatasetSource, splits: Sequence[str]) -> int:
    """Number of classes: the source's class list, else one more than the largest label (read once per scene)."""
    if source.classes:
        return len(source.classes)
    largest = max(int(np.max(sample["segment"], initial=-1)) for split in splits for sample in source.split(split))
    return largest + 1


def _check(options: Options, encoder: SceneEncoder, source: DatasetSource) -> SceneDataConfig:
    if options.mode not in MODES:
        raise ConfigError(f"mode: unknown {options.mode!r}; choose from {', '.join(MODES)}")
    if not 0 < options.val_fraction < 1:
        raise ConfigError(f"val_fraction: must lie in (0, 1), got {options.val_fraction}")
    for key in ("batch_size", "epochs", "point_batch", "decoder_dim"):
        if getattr(options, key) < 1:
            raise ConfigError(f"{key}: must be >= 1, got {getattr(options, key)}")
    for split in (options.train_split, options.test_split):
        if split not in source.splits:
            raise DataError(source.root, f"has no split {split!r} (splits: {', '.join(source.splits)})")
    config = SceneDataConfig.from_dict({
        "voxel_size": options.voxel_size if options.voxel_size is not None else encoder.grid_size,
        "channels": list(options.channels),
        "up": options.up,
        "max_points": options.max_points,
    })
    if config.in_channels != encoder.in_channels:
        raise ConfigError(f"channels: {list(options.channels)} give {config.in_channels} input channels, the encoder "
                          f"takes {encoder.in_channels} (scene_encoder.in_channels)")
    return config


# ------------------------------------------------------------------ model pieces


def _features(encoder: SceneEncoder, batch: SceneBatch) -> torch.Tensor:
    return encoder(batch.coord, batch.feat, batch.offset).upcast()


def _predict(model: Callable[[SceneBatch], torch.Tensor], loader: ViewLoader, device: torch.device,
             num_classes: int, original: bool, show: bool = False) -> tuple[torch.Tensor, SceneBatch | None,
                                                                           torch.Tensor | None]:
    """Confusion matrix of ``model`` over ``loader``'s scenes: at every original point (``original``) or at the
    voxel-sampled points; also the first batch and its voxel predictions, for the picture."""
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    first: tuple[SceneBatch, torch.Tensor] | None = None
    with torch.no_grad():
        for batch in _bar(loader, "sceneseg test" if original else "sceneseg val", show):
            prediction = model(batch.to(device)).argmax(dim=1).cpu()
            if first is None:
                first = (batch, prediction)
            if original:
                if batch.original_segment is None:
                    raise DataError(batch.names[0], "has no per-point 'segment' labels to score")
                confusion += confusion_matrix(prediction[batch.inverse], batch.original_segment, num_classes)
            else:
                confusion += confusion_matrix(prediction, batch.segment, num_classes)
    return confusion, *(first if first is not None else (None, None))


class _Criterion(nn.Module):
    """Cross-entropy (ignore -1) plus ``lovasz_weight`` times the Lovasz-softmax term."""

    def __init__(self, lovasz_weight: float) -> None:
        super().__init__()
        self.cross_entropy = nn.CrossEntropyLoss(ignore_index=-1)
        self.lovasz = LovaszSoftmax() if lovasz_weight > 0 else None
        self.lovasz_weight = lovasz_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.cross_entropy(logits, target)
        if self.lovasz is not None:
            loss = loss + self.lovasz_weight * self.lovasz(logits, target)
        return loss


# ------------------------------------------------------------------ linear probe


def _extract(encoder: SceneEncoder, loader: ViewLoader, device: torch.device, desc: str,
             show: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen up-cast features (float16, CPU) and labels of every voxel-sampled point of ``loader``'s scenes."""
    feats, labels = [], []
    with torch.no_grad():
        for batch in _bar(loader, desc, show):
            if batch.segment is None:
                raise DataError(batch.names[0], "has no per-point 'segment' labels to train on")
            feats.append(_features(encoder, batch.to(device)).half().cpu())
            labels.append(batch.segment)
    return torch.cat(feats), torch.cat(labels)


def _linear_probe(encoder: SceneEncoder, dataset: SceneDataset, train_keys: list[int], val_keys: list[int],
                  options: Options, device: torch.device, num_classes: int) -> tuple[Callable, dict[str, Any]]:
    train_x, train_y = _extract(encoder, _loader(dataset, _chunks(train_keys, options.batch_size),
                                                 options.num_workers), device, "sceneseg train", options.progress)
    val_x, val_y = _extract(encoder, _loader(dataset, _chunks(val_keys, options.batch_size), options.num_workers),
                            device, "sceneseg val", options.progress)
    mean = train_x.double().mean(dim=0).float().to(device)
    std = train_x.double().std(dim=0).float().clamp_min(1e-6).to(device)
    head = nn.Linear(train_x.shape[1], num_classes).to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    criterion = _Criterion(options.lovasz_weight)
    generator = torch.Generator().manual_seed(options.seed)
    labelled = torch.nonzero(train_y >= 0).squeeze(1)
    best = (-1.0, 0, copy.deepcopy(head.state_dict()))
    curve = []
    for epoch in tqdm(range(1, options.epochs + 1), desc="sceneseg linear", unit="epoch", file=sys.stderr,
                      disable=not options.progress, leave=False):
        order = labelled[torch.randperm(len(labelled), generator=generator)]
        for rows in order.split(options.point_batch):
            logits = head((train_x[rows].to(device).float() - mean) / std)
            loss = criterion(logits, train_y[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            prediction = torch.cat([head((rows.to(device).float() - mean) / std).argmax(1).cpu()
                                    for rows in val_x.split(options.point_batch)])
        val_miou = segmentation_scores(confusion_matrix(prediction, val_y, num_classes))[0]
        curve.append(percent(val_miou))
        if val_miou > best[0]:
            best = (val_miou, epoch, copy.deepcopy(head.state_dict()))
    head.load_state_dict(best[2])

    def model(batch: SceneBatch) -> torch.Tensor:
        return head((_features(encoder, batch) - mean) / std)

    return model, {"best_epoch": best[1], "val_miou": percent(best[0]), "val_curve": curve,
                   "train_points": int(len(labelled)), "feature_dim": int(train_x.shape[1])}


# ------------------------------------------------------------------ fine-tuning


class _Segmenter(nn.Module):
    """Scene encoder + light decoder on the full up-cast."""

    def __init__(self, encoder: SceneEncoder, num_classes: int, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = nn.Sequential(nn.Linear(encoder.feature_dim, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                     nn.Linear(hidden, num_classes))

    def forward(self, batch: SceneBatch) -> torch.Tensor:
        return self.decoder(_features(self.encoder, batch))


def _epoch_keys(keys: list[int], epoch: int, batch_size: int, seed: int) -> list[list[tuple[int, int]]]:
    """Shuffled ``(epoch, index)`` batches (the dataset's per-sample augmentation streams are keyed by both)."""
    order = np.random.default_rng([seed, epoch]).permutation(keys)
    return _chunks([(epoch, int(i)) for i in order], batch_size)


def _finetune(encoder: SceneEncoder, source: DatasetSource, config: SceneDataConfig, train_keys: list[int],
              val_loader: ViewLoader, options: Options, device: torch.device,
              num_classes: int) -> tuple[Callable, dict[str, Any]]:
    train_set = SceneDataset(source, options.train_split, config, train=True, seed=options.seed)
    model = _Segmenter(encoder, num_classes, options.decoder_dim).to(device)
    optimizer = torch.optim.AdamW([
        {"params": model.encoder.parameters(), "lr": options.lr * options.encoder_lr_scale},
        {"params": model.decoder.parameters(), "lr": options.lr},
    ], weight_decay=options.weight_decay)
    criterion = _Criterion(options.lovasz_weight)
    best = (-1.0, 0, copy.deepcopy(model.state_dict()))
    curve = []
    for epoch in range(1, options.epochs + 1):
        model.train()
        keys = _epoch_keys(train_keys, epoch, options.batch_size, options.seed)
        for batch in _bar(_loader(train_set, keys, options.num_workers), f"sceneseg finetune {epoch}/{options.epochs}",
                          options.progress):
            batch = batch.to(device)
            loss = criterion(model(batch), batch.segment)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        val_miou = segmentation_scores(_predict(model, val_loader, device, num_classes, original=False)[0])[0]
        curve.append(percent(val_miou))
        if val_miou > best[0]:
            best = (val_miou, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    model.eval()
    return model, {"best_epoch": best[1], "val_miou": percent(best[0]), "val_curve": curve}


# ------------------------------------------------------------------ protocol


def run(encoder_factory: SceneEncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    encoder = encoder_factory().to(device).eval()
    config = _check(options, encoder, source)
    num_classes = _scene_classes(source, (options.train_split, options.test_split))
    train_count = len(source.split(options.train_split))
    if train_count < 2:
        raise DataError(source.root, f"split {options.train_split!r} has {train_count} scene(s); the protocol "
                                     "needs at least 2 to carve a validation split")
    train_keys, val_keys = (ix.tolist() for ix in stratified_split(np.zeros(train_count), options.val_fraction,
                                                                   options.seed))
    torch.manual_seed(options.seed)
    eval_train = SceneDataset(source, options.train_split, config, train=False, seed=options.seed)
    val_loader = _loader(eval_train, _chunks(val_keys, options.batch_size), options.num_workers)
    if options.mode == "linear":
        encoder.requires_grad_(False)
        model, details = _linear_probe(encoder, eval_train, train_keys, val_keys, options, device, num_classes)
    else:
        model, details = _finetune(encoder, source, config, train_keys, val_loader, options, device, num_classes)
    test_set = SceneDataset(source, options.test_split, config, train=False, seed=options.seed)
    test_loader = _loader(test_set, _chunks(list(range(len(test_set))), options.batch_size), options.num_workers)
    confusion, first, prediction = _predict(model, test_loader, device, num_classes, original=True,
                                            show=options.progress)
    miou, accuracy, ious = segmentation_scores(confusion)
    names = list(source.classes) or [str(i) for i in range(num_classes)]
    result: dict[str, Any] = {
        "protocol": "sceneseg",
        "headline": HEADLINE,
        "miou": percent(miou),
        "overall_accuracy": percent(accuracy),
        "per_class_iou": {name: (percent(v) if v is not None else None) for name, v in zip(names, ious)},
        "mode": options.mode,
        **details,
        "n_train_scenes": len(train_keys),
        "n_val_scenes": len(val_keys),
        "n_test_scenes": len(test_set),
        "n_test_points": int(confusion.sum()),
        "num_classes": num_classes,
        "voxel_size": config.voxel_size,
        "options": options_dict(options),
    }
    if options.plots_dir and first is not None:
        from pointdistill.evaluation.plots import plot_scene_segmentation

        scene = slice(0, int(first.offset[0]))
        path = plot_scene_segmentation(
            first.coord[scene].numpy(), first.segment[scene].numpy() if first.segment is not None else None,
            prediction[scene].numpy(), names, f"{options.plots_dir}/sceneseg_scene.png", up=options.up,
            title=first.names[0],
        )
        result["plots"] = [str(path)]
    return result
