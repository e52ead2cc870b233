"""Frozen features of a dataset split: the one place where clouds are resampled, normalised and encoded.

Every frozen-feature protocol (SVM, k-NN, linear probe, few-shot, online probe, diagnostics) goes through
:func:`extract_features`, so they all see exactly the same inputs: each cloud resampled to ``num_points``
deterministically (farthest point sampling from point 0, or a fixed-seed random subset), centred on its centroid and
scaled to the unit sphere, encoded in eval mode without gradients, and pooled with
:func:`pointdistill.models.base.pooled_features`.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from pointdistill.data.base import PointSplit, validate_points
from pointdistill.data.padding import PaddingTally
from pointdistill.errors import ConfigError
from pointdistill.models.base import POOLINGS, PointEncoder, pooled_features
from pointdistill.ops.fps import farthest_point_sample
from pointdistill.ops.gather import gather_points
from pointdistill.utils.precision import resolve_precision

SAMPLINGS = ("fps", "random")
PRECISIONS = ("auto", "fp32", "bf16")
_VALID_POOLINGS = POOLINGS + ("global",)
_PROGRESS_MIN_SAMPLES = 256
"""Extractions shorter than this finish in a blink; a progress bar would only clutter the output."""


def check_pooling(pooling: Sequence[str]) -> tuple[str, ...]:
    """Validate pooling names early (a ConfigError naming the bad one), before any shape is encoded."""
    pooling = tuple(pooling)
    if not pooling:
        raise ConfigError(f"pooling: choose at least one of {list(_VALID_POOLINGS)}")
    for name in pooling:
        if name not in _VALID_POOLINGS:
            raise ConfigError(f"pooling: unknown pooling {name!r}; choose from {list(_VALID_POOLINGS)}")
    return pooling


def normalize_unit_sphere(points: torch.Tensor) -> torch.Tensor:
    """Centre each cloud of ``points`` [B, N, 3] on its centroid and scale it so its farthest point has norm 1."""
    centred = points - points.mean(dim=1, keepdim=True)
    radius = centred.norm(dim=-1).amax(dim=1).clamp_min(1e-12)
    return centred / radius[:, None, None]


def pad_clouds(clouds: Sequence[np.ndarray]) -> torch.Tensor:
    """Clouds of any sizes as one float32 batch [B, Nmax, 3], zero-padded after each cloud's own points."""
    padded = torch.zeros(len(clouds), max(len(c) for c in clouds), 3)
    for row, cloud in enumerate(clouds):
        padded[row, : len(cloud)] = torch.as_tensor(cloud, dtype=torch.float32)
    return padded


def resample_point_index(
    padded: torch.Tensor,
    sizes: Sequence[int],
    num_points: int,
    *,
    sampling: str = "fps",
    seeds: Sequence[int] | None = None,
) -> torch.Tensor:
    """Which ``num_points`` points [B, num_points] of each cloud in ``padded`` [B, Nmax, 3] (holding ``sizes`` real
    points) the evaluation protocols keep, deterministically.

    Frozen-feature and fine-tuned protocols both resample through here, so they see the same points; an index
    (rather than the points) lets per-point labels follow their points. ``fps`` runs one batched farthest point
    sampling over the padded batch (starting at each cloud's point 0); clouds smaller than ``num_points`` repeat
    already chosen points. ``random`` draws a sorted subset (with replacement only when a cloud is too small) from
    ``np.random.default_rng(seed)``, one seed per cloud (its dataset index; ``range(B)`` by default) so a sample
    gets the same points in every run and every batch composition. A batch whose clouds are all at ``num_points``
    keeps every point in order.
    """
    if sampling not in SAMPLINGS:
        raise ConfigError(f"sampling: {sampling!r} is not one of {list(SAMPLINGS)}")
    if num_points < 1:
        raise ConfigError(f"num_points: must be at least 1, got {num_points}")
    if all(size == num_points for size in sizes):
        return torch.arange(num_points).expand(len(sizes), -1)
    if sampling == "random":
        seeds = range(len(sizes)) if seeds is None else seeds
        picked = []
        for size, seed in zip(sizes, seeds):
            rng = np.random.default_rng(seed)
            picked.append(np.sort(rng.choice(size, num_points, replace=size < num_points)))
        return torch.from_numpy(np.stack(picked)).long()
    return farthest_point_sample(padded, num_points, lengths=torch.tensor(list(sizes)))


