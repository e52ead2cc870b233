"""Part segmentation (ShapeNetPart protocol of Point-MAE / Point-BERT): Cls. mIoU and Inst. mIoU.

Model (:class:`~pointdistill.evaluation.heads.PartSegmenter`): the outputs of three encoder blocks, by default
[3, 7, 11] of 12, i.e. the last block of each third (:func:`default_blocks`: ``round((i + 1) * depth / 3) - 1`` for
``i`` in 0..2, so depth 6 -> [1, 3, 5], depth 12 -> [3, 7, 11]), each layer-normalised and concatenated; their max
and mean over tokens plus an embedding of the category one-hot form a global feature; the concatenated tokens are
upsampled to every point by 3-NN inverse-distance interpolation from the patch centres (skipped for encoders whose
tokens already are the points) and a per-point MLP predicts the part id. Trained end to end with AdamW, a per-step
warm-up + cosine learning rate, stochastic depth on the encoder and PointNet++'s isotropic scale + shift
augmentation.

Metrics, computed the standard way: for each shape, the IoU of every part of *its category* (predictions restricted
to those parts by masking the other logits), a part absent from both prediction and ground truth counting as 1; the
shape's IoU is their mean. **Inst. mIoU** is the mean over shapes, **Cls. mIoU** the mean over categories of the
mean shape IoU of that category.

Part table: ``source.info["seg_classes"]`` maps each category name (an entry of ``source.classes``; ``label`` is the
category index) to its *global* part ids, as the ShapeNetPart reader provides. Model selection uses the best
validation Inst. mIoU on a stratified split carved from **train** (the source's own ``val`` split only when
``val_split`` names it); the headline is the **last** epoch's test Inst. mIoU, averaged over ``seeds``.

Defaults sized for CPU: ``epochs`` 20 (Point-MAE: 300 with 10 warm-up epochs, lr 2e-4, batch 16, 2048 points,
G=128 patches: pass ``num_groups=128`` to an encoder whose default is 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.data.base import DatasetSource
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import EncoderFactory, options_dict, percent, require_labels
from pointdistill.evaluation.features import autocast_context, eval_mode
from pointdistill.evaluation.heads import PartSegmenter
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
from pointdistill.models.base import PointEncoder

HEADLINE = "test_inst_miou"


@dataclass
class Options:
    """Every knob of the part-segmentation protocol (all reported in the result)."""

    epochs: int = 20
    batch_size: int = 16
    lr: float = 2e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    grad_clip: float = 10.0
    drop_path: float | None = 0.1
    blocks: tuple[int, ...] | None = None
    label_dim: int = 64
    propagation_dims: tuple[int, ...] = (1024,)
    head_hidden: tuple[int, ...] = (512, 256, 128)
    head_dropout: float = 0.5
    num_points: int = 2048
    num_groups: int | None = None
    sampling: str = "random"
    augment: bool = True
    scale_range: tuple[float, float] = (0.8, 1.25)
    translate: float = 0.1
    val_fraction: float = 0.1
    val_split: str | None = None
    split_seed: int = 0
    seeds: tuple[int, ...] = (0,)
    train_split: str = "train"
    test_split: str = "test"
    precision: str = "auto"
    progress: bool = True


def default_blocks(depth: int) -> tuple[int, ...]:
    """0-based indices of the blocks whose outputs feed the head: the last block of each third of the encoder.

    ``round((i + 1) * depth / 3) - 1`` for i = 0, 1, 2 (never a .5 tie), clamped at 0 and deduplicated for
    depth < 3: 12 -> (3, 7, 11) as in Point-MAE, 6 -> (1, 3, 5), 4 -> (0, 2, 3), 2 -> (0, 1), 1 -> (0,).
    """
    if depth < 1:
        raise ConfigError(f"partseg: encoder depth must be >= 1, got {depth}")
    return tuple(sorted({max(0, round((i + 1) * depth / 3) - 1) for i in range(3)}))


def encoder_depth(encoder: PointEncoder) -> int | None:
    """Number of blocks whose outputs ``return_hidden`` indexes: the encoder's ``depth`` attribute, else the length
    of its ``blocks`` (ViT) or ``layers`` (PointNet, DGCNN) module list; None when it has none of these."""
    depth = getattr(encoder, "depth", None)
    if isinstance(depth, int):
        return depth
    for name in ("blocks", "layers"):
        stack = getattr(encoder, name, None)
        if isinstance(stack, nn.ModuleList):
            return len(stack)
    return None


def part_table(source: DatasetSource) -> torch.Tensor:
    """Bool [num_categories, num_parts]: which global part ids belong to each category of ``source.classes``."""
    seg_classes = source.info.get("seg_classes")
    if not isinstance(seg_classes, dict) or not seg_classes:
        raise DataError(
            source.root,
            f"partseg needs a part table: info['seg_classes'] (category -> global part ids), which this "
            f"{source.format} source does not provide",
        )
    missing = [c for c in source.classes if c not in seg_classes]
    if missing:
        raise DataError(source.root, f"info['seg_classes'] has no part list for categories {missing}")
    ids = [int(p) for c in source.classes for p in seg_classes[c]]
    if not ids or min(ids) < 0:
        raise DataError(source.root, "info['seg_classes'] must list non-negative part ids for every category")
    table = torch.zeros(len(source.classes), max(ids) + 1, dtype=torch.bool)
    for row, category in enumerate(source.classes):
        table[row, [int(p) for p in seg_classes[category]]] = True
    return table


def check_parts(clouds: Clouds, table: torch.Tensor) -> None:
    """DataError naming the first sample with a part id outside its category's part list."""
    parts = clouds.parts
    out_of_range = (parts < 0) | (parts >= table.shape[1])
    allowed = table[clouds.labels.unsqueeze(1), parts.clamp(0, table.shape[1] - 1)] & ~out_of_range
    bad = (~allowed).any(dim=1)
    if bad.any():
        row = int(bad.nonzero()[0])
        value = int(parts[row][~allowed[row]][0])
        raise DataError(
            clouds.names[row], f"part id {value} is not a part of its category (allowed: "
            f"{table[clouds.labels[row]].nonzero().flatten().tolist()})"
        )


