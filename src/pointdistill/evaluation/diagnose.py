"""The ``diagnose`` protocol: is this encoder collapsed, and what does it look at?

Needs no labels (classes only colour the t-SNE when present). Numbers, on a seeded subsample of one split:

- ``effective_rank`` of the feature covariance (the headline; near 1 means collapse);
- ``top_eigenvalue_share``: the share of the variance along the first principal direction (near 1 means collapse).

With ``plots_dir`` it draws the spectrum, the t-SNE (``tsne``), the CLS attention of the last block on
``attention_shapes`` shapes (encoders without a CLS attention get a note instead), and the pretraining loss and
entropy curves when ``metrics`` names a run's ``metrics.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pointdistill.data.base import DatasetSource, validate_points
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import EncoderFactory, FeatureOptions, options_dict
from pointdistill.evaluation.diagnostics import effective_rank, feature_spectrum, read_metrics
from pointdistill.evaluation.features import check_pooling, extract_features, prepare_batch
from pointdistill.evaluation.plots import plot_attention, plot_spectrum, plot_training_curves, plot_tsne

HEADLINE = "effective_rank"


@dataclass
class Options(FeatureOptions):
    split: str = "test"
    max_samples: int = 1000
    attention_shapes: int = 4
    metrics: str | None = None
    plots_dir: str | None = None
    tsne: bool = True


def top_share(eigenvalues: np.ndarray) -> float:
    """Share of the variance along the first principal direction; 1 for features with no variance at all."""
    total = float(eigenvalues.sum())
    return float(eigenvalues[0]) / total if total > 0 else 1.0


def attention_maps(
    encoder: torch.nn.Module, split: Any, indices: list[int], options: Options, device: torch.device
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
    """(points, centres, head-averaged weights, names) of the CLS attention, or None for an encoder without one."""
    attend = getattr(encoder, "cls_attention", None)
    if not callable(attend):
        return None
    samples = [split[i] for i in indices]
    clouds = [validate_points(s["points"], s.get("name", str(i))) for s, i in zip(samples, indices)]
    points = prepare_batch(clouds, options.num_points, sampling=options.sampling, seeds=indices)
    encoder.eval()
    with torch.no_grad():
        weights, centers = attend(points.to(device))
    names = [str(s.get("name", i)) for s, i in zip(samples, indices)]
    return points.numpy(), centers.float().cpu().numpy(), weights.float().mean(dim=1).cpu().numpy(), names


def run(encoder_factory: EncoderFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    check_pooling(options.pooling)
    if options.max_samples < 2:
        raise ConfigError(f"max_samples: need at least 2 shapes for a covariance, got {options.max_samples}")
    if options.metrics and not Path(options.metrics).is_file():
        raise DataError(options.metrics, "metrics file not found")
    split = source.split(options.split)
    if len(split) < 2:
        raise DataError(source.root, f"split {options.split!r} has {len(split)} shape(s); diagnostics need at least 2")
    rng = np.random.default_rng(options.seed)
    count = min(options.max_samples, len(split))
    indices = sorted(rng.choice(len(split), count, replace=False).tolist())
    encoder = encoder_factory().to(device)
    features, labels = extract_features(
        encoder, split, num_points=options.num_points, batch_size=options.batch_size, pooling=options.pooling,
        device=device, sampling=options.sampling, precision=options.precision, indices=indices, desc="diagnose",
    )
    eigenvalues = feature_spectrum(features)
    result: dict[str, Any] = {
        "protocol": "diagnose",
        "headline": HEADLINE,
        "effective_rank": round(effective_rank(eigenvalues), 2),
        "top_eigenvalue_share": round(top_share(eigenvalues), 4),
        "feature_dim": int(features.shape[1]),
        "n_samples": count,
        "options": options_dict(options),
    }
    if options.plots_dir:
        result.update(_draw(encoder, split, source, features, labels, indices, options, device))
    return result


def _draw(
    encoder: torch.nn.Module, split: Any, source: DatasetSource, features: np.ndarray, labels: np.ndarray | None,
    indices: list[int], options: Options, device: torch.device,
) -> dict[str, Any]:
    folder = Path(options.plots_dir)
    plots = [folder / "spectrum.png"]
    plot_spectrum(features, plots[0], title=f"Feature covariance spectrum ({options.split} split)")
    if options.tsne:
        title = f"t-SNE of {options.split} features"
        plots.append(plot_tsne(features, labels, source.classes, folder / "tsne.png", seed=options.seed, title=title))
    extra: dict[str, Any] = {}
    if options.attention_shapes > 0:
        # Spread the shapes over the subsample: split files are often sorted by class.
        spread = np.linspace(0, len(indices) - 1, min(options.attention_shapes, len(indices))).round().astype(int)
        maps = attention_maps(encoder, split, [indices[i] for i in spread], options, device)
        if maps is None:
            extra["attention"] = f"{type(encoder).__name__} has no CLS attention; no attention map drawn"
        else:
            plots.append(plot_attention(*maps[:3], folder / "attention.png", titles=maps[3]))
    if options.metrics:
        plots.append(plot_training_curves(read_metrics(options.metrics), folder / "curves.png"))
    return {"plots": [str(p) for p in plots], **extra}
