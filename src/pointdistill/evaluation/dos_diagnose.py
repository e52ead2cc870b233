"""The ``dos`` protocol: what DOS's prototypes and softmaps do, on a checkpoint of a DOS run and a scene folder.

``diagnose`` asks whether an encoder's features collapsed; this asks the same of DOS's heads, and whether the
prototypes follow the Zipf prior. It runs the whole method (teacher and student, both in eval mode: no drop-path,
fixed orders) on the views DOS trains on: two grid-masked crops per scene, drawn from each scene's stream keyed by
``seed``, the teacher on the full views, the student on the visible points. No labels are needed. Numbers:

- the collapse entropies DOS logs during pretraining (:data:`~pointdistill.methods.dos.LOGGED_STATISTICS`), here
  over all the scenes at once: the mean per-point entropy of the assignment ``softmax(logits / temp)`` over the
  prototypes, and the entropy of the mean assignment (prototype usage), for teacher and student;
  ``effective_prototypes`` = exp(teacher usage entropy) is the headline: K when every prototype is used alike, 1 in
  one-prototype collapse;
- prototype usage against the Zipf prior ``w_k ~ k^-alpha``: ``usage_zipf_exponent`` is the slope of a
  least-squares line through the teacher's usage sorted by rank on log-log axes, ``usage_prior_distance`` the total
  variation between that sorted usage and the prior;
- softmap sharpness by prototype rank (``target=softmap`` only): the entropy of each prototype's softmap over a
  view's matched points (teacher: the Zipf-Sinkhorn target of the same-view term; student: its softmax over the
  points), divided by log of the view's point count (1 uniform, 0 one point) and averaged over views, in the order
  of teacher usage, and the teacher's also in the order of the prior's weights (prototype index, or the EMA usage
  ranking with ``prototype_rank=usage``). Zipf-Sinkhorn is meant to make head prototypes broad and tail prototypes
  peaked, so a teacher that follows the prior has ``softmap_rank_correlation`` (Spearman, sharpness against usage
  rank) and ``softmap_prior_rank_correlation`` (against prior rank) below 0.

Temperatures and the exponent are the run's final ones (``teacher_temp``, ``student_temp``, ``zipf_alpha``): the
state after any warm-up. With ``plots_dir``: ``usage.png`` (:func:`~pointdistill.evaluation.plots.
plot_prototype_usage`), ``sharpness.png`` and, when ``metrics`` names the run's ``metrics.jsonl`` (the CLI finds
it beside the checkpoint), ``curves.png`` with the logged entropies over the run.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from pointdistill.data.base import DatasetSource
from pointdistill.data.loader import ViewLoader, resolve_num_workers, seed_worker
from pointdistill.data.scene_views import DOSViewDataset, collate_dos_views
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import options_dict
from pointdistill.evaluation.diagnostics import read_metrics, total_variation, usage_by_rank, zipf_exponent
from pointdistill.evaluation.plots import plot_prototype_usage, plot_softmap_sharpness, plot_training_curves
from pointdistill.losses.entropy import assignment_statistics, entropy, segment_column_entropy
from pointdistill.losses.segments import segment_counts, segment_log_softmax
from pointdistill.losses.zipf_sinkhorn import zipf_prior
from pointdistill.methods.dos import DOS

HEADLINE = "effective_prototypes"
BACKBONE = "method"
"""The CLI loads the whole method of the checkpoint (``load_method``) for this protocol, not only its encoder."""
MethodFactory = Callable[[], torch.nn.Module]


@dataclass
class Options:
    """Every knob: the split and how many of its scenes (a seeded draw), batches of scenes, data workers (-1 auto)."""

    split: str = "test"
    max_scenes: int = 32
    batch_size: int = 2
    num_workers: int = -1
    progress: bool = True
    seed: int = 0
    metrics: str | None = None
    plots_dir: str | None = None


class Tally:
    """Sums over batches (float64, CPU) behind every number of the protocol."""

    def __init__(self, num_prototypes: int) -> None:
        zeros = lambda: np.zeros(num_prototypes)  # noqa: E731
        self.points = {"teacher": 0, "student": 0}
        self.point_entropy = {"teacher": 0.0, "student": 0.0}
        self.usage = {"teacher": zeros(), "student": zeros()}
        self.sharpness = {"teacher": zeros(), "student": zeros()}
        self.views = 0

    def add_assignments(self, role: str, logits: torch.Tensor, temp: float) -> None:
        point_entropy, usage = assignment_statistics(logits, temp)
        self.points[role] += len(logits)
        self.point_entropy[role] += float(point_entropy.double().sum())
        self.usage[role] += usage.double().cpu().numpy()

    def add_softmaps(self, teacher: torch.Tensor, student: torch.Tensor, segment: torch.Tensor, views: int) -> None:
        """Per-prototype entropies of the softmaps of every view with at least two matched points."""
        counts = segment_counts(segment, views)
        kept = counts >= 2
        scale = counts[kept].double().log().unsqueeze(1)
        for role, maps in (("teacher", teacher), ("student", student)):
            entropies = segment_column_entropy(maps, segment, views)[kept].double() / scale
            self.sharpness[role] += entropies.sum(dim=0).cpu().numpy()
        self.views += int(kept.sum())


def _loader(dataset: DOSViewDataset, indices: list[int], batch_size: int, workers: int) -> ViewLoader:
    batches = [[(0, i) for i in indices[s : s + batch_size]] for s in range(0, len(indices), batch_size)]
    workers = min(resolve_num_workers(workers), len(batches))
    return ViewLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate_dos_views,
                      worker_init_fn=seed_worker)


@torch.no_grad()
def measure(method: DOS, loader: ViewLoader, device: torch.device, show: bool) -> Tally:
    """Run teacher and student over every batch of ``loader`` and sum what the numbers need."""
    cfg = method.cfg
    tally = Tally(cfg.num_prototypes)
    for batch in tqdm(loader, total=len(loader), desc="dos diagnostics", unit="batch", file=sys.stderr,
                      disable=not show, leave=False):
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        out = method.view_logits(batch)
        tally.add_assignments("teacher", out.teacher, cfg.teacher_temp)
        tally.add_assignments("student", out.student, cfg.student_temp)
        if cfg.target != "softmap":
            continue
        views = len(batch["offset"])
        match = out.match(False, cfg.match_radius)
        keep = match >= 0
        segment = out.student_view[keep]
        targets = method.make_targets(out.teacher[match[keep]].float(), segment, views, cfg.teacher_temp)
        student = segment_log_softmax(out.student[keep].float() / cfg.student_temp, segment, views).exp()
        tally.add_softmaps(targets, student, segment, views)
    return tally


def rank_correlation(curve: np.ndarray) -> float | None:
    """Spearman's correlation of a per-rank curve with the rank (None for a constant curve, which has none)."""
    if np.ptp(curve) == 0:
        return None
    return round(float(spearmanr(np.arange(len(curve)), curve).statistic), 4)