def prepare_batch(
    clouds: Sequence[np.ndarray], num_points: int, *, sampling: str = "fps", seeds: Sequence[int] | None = None
) -> torch.Tensor:
    """Resample then normalise: the exact input every frozen-feature protocol feeds the encoder, [B, num_points, 3]."""
    padded = pad_clouds(clouds)
    index = resample_point_index(padded, [len(c) for c in clouds], num_points, sampling=sampling, seeds=seeds)
    return normalize_unit_sphere(gather_points(padded, index))


def _bf16_wanted(precision: str, device: torch.device) -> bool:
    """bf16 autocast only when asked for, or (``auto``) when the engine's own precision choice for this device
    is bf16, so evaluation never runs at a precision the training engine would not pick."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: {precision!r} is not one of {list(PRECISIONS)}")
    if precision != "auto":
        return precision == "bf16"
    return resolve_precision("auto", device) == "bf16"


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of an encoder forward pass at ``precision``."""
    if _bf16_wanted(precision, device):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put ``module`` in eval mode for the block and restore its previous mode after (the online probe runs
    in the middle of training)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def encode_batch(
    encoder: PointEncoder,
    points: torch.Tensor,
    *,
    pooling: Sequence[str] = POOLINGS,
    device: torch.device,
    precision: str = "auto",
) -> torch.Tensor:
    """Pooled float32 features [B, F] (on CPU) of a prepared batch [B, N, 3]."""
    with autocast_context(precision, device):
        output = encoder(points.to(device))
        features = pooled_features(output, pooling)
    return features.float().cpu()


def _read_cloud(split: PointSplit, index: int) -> tuple[np.ndarray, int | None]:
    sample = split[index]
    points = validate_points(sample["points"], sample.get("name", f"sample {index}"))
    label = sample.get("label")
    return points, None if label is None else int(label)


def extract_features(
    encoder: PointEncoder,
    split: PointSplit,
    *,
    num_points: int,
    batch_size: int,
    pooling: Sequence[str] = POOLINGS,
    device: torch.device,
    sampling: str = "fps",
    precision: str = "auto",
    indices: Sequence[int] | None = None,
    progress: bool | None = None,
    desc: str = "features",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Frozen features ``X`` [M, F] float32 and labels ``y`` [M] int64 (None when any sample has no label).

    ``indices`` restricts the extraction to those samples, in that order (few-shot folds, online subsets). The
    encoder is used in eval mode (its previous mode is restored), without gradients; the progress bar goes to
    stderr and only appears for long extractions unless ``progress`` forces it. Clouds with fewer than
    ``num_points`` points are padded by repeating points, and a warning named ``desc`` says how many, once per run.
    """
    pooling = check_pooling(pooling)
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be at least 1, got {batch_size}")
    order = list(range(len(split))) if indices is None else [int(i) for i in indices]
    if not order:
        raise ConfigError("cannot extract features of an empty split")
    show = len(order) >= _PROGRESS_MIN_SAMPLES if progress is None else progress
    chunks: list[torch.Tensor] = []
    labels: list[int | None] = []
    padding = PaddingTally(desc, f"num_points={num_points}")
    bar = tqdm(total=len(order), desc=desc, unit="shape", file=sys.stderr, disable=not show, leave=False)
    with eval_mode(encoder), bar:
        for start in range(0, len(order), batch_size):
            batch_index = order[start : start + batch_size]
            read = [_read_cloud(split, i) for i in batch_index]
            padding.add_sizes([len(p) for p, _ in read], num_points)
            points = prepare_batch([p for p, _ in read], num_points, sampling=sampling, seeds=batch_index)
            chunks.append(encode_batch(encoder, points, pooling=pooling, device=device, precision=precision))
            labels.extend(label for _, label in read)
            bar.update(len(batch_index))
    padding.report()
    features = torch.cat(chunks).numpy()
    y = None if any(label is None for label in labels) else np.asarray(labels, dtype=np.int64)
    return features, y
