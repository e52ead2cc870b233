"""DOS (Abdelsamad et al., AAAI-26, "Distilling Observable Softmaps"): scene self-distillation of per-prototype
softmaps at observable points, with Zipf-Sinkhorn teacher targets.

Per scene two overlapping global views (:mod:`pointdistill.data.scene_views`); the EMA teacher encodes each full
view, the student only the view's visible points (masked grid cells removed, not tokenised). Both read per-point
features at the loss level (``loss_level``: stride 2^level, the coarser levels up-cast onto it) through an MLP head,
L2-normalise them and take cosines to K weight-normed prototypes. Every student point at the loss level is matched
to the nearest teacher point of the same view and of the other view on original (pre-augmentation) coordinates
within ``match_radius``; a loss-level point's original coordinate is the mean of its input points'. For each term
and each student view, the teacher's logits gathered at the matched points become softmaps by Zipf-Sinkhorn and the
student's by a softmax over those points per prototype; the loss is ``(1/K) sum_k CE`` per view, same-view and
cross-view terms weighted ``same_view_weight`` / ``cross_view_weight``, summed over the two views and averaged over
the scenes of the batch.

Ablations: ``target=cluster`` replaces softmaps by per-point distributions over prototypes (teacher: ordinary
Sinkhorn); ``student_input=mask_token`` feeds the student the full view with the encoder's mask token on masked
points and supervises all points (Sonata's naive masked distillation); ``zipf_alpha=0`` is ordinary Sinkhorn.

The teacher stays in eval mode (no drop-path noise in targets); downstream features come from its encoder.

One optimiser step is the same however its global batch is split over processes and accumulated micro-batches:
views and masks follow each scene's stream, the student's drop-path and order shuffles each view's key, the loss is a
mean over scenes, and the usage ranking is a step statistic. Two options balance over more than one view and so
depend on the split: ``sinkhorn_support=batch`` and ``target=cluster`` balance over the views of all processes but
within each accumulated micro-batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from pointdistill.config import Config
from pointdistill.data.base import PointSplit
from pointdistill.data.scene_batch import CHANNELS
from pointdistill.data.scene_transforms import SceneAugmentConfig
from pointdistill.data.scene_views import DOSViewConfig, build_dos_loader
from pointdistill.errors import ConfigError, TrainingError
from pointdistill.losses.entropy import assignment_statistics, entropy
from pointdistill.losses.sinkhorn import SinkhornKnopp
from pointdistill.losses.softmap import ClusterLoss, SoftmapLoss
from pointdistill.losses.zipf_sinkhorn import ZipfSinkhorn
from pointdistill.methods.base import Method, StepInfo
from pointdistill.methods.ema import ema_update, make_teacher
from pointdistill.methods.registry import register_method
from pointdistill.models.heads import ProjectionHead
from pointdistill.models.scene import build_scene_encoder
from pointdistill.models.scene.pooling import segment_mean
from pointdistill.models.scene.ptv3 import SceneEncoder
from pointdistill.models.stochastic import sample_keys
from pointdistill.ops.radius_match import nearest_within
from pointdistill.ops.random import derive_keys
from pointdistill.utils.schedules import epochs_to_steps, linear_warmup, momentum_schedule

_VIEW_KEY_SALT = 7_001
"""Salt of the per-view keys derived from each scene's ``sample_key`` (the student's drop-path and order shuffles)."""


@dataclass
class DOSConfig:
    """DOS. Views: share U(``view_fraction``) of a scene's voxel-sampled points, at most ``max_points``, channels
    ``channels``, augmentation ``augment`` (keys of :class:`SceneAugmentConfig`; default the paper's geometric
    list: rotation, tilts, scale, flip, jitter, no elastic or colour; an override replaces the whole mapping); masking ``mask_ratio`` of ``mask_cell``-metre
    cells. Head: ``head_layers`` linear layers (``head_hidden_dim`` -> ``head_bottleneck_dim``, GELU) to
    ``num_prototypes`` prototypes at level ``loss_level``. Matching radius ``match_radius`` (m). Teacher temperature
    ``warmup_teacher_temp`` -> ``teacher_temp`` over the first ``warmup_teacher_temp_fraction`` of the steps;
    ``student_temp``; EMA cosine ``ema_momentum`` -> ``ema_momentum_end``. Zipf-Sinkhorn: ``zipf_alpha``,
    ``sinkhorn_iterations``, ``prototype_rank`` (index | usage, EMA ``usage_momentum``), ``sinkhorn_support``
    (view | batch), ``zipf_alpha_warmup_epochs``: the exponent rises linearly from 0 (ordinary Sinkhorn) to
    ``zipf_alpha`` over that many epochs of the schedule (0, the default, is the paper's fixed exponent). Ablations:
    ``target`` (softmap | cluster), ``student_input`` (drop | mask_token)."""

    view_fraction: tuple[float, float] = (0.4, 1.0)
    max_points: int = 65536
    channels: tuple[str, ...] = ("color", "normal")
    augment: dict[str, Any] = field(default_factory=lambda: {"elastic_p": 0.0, "color_p": 0.0})
    mask_cell: float = 0.4
    mask_ratio: float = 0.7
    loss_level: int = 2
    num_prototypes: int = 1024
    head_hidden_dim: int = 4096
    head_bottleneck_dim: int = 256
    head_layers: int = 2
    match_radius: float = 0.32
    teacher_temp: float = 0.07
    warmup_teacher_temp: float = 0.04
    warmup_teacher_temp_fraction: float = 0.05
    student_temp: float = 0.1
    ema_momentum: float = 0.994
    ema_momentum_end: float = 1.0
    zipf_alpha: float = 1.3
    zipf_alpha_warmup_epochs: float = 0.0
    sinkhorn_iterations: int = 3
    prototype_rank: Literal["index", "usage"] = "index"
    usage_momentum: float = 0.9
    sinkhorn_support: Literal["view", "batch"] = "view"
    same_view_weight: float = 0.5
    cross_view_weight: float = 0.5
    target: Literal["softmap", "cluster"] = "softmap"
    student_input: Literal["drop", "mask_token"] = "drop"


class SceneHeadNetwork(nn.Module):
    """Scene encoder + projection head on the up-cast features of one level: ``forward -> (logits, pyramid)``."""

    def __init__(self, encoder: SceneEncoder, head: ProjectionHead, level: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.level = level

    def forward(self, coord: torch.Tensor, feat: torch.Tensor, offset: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        pyramid = self.encoder(coord, feat, offset, mask=mask)
        return self.head(pyramid.upcast(to=self.level)), pyramid


def level_points(pyramid: Any, origin: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Original coordinates (mean of the member input points) [N_l, 3] and view ids [N_l] of ``level``'s points."""
    cell = torch.arange(len(origin), device=origin.device)
    for parent in pyramid.parents[:level]:
        cell = parent[cell]
    offset = pyramid.offsets[level]
    counts = torch.diff(offset, prepend=offset.new_zeros(1))
    view = torch.repeat_interleave(torch.arange(len(counts), device=offset.device), counts)
    return segment_mean(origin.float(), cell, len(view)), view


@dataclass
class ViewLogits:
    """Loss-level logits of a batch of views with every point's original coordinate and view: the teacher's on all
    points of the full views, the student's on the points of its input."""

    teacher: torch.Tensor
    teacher_origin: torch.Tensor
    teacher_view: torch.Tensor
    student: torch.Tensor
    student_origin: torch.Tensor
    student_view: torch.Tensor

    def match(self, cross: bool, radius: float) -> torch.Tensor:
        """Each student point's teacher point [M] in its own view (``cross``: in the other view of its scene)
        nearest on original coordinates within ``radius``, -1 where there is none."""
        partner = self.student_view ^ 1 if cross else self.student_view
        return nearest_within(self.student_origin, partner, self.teacher_origin, self.teacher_view, radius)


def view_keys(batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """One key per view [2B] in the batch's scene-major view order, or None for a batch without ``sample_key``."""
    keys = batch.get("sample_key")
    if keys is None:
        return None
    views = len(batch["offset"]) // len(keys)
    return torch.stack([derive_keys(keys, _VIEW_KEY_SALT + view) for view in range(views)], dim=1).reshape(-1)


LOGGED_STATISTICS = ("loss_same_view", "loss_cross_view", "matched_same", "matched_cross", "teacher_entropy",
                     "teacher_point_entropy", "teacher_usage_entropy", "student_point_entropy",
                     "student_usage_entropy")
"""What :meth:`DOS.training_step` logs per micro-batch besides the schedules: the two loss terms, the share of
student points matched in each, and the collapse detectors: ``teacher_entropy`` is the mean entropy of the
same-view targets (softmaps: per prototype and view over points, at most log N); the ``*_point_entropy`` are the
mean entropy of each loss-level point's assignment ``softmax(logits / temp)`` over the K prototypes, the
``*_usage_entropy`` the entropy of the mean assignment (prototype usage; log K when every prototype is used
equally). One-prototype collapse drives both usage and point entropy to 0; uniform collapse keeps both at log K."""


@register_method("dos", DOSConfig)
class DOS(Method):
    """``DOS(config, encoder=None)``: the encoder defaults to ``build_scene_encoder(config.scene_encoder)``."""

    student: SceneHeadNetwork
    teacher: SceneHeadNetwork

    def __init__(self, config: Config, encoder: SceneEncoder | None = None) -> None:
        super().__init__()
        cfg = config.section(self.name)
        if encoder is None:
            encoder = build_scene_encoder(config.scene_encoder)
        validate_dos_config(cfg, encoder)
        self.cfg = cfg
        self.view_config = DOSViewConfig(
            voxel_size=encoder.grid_size, channels=tuple(cfg.channels), up="z",
            augment=SceneAugmentConfig.from_dict({"up": "z", **cfg.augment}), view_fraction=tuple(cfg.view_fraction),
            max_points=cfg.max_points, mask_cell=cfg.mask_cell, mask_ratio=cfg.mask_ratio,
        )
        in_dim = sum(encoder.widths[cfg.loss_level:])
        head = ProjectionHead(in_dim, cfg.num_prototypes, hidden_dim=cfg.head_hidden_dim,
                              bottleneck_dim=cfg.head_bottleneck_dim, nlayers=cfg.head_layers)
        self.student = SceneHeadNetwork(encoder, head, cfg.loss_level)
        self.teacher = make_teacher(self.student)
        self.teacher.eval()
        if cfg.target == "softmap":
            self.targets = ZipfSinkhorn(cfg.num_prototypes, cfg.zipf_alpha, cfg.sinkhorn_iterations,
                                        cfg.prototype_rank, cfg.sinkhorn_support, cfg.usage_momentum)
            self.distillation: nn.Module = SoftmapLoss(cfg.student_temp)
        else:
            self.cluster_targets = SinkhornKnopp(cfg.sinkhorn_iterations)
            self.distillation = ClusterLoss(cfg.student_temp)

    def train(self, mode: bool = True) -> DOS:
        super().train(mode)
        self.teacher.eval()
        return self

    def build_loader(self, split: PointSplit, config: Config, *, rank: int, world_size: int, seed: int,
                     num_workers: int, pin_memory: bool) -> torch.utils.data.DataLoader:
        return build_dos_loader(split, self.view_config, config.optim.batch_size, seed, rank, world_size,
                                num_workers, pin_memory)

    def teacher_temp(self, info: StepInfo) -> float:
        cfg = self.cfg
        warmup = int(round(cfg.warmup_teacher_temp_fraction * info.total_steps))
        if info.step >= warmup:
            return cfg.teacher_temp
        return cfg.warmup_teacher_temp + (cfg.teacher_temp - cfg.warmup_teacher_temp) * info.step / warmup

    def zipf_alpha(self, info: StepInfo) -> float:
        """The Zipf prior's exponent at this step: ``zipf_alpha``, or its linear warm-up from 0."""
        warmup = epochs_to_steps(self.cfg.zipf_alpha_warmup_epochs, info.steps_per_epoch)
        return linear_warmup(0.0, self.cfg.zipf_alpha, warmup)(info.step)

    def ema_momentum(self, info: StepInfo) -> float:
        return momentum_schedule(self.cfg.ema_momentum, self.cfg.ema_momentum_end, max(1, info.total_steps))(info.step)

    def student_forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Student logits, original coordinates and view ids at the loss level. Drop-path and the order shuffles
        draw per view from keys derived from the scene's ``sample_key``, so a view is encoded the same in any
        batch split (data parallelism, accumulation)."""
        with sample_keys(view_keys(batch)):
            if self.cfg.student_input == "drop":
                logits, pyramid = self.student(batch["student_coord"], batch["student_feat"],
                                               batch["student_offset"])
                origin = batch["origin"][batch["student_rows"]]
            else:
                logits, pyramid = self.student(batch["coord"], batch["feat"], batch["offset"],
                                               mask=~batch["visible"])
                origin = batch["origin"]
        return (logits, *level_points(pyramid, origin, self.cfg.loss_level))

    def view_logits(self, batch: dict[str, torch.Tensor]) -> ViewLogits:
        """The teacher's (no gradient) and the student's loss-level logits of a collated batch of views."""
        if "student_coord" not in batch:
            raise TrainingError(f"DOS batch has no student views (keys: {sorted(batch)}); use DOS.build_loader")
        with torch.no_grad():
            teacher, pyramid = self.teacher(batch["coord"], batch["feat"], batch["offset"])
            teacher_origin, teacher_view = level_points(pyramid, batch["origin"], self.cfg.loss_level)
        return ViewLogits(teacher, teacher_origin, teacher_view, *self.student_forward(batch))

    def make_targets(self, logits: torch.Tensor, segment: torch.Tensor, views: int, temp: float,
                     alpha: float | None = None) -> torch.Tensor:
        """Teacher targets of matched logits: Zipf-Sinkhorn softmaps (exponent ``alpha``, default the configured
        one), or per-point Sinkhorn clusters for ``target=cluster``."""
        if self.cfg.target == "softmap":
            return self.targets(logits, segment, views, temp, alpha)
        return self.cluster_targets(logits, temp)

    @torch.no_grad()
    def target_entropy(self, targets: torch.Tensor, segment: torch.Tensor, views: int) -> torch.Tensor:
        """Mean entropy of a target distribution: per prototype and view over points (softmaps), per point over
        prototypes (clusters). Falling towards 0 means peaked targets, towards log N (log K) near-uniform ones."""
        total = -(targets * targets.clamp_min(1e-12).log()).sum()
        if self.cfg.target == "cluster":
            return total / max(1, len(targets))
        present = int((torch.bincount(segment, minlength=views) > 0).sum())
        return total / max(1, present * targets.shape[1])

    def training_step(self, batch: dict[str, torch.Tensor], info: StepInfo) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        temp, alpha = self.teacher_temp(info), self.zipf_alpha(info)
        views = len(batch["offset"])
        out = self.view_logits(batch)
        terms = {}
        matched = {}
        for name, cross in (("same", False), ("cross", True)):
            match = out.match(cross, cfg.match_radius)
            keep = match >= 0
            segment = out.student_view[keep]
            targets = self.make_targets(out.teacher[match[keep]].float(), segment, views, temp, alpha)
            terms[name] = self.distillation(targets, out.student[keep], segment, views).sum() * (2 / views)
            matched[name] = keep.float().mean()
            if name == "same":
                softmap_entropy = self.target_entropy(targets, segment, views)
        loss = cfg.same_view_weight * terms["same"] + cfg.cross_view_weight * terms["cross"]
        collapse = []
        for logits, tau in ((out.teacher, temp), (out.student, cfg.student_temp)):
            point_entropy, usage = assignment_statistics(logits, tau)
            collapse += [point_entropy.mean(), entropy(usage / max(1, len(logits)))]
        stats = torch.stack([terms["same"].detach(), terms["cross"].detach(), matched["same"], matched["cross"],
                             softmap_entropy, *collapse]).tolist()
        logs = dict(zip(LOGGED_STATISTICS, stats))
        logs["student_points"] = float(len(out.student))
        logs["teacher_temp"] = temp
        logs["ema_momentum"] = self.ema_momentum(info)
        if cfg.target == "softmap":
            logs["zipf_alpha"] = alpha
        return loss, logs

    @torch.no_grad()
    def update_teacher(self, info: StepInfo) -> None:
        ema_update(self.teacher, self.student, self.ema_momentum(info))

    def teacher_encoder(self) -> SceneEncoder:
        return self.teacher.encoder


def validate_dos_config(cfg: DOSConfig, encoder: SceneEncoder) -> None:
    """Raise ConfigError naming the ``dos.*`` (or ``scene_encoder.*``) key of the first invalid value."""

    def fail(key: str, problem: str) -> None:
        raise ConfigError(f"dos.{key}: {problem}")

    low, high = cfg.view_fraction
    if not 0 < low <= high <= 1:
        fail("view_fraction", f"must satisfy 0 < low <= high <= 1, got {cfg.view_fraction}")
    for key in ("max_points", "num_prototypes", "head_hidden_dim", "head_bottleneck_dim", "head_layers",
                "sinkhorn_iterations"):
        if getattr(cfg, key) < 1:
            fail(key, f"must be >= 1, got {getattr(cfg, key)}")
    for key in ("mask_cell", "match_radius", "teacher_temp", "warmup_teacher_temp", "student_temp"):
        if not getattr(cfg, key) > 0:
            fail(key, f"must be > 0, got {getattr(cfg, key)}")
    if not 0 <= cfg.mask_ratio < 1:
        fail("mask_ratio", f"must be in [0, 1), got {cfg.mask_ratio}")
    if not 0 <= cfg.warmup_teacher_temp_fraction <= 1:
        fail("warmup_teacher_temp_fraction", f"must be in [0, 1], got {cfg.warmup_teacher_temp_fraction}")
    for key in ("ema_momentum", "ema_momentum_end", "usage_momentum"):
        if not 0 <= getattr(cfg, key) <= 1:
            fail(key, f"must be in [0, 1], got {getattr(cfg, key)}")
    if cfg.zipf_alpha < 0:
        fail("zipf_alpha", f"must be >= 0, got {cfg.zipf_alpha}")
    if cfg.zipf_alpha_warmup_epochs < 0:
        fail("zipf_alpha_warmup_epochs", f"must be >= 0, got {cfg.zipf_alpha_warmup_epochs}")
    if cfg.same_view_weight < 0 or cfg.cross_view_weight < 0:
        fail("same_view_weight", "loss weights must be >= 0")
    choices = {"prototype_rank": ("index", "usage"), "sinkhorn_support": ("view", "batch"),
               "target": ("softmap", "cluster"), "student_input": ("drop", "mask_token")}
    for key, allowed in choices.items():
        if getattr(cfg, key) not in allowed:
            fail(key, f"must be one of {', '.join(allowed)}, got {getattr(cfg, key)!r}")
    if not 0 <= cfg.loss_level < len(encoder.widths):
        fail("loss_level", f"must name a level of the encoder (0..{len(encoder.widths) - 1}), got {cfg.loss_level}")
    unknown = [c for c in cfg.channels if c not in CHANNELS]
    if unknown or not cfg.channels:
        fail("channels", f"must be a non-empty list among {sorted(CHANNELS)}, got {list(cfg.channels)}")
    width = sum(CHANNELS[c][1] for c in cfg.channels)
    if width != encoder.in_channels:
        raise ConfigError(f"dos.channels: {list(cfg.channels)} give {width} input channels but "
                          f"scene_encoder.in_channels is {encoder.in_channels}")
    if cfg.student_input == "mask_token" and encoder.stem.mask_token is None:
        raise ConfigError("dos.student_input: mask_token needs an encoder with a mask token; set "
                          "scene_encoder.mask_token=true")
    try:
        SceneAugmentConfig.from_dict({"up": "z", **cfg.augment})
    except (ConfigError, TypeError) as error:
        raise ConfigError(f"dos.augment: {error}") from None