def _entropy(usage: np.ndarray) -> float:
    return float(entropy(torch.from_numpy(usage / max(usage.sum(), 1e-300))))


def run(method_factory: MethodFactory, source: DatasetSource, options: Options, device: torch.device) -> dict:
    if options.max_scenes < 1 or options.batch_size < 1:
        raise ConfigError(f"max_scenes and batch_size must be >= 1, got {options.max_scenes}, {options.batch_size}")
    if options.metrics and not Path(options.metrics).is_file():
        raise DataError(options.metrics, "metrics file not found")
    method = method_factory()
    if not isinstance(method, DOS):
        raise ConfigError(f"protocol 'dos' needs a checkpoint of a DOS run; this one holds {type(method).__name__}")
    split = source.split(options.split)
    if len(split) < 1:
        raise DataError(source.root, f"split {options.split!r} holds no scenes")
    count = min(options.max_scenes, len(split))
    indices = sorted(np.random.default_rng(options.seed).choice(len(split), count, replace=False).tolist())
    method.to(device).eval()
    loader = _loader(DOSViewDataset(split, method.view_config, options.seed), indices, options.batch_size,
                     options.num_workers)
    tally = measure(method, loader, device, options.progress)
    cfg = method.cfg
    teacher_usage = tally.usage["teacher"] / max(1, tally.points["teacher"])
    order = np.argsort(-teacher_usage, kind="stable")
    prior = zipf_prior(cfg.num_prototypes, cfg.zipf_alpha).numpy()
    result: dict[str, Any] = {"protocol": "dos", "headline": HEADLINE}
    for role in ("teacher", "student"):
        usage_entropy = _entropy(tally.usage[role])
        if role == "teacher":
            result[HEADLINE] = round(math.exp(usage_entropy), 2)
        else:
            result["student_effective_prototypes"] = round(math.exp(usage_entropy), 2)
        result[f"{role}_usage_entropy"] = round(usage_entropy, 4)
        result[f"{role}_point_entropy"] = round(tally.point_entropy[role] / max(1, tally.points[role]), 4)
    result.update({
        "num_prototypes": cfg.num_prototypes,
        "log_num_prototypes": round(math.log(cfg.num_prototypes), 4),
        "zipf_alpha": cfg.zipf_alpha,
        "usage_zipf_exponent": round(zipf_exponent(teacher_usage), 4),
        "usage_prior_distance": round(total_variation(usage_by_rank(teacher_usage), prior), 4),
    })
    sharpness: dict[str, np.ndarray] = {}
    if tally.views:
        sharpness = {f"{role} softmaps": tally.sharpness[role][order] / tally.views for role in ("teacher", "student")}
        prior_order = torch.argsort(-method.targets.log_weights(), stable=True).cpu().numpy()
        sharpness["teacher softmaps, by prior rank"] = tally.sharpness["teacher"][prior_order] / tally.views
        teacher_curve = sharpness["teacher softmaps"]
        result["teacher_softmap_entropy"] = round(float(teacher_curve.mean()), 4)
        result["student_softmap_entropy"] = round(float(sharpness["student softmaps"].mean()), 4)
        result["softmap_rank_correlation"] = rank_correlation(teacher_curve)
        result["softmap_prior_rank_correlation"] = rank_correlation(sharpness["teacher softmaps, by prior rank"])
        result["teacher_softmap_entropy_by_rank"] = [round(float(v), 5) for v in teacher_curve]
    elif cfg.target == "softmap":
        result["softmaps"] = "no view had two matched student points; no softmap sharpness measured"
    result["teacher_usage_by_rank"] = [float(f"{v:.6g}") for v in teacher_usage[order]]
    result.update({"n_scenes": count, "n_views": 2 * count, "teacher_points": tally.points["teacher"],
                   "student_points": tally.points["student"], "options": options_dict(options)})
    if options.plots_dir:
        result["plots"] = _draw(method, tally, prior, sharpness, options)
    return result


def _draw(method: DOS, tally: Tally, prior: np.ndarray, sharpness: dict[str, np.ndarray],
          options: Options) -> list[str]:
    folder = Path(options.plots_dir)
    cfg = method.cfg
    usage = {f"{role} (this data)": tally.usage[role] / max(1, tally.points[role]) for role in ("teacher", "student")}
    if method.cfg.target == "softmap" and method.targets.usage is not None:
        usage["EMA usage (training)"] = method.targets.usage.usage.double().cpu().numpy()
    title = f"Prototype usage against the Zipf prior ({options.split} split, {cfg.num_prototypes} prototypes)"
    plots = [plot_prototype_usage(usage, prior, folder / "usage.png", alpha=cfg.zipf_alpha, title=title)]
    if sharpness:
        plots.append(plot_softmap_sharpness(sharpness, folder / "sharpness.png"))
    if options.metrics:
        plots.append(plot_training_curves(read_metrics(options.metrics), folder / "curves.png"))
    return [str(p) for p in plots]