def restrict_predictions(logits: torch.Tensor, category: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Part ids [B, N]: argmax of ``logits`` [B, N, P] over the parts of each shape's category only."""
    allowed = table.to(logits.device)[category].unsqueeze(1)
    return logits.masked_fill(~allowed, float("-inf")).argmax(dim=-1)


def shape_ious(pred: torch.Tensor, target: torch.Tensor, category: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """IoU [S] of each shape: mean over its category's parts of |pred & gt| / |pred | gt|, 1 for a part absent in
    both. ``pred``, ``target`` [S, N] global part ids; ``category`` [S]; ``table`` [C, P] bool."""
    shapes, parts = target.shape[0], table.shape[1]
    offset = (torch.arange(shapes, device=target.device) * parts).unsqueeze(1)
    size = shapes * parts
    pred_count = torch.bincount((offset + pred).flatten(), minlength=size)
    target_count = torch.bincount((offset + target).flatten(), minlength=size)
    inter = torch.bincount((offset + target)[pred == target], minlength=size)
    union = (pred_count + target_count - inter).view(shapes, parts)
    inter = inter.view(shapes, parts)
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones((), dtype=torch.float32))
    mask = table.to(target.device)[category].float()
    return (iou * mask).sum(dim=1) / mask.sum(dim=1)


def miou(ious: torch.Tensor, category: torch.Tensor, num_categories: int) -> tuple[float, float, list[float | None]]:
    """``(cls_miou, inst_miou, per_category)`` as fractions: Inst. = mean over shapes, Cls. = mean over the
    categories present of their mean shape IoU (``None`` for absent categories)."""
    sums = torch.zeros(num_categories, dtype=torch.float64).index_add_(0, category, ious.double())
    counts = torch.bincount(category, minlength=num_categories)
    present = counts > 0
    per_category = (sums / counts.clamp(min=1)).tolist()
    cls = float((sums[present] / counts[present]).mean())
    return cls, float(ious.double().mean()), [v if p else None for v, p in zip(per_category, present.tolist())]


@torch.no_grad()
def evaluate(
    model: PartSegmenter, clouds: Clouds, table: torch.Tensor, batch_size: int, device: torch.device, precision: str
) -> torch.Tensor:
    """Shape IoUs [M] of ``model`` (eval mode) on ``clouds``."""
    ious = []
    with eval_mode(model), autocast_context(precision, device):
        for start in range(0, len(clouds), batch_size):
            points = clouds.points[start : start + batch_size].to(device)
            category = clouds.labels[start : start + batch_size].to(device)
            pred = restrict_predictions(model(points, category).float(), category, table)
            ious.append(shape_ious(pred.cpu(), clouds.parts[start : start + batch_size], category.cpu(), table))
    return torch.cat(ious)


def _metrics(ious: torch.Tensor, clouds: Clouds, classes: Sequence[str], prefix: str) -> dict[str, Any]:
    cls, inst, per_category = miou(ious, clouds.labels, len(classes))
    return {
        f"{prefix}cls_miou": percent(cls),
        f"{prefix}inst_miou": percent(inst),
        f"{prefix}per_category_miou": {c: percent(v) for c, v in zip(classes, per_category) if v is not None},
    }


def _check_options(options: Options) -> None:
    check_common(options, "partseg")
    if options.num_groups is not None and not 1 <= options.num_groups <= options.num_points:
        raise ConfigError(
            f"partseg.num_groups: {options.num_groups} groups need as many points per cloud, but partseg.num_points "
            f"is {options.num_points}; lower num_groups or raise num_points"
        )
    if options.blocks is not None and (not options.blocks or min(options.blocks) < 0):
        raise ConfigError(f"partseg.blocks: need non-negative block indices, got {options.blocks!r}")
    if options.val_split is not None and options.val_split == options.test_split:
        raise ConfigError(
            f"partseg.val_split: {options.val_split!r} is the test split; model selection never uses test"
        )
    if options.label_dim < 1 or not options.head_hidden:
        raise ConfigError("partseg.label_dim must be >= 1 and head_hidden must list at least one width")


def _build_model(
    encoder: PointEncoder, sample: torch.Tensor, num_categories: int, num_parts: int, options: Options,
    device: torch.device,
) -> tuple[PartSegmenter, tuple[int, ...]]:
    """Resolve the blocks, check the encoder returns them, and size the head from a dry forward."""
    depth = encoder_depth(encoder)
    if options.blocks is not None:
        blocks = tuple(options.blocks)
        if depth is not None and max(blocks) >= depth:
            raise ConfigError(f"partseg.blocks: {list(blocks)} out of range for an encoder of depth {depth}")
    elif depth is None:
        raise ConfigError(
            f"partseg.blocks: cannot tell the depth of {type(encoder).__name__} (no 'depth', 'blocks' or 'layers'); "
            "set blocks explicitly"
        )
    else:
        blocks = default_blocks(depth)
    try:
        with torch.no_grad(), eval_mode(encoder):
            output = encoder(sample.to(device), num_groups=options.num_groups, return_hidden=list(blocks))
    except ValueError as error:
        raise ConfigError(f"partseg.blocks: {error}") from None
    if len(output.hidden) != len(blocks):
        raise ConfigError(
            f"partseg.blocks: {type(encoder).__name__} returned {len(output.hidden)} hidden outputs for blocks "
            f"{list(blocks)}; part segmentation needs an encoder that supports return_hidden"
        )
    model = PartSegmenter(
        encoder, blocks, [h.shape[-1] for h in output.hidden], num_categories, num_parts,
        label_dim=options.label_dim, propagation_dims=options.propagation_dims, hidden=options.head_hidden,
        dropout=options.head_dropout, num_groups=options.num_groups,
    )
    return model.to(device), blocks


def _train_one_seed(
    encoder_factory: EncoderFactory,
    data: dict[str, Clouds | None],
    table: torch.Tensor,
    classes: Sequence[str],
    options: Options,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    train, val, test = data["train"], data["val"], data["test"]
    with seeded(device):
        encoder, drop_path_blocks = fresh_encoder(encoder_factory, seed, options.drop_path)
        model, blocks = _build_model(
            encoder.to(device), train.points[:2], len(classes), table.shape[1], options, device
        )
        generator = torch.Generator().manual_seed(seed)

        def step_loss(index: torch.Tensor) -> torch.Tensor:
            points = train.points[index]
            if options.augment:
                points = random_scale_translate(
                    points, generator, options.scale_range, options.translate, anisotropic=False
                )
            logits = model(points.to(device), train.labels[index].to(device)).float()
            return F.cross_entropy(logits.transpose(1, 2), train.parts[index].to(device))

        def validate() -> float:
            ious = evaluate(model, val, table, options.batch_size, device, options.precision)
            return float(ious.double().mean())

        fitted = fit(
            model, len(train), step_loss, validate if val is not None else None,
            FitSettings.from_options(options), generator, device, f"partseg seed {seed}",
        )
        last = evaluate(model, test, table, options.batch_size, device, options.precision)
        record: dict[str, Any] = {
            "seed": seed,
            "blocks": list(blocks),
            "drop_path_blocks": drop_path_blocks,
            **_metrics(last, test, classes, "test_"),
            "train_loss": [round(x, 4) for x in fitted.train_loss],
            "val_inst_miou": [percent(x) for x in fitted.val_score],
            "val_selected_epoch": fitted.best_epoch,
            "best_val_inst_miou": None if fitted.best_score is None else percent(fitted.best_score),
        }
        if fitted.best_state is not None:
            model.load_state_dict(fitted.best_state)
            selected = evaluate(model, test, table, options.batch_size, device, options.precision)
            record.update(_metrics(selected, test, classes, "val_selected_test_"))
    return record


def _load_data(source: DatasetSource, options: Options, table: torch.Tensor) -> dict[str, Clouds | None]:
    num_classes = len(source.classes)
    load = dict(num_points=options.num_points, num_classes=num_classes, sampling=options.sampling,
                protocol="partseg", with_parts=True, progress=options.progress)
    train_split, test_split = open_splits(source, options, num_classes, "partseg", "categories")
    train = load_clouds(train_split, desc=f"load {options.train_split}", **load)
    test = load_clouds(test_split, desc=f"load {options.test_split}", **load)
    if options.val_split is not None:
        val: Clouds | None = load_clouds(source.split(options.val_split), desc=f"load {options.val_split}", **load)
    else:
        train, val = carve_validation(train, options.val_fraction, options.split_seed, source.root, "partseg")
    for clouds in (train, val, test):
        if clouds is not None:
            check_parts(clouds, table)
    return {"train": train, "val": val, "test": test}


def run(encoder_factory: EncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    """Train a part-segmentation head and the encoder once per seed; see the module docstring for the protocol."""
    _check_options(options)
    require_labels(source, "partseg")
    table = part_table(source)
    data = _load_data(source, options, table)
    runs = [_train_one_seed(encoder_factory, data, table, source.classes, options, s, device) for s in options.seeds]

    result: dict[str, Any] = {"protocol": "partseg", "headline": HEADLINE}
    for key in ("test_inst_miou", "test_cls_miou", "val_selected_test_inst_miou", "val_selected_test_cls_miou"):
        values = [r[key] for r in runs if key in r]
        mean, std = mean_std(values) if values else (None, None)
        result[key], result[f"{key}_std"] = mean, std
        result[f"{key}_per_seed"] = values
    train, val, test = data["train"], data["val"], data["test"]
    carved = None if val is None else f"{options.val_fraction:.0%} of {options.train_split}"
    result.update({
        "seeds": list(options.seeds),
        "blocks": runs[0]["blocks"],
        "n_train": len(train),
        "n_val": 0 if val is None else len(val),
        "val_from": options.val_split or carved,
        "n_test": len(test),
        "num_categories": len(source.classes),
        "num_parts": int(table.shape[1]),
        "precision_used": resolved_precision(options.precision, device),
        "runs": runs,
        "options": options_dict(options),
    })
    return result
