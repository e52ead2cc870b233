"""DCGLR (Fu et al. 2022): global-to-global and local-to-global self-distillation with a DINO-style EMA teacher.

Per shape the data workers make ``I`` global crops and ``J`` local crops (:func:`pointdistill.data.views.dcglr_views`)
and pass on the full cloud; on the device the full cloud is reduced by farthest point sampling to ``H``
half-resolution copies (different random FPS starts), which join the local set. The teacher sees the global crops
only; the student sees everything. With teacher targets ``t_i`` (centred and sharpened, or Sinkhorn-normalised) and
student log-probabilities ``s``:

    loss_global = mean over ordered pairs i != j of global crops of H(t_i, s_global_j)
    loss_local  = mean over (global i, local-or-half-res j) of H(t_i, s_local_j)
    loss        = global_weight * loss_global + local_weight * loss_local

Every group of equal-size crops goes through the encoder in one call: all global crops of the batch together, all
local crops together, all half-resolution copies together. Tensors are laid out view-major ([views * B, ...]) so
logits reshape to [views, B, K] for the pairwise loss without copies.

The teacher is kept in eval mode: targets carry no drop-path or dropout noise (DINO's teacher has none) and are
deterministic given the inputs. Downstream features come from the teacher backbone.

The centre moves once per optimiser step from the teacher logits of the whole global batch (micro-batches and
processes only add to it; :class:`~pointdistill.losses.step_statistics.StepStatistics`), and the student's device
randomness (drop-path masks, the half-resolution copies' FPS starts) is drawn from each sample's key
(:mod:`pointdistill.ops.random`): so a step's update does not depend on how its batch is split over accumulation
or processes, except through BatchNorm in the head under accumulation (synchronised across processes under DDP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from pointdistill.data.views import MultiCropViews, dcglr_views
from pointdistill.config import Config
from pointdistill.errors import ConfigError, TrainingError
from pointdistill.losses.centering import Centering
from pointdistill.losses.dino import DINOLoss
from pointdistill.losses.entropy import marginal_entropy, target_entropy
from pointdistill.losses.sinkhorn import SinkhornKnopp
from pointdistill.methods.base import Method, StepInfo
from pointdistill.methods.ema import ema_update, make_teacher, unwrap
from pointdistill.methods.multicrop import MultiCropNetwork, view_major
from pointdistill.methods.registry import register_method
from pointdistill.models.base import PointEncoder
from pointdistill.models.heads import ProjectionHead
from pointdistill.models.registry import build_encoder
from pointdistill.ops.fps import farthest_point_sample
from pointdistill.ops.gather import gather_points
from pointdistill.ops.random import keyed_uniform, view_keys
from pointdistill.utils.schedules import epochs_to_steps, linear_warmup, momentum_schedule


@dataclass
class DCGLRConfig:
    """DCGLR (Fu et al. 2022): multi-crop global/local distillation with DINO centering.

    Views: ``num_global`` crops keeping a fraction U(``global_scale``) of the points nearest a random seed, resampled
    to ``global_points``; ``num_local`` crops with U(``local_scale``) resampled to ``local_points`` (open: 256);
    ``num_half_res`` copies of the full cloud reduced by farthest point sampling to ``half_res_fraction`` of its
    points (on the device), added to the local set. Each crop is re-normalised (``crop_normalize``) and augmented
    with an anisotropic scale U(``scale_range``) and a clipped jitter (open: the paper does not list its per-crop
    augmentation); ``rotation_range`` (radians, open: 0) adds a rotation of each crop about the ``up_axis``;
    ``augment_points`` augments the cloud the half-resolution copies come from as well.

    Head: MLP ``head_layers`` deep (``head_hidden_dim``, bottleneck ``head_bottleneck_dim``; open: DINO's 2048/256)
    to ``out_dim`` prototypes (the paper's output dimension 512); ``head_use_bn`` adds BatchNorm to the hidden layers
    (DINO's option, off by default; the short-budget CPU demo turns it on, see ``ProjectionHead``).

    Targets: teacher temperature ``teacher_temp``, linearly warmed up from ``warmup_teacher_temp`` over
    ``warmup_teacher_temp_epochs`` (0 = no warm-up, the paper's setting); ``target_normalization`` ``centering``
    (centre momentum ``center_momentum``) or ``sinkhorn`` (``sinkhorn_iterations``). Student temperature
    ``student_temp``. Teacher EMA momentum cosine from ``ema_momentum`` to ``ema_momentum_end`` over the run.
    Loss = ``global_weight`` * global-global term + ``local_weight`` * global-local term.
    """

    num_global: int = 2
    global_scale: tuple[float, float] = (0.7, 1.0)
    global_points: int = 1024
    num_local: int = 8
    local_scale: tuple[float, float] = (0.2, 0.5)
    local_points: int = 256
    num_half_res: int = 2
    half_res_fraction: float = 0.5
    crop_normalize: Literal["unit_sphere", "center", "none"] = "unit_sphere"
    scale_range: tuple[float, float] = (0.8, 1.2)
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.05
    augment_points: bool = False
    rotation_range: float = 0.0
    up_axis: Literal["x", "y", "z"] = "y"
    out_dim: int = 512
    head_hidden_dim: int = 2048
    head_bottleneck_dim: int = 256
    head_layers: int = 3
    norm_last_layer: bool = True
    head_use_bn: bool = False
    student_temp: float = 0.1
    teacher_temp: float = 0.04
    warmup_teacher_temp: float = 0.04
    warmup_teacher_temp_epochs: float = 0.0
    center_momentum: float = 0.9
    target_normalization: Literal["centering", "sinkhorn"] = "centering"
    sinkhorn_iterations: int = 3
    ema_momentum: float = 0.996
    ema_momentum_end: float = 1.0
    global_weight: float = 1.0
    local_weight: float = 1.0


# Salts of the per-sample draws (see pointdistill.ops.random): one per group of views and one for the FPS starts.
_GLOBAL_SALT, _LOCAL_SALT, _HALF_RES_SALT, _FPS_START_SALT = 1, 2, 3, 4


@register_method("dcglr", DCGLRConfig)
class DCGLR(Method):
    """``DCGLR(config, encoder=None)``: the encoder defaults to ``build_encoder(config.encoder)``."""

    student: MultiCropNetwork
    teacher: MultiCropNetwork

    def __init__(self, config: Config, encoder: PointEncoder | None = None) -> None:
        super().__init__()
        cfg = config.section(self.name)
        validate_dcglr_config(cfg)
        if encoder is None:
            encoder = build_encoder(config.encoder)
        self.cfg = cfg
        self.num_points = config.data.num_points
        self.freeze_last_layer_epochs = config.optim.freeze_last_layer_epochs
        head = ProjectionHead(
            encoder.feature_dim,
            cfg.out_dim,
            hidden_dim=cfg.head_hidden_dim,
            bottleneck_dim=cfg.head_bottleneck_dim,
            nlayers=cfg.head_layers,
            norm_last_layer=cfg.norm_last_layer,
            use_bn=cfg.head_use_bn,
        )
        self.student = MultiCropNetwork(encoder, head)
        self.teacher = make_teacher(self.student)
        self.teacher.eval()
        centering = cfg.target_normalization == "centering"
        self.centering = Centering(cfg.out_dim, cfg.center_momentum) if centering else None
        self.sinkhorn = None if centering else SinkhornKnopp(cfg.sinkhorn_iterations)
        self.distillation = DINOLoss(cfg.student_temp)

    def train(self, mode: bool = True) -> DCGLR:
        """Switch the student's mode; the teacher stays in eval mode (see the module docstring), except its
        BatchNorm layers, which follow ``mode`` so that in training they normalise with the statistics of the batch
        they see, as DINO's teacher does (running statistics that lag the student would leave the targets unnormalised)."""
        super().train(mode)
        self.teacher.eval()
        for module in self.teacher.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train(mode)
        return self

    def view_transform(self) -> MultiCropViews:
        cfg = self.cfg
        return dcglr_views(
            num_points=self.num_points,
            num_global=cfg.num_global,
            global_scale=cfg.global_scale,
            global_points=cfg.global_points,
            num_local=cfg.num_local,
            local_scale=cfg.local_scale,
            local_points=cfg.local_points,
            scale_range=cfg.scale_range,
            jitter_sigma=cfg.jitter_sigma,
            jitter_clip=cfg.jitter_clip,
            crop_normalize=cfg.crop_normalize,
            augment_points=cfg.augment_points,
            rotation_range=cfg.rotation_range,
            up=cfg.up_axis,
        )

    def teacher_temp(self, info: StepInfo) -> float:
        warmup = epochs_to_steps(self.cfg.warmup_teacher_temp_epochs, info.steps_per_epoch)
        return linear_warmup(self.cfg.warmup_teacher_temp, self.cfg.teacher_temp, warmup)(info.step)

    def ema_momentum(self, info: StepInfo) -> float:
        return momentum_schedule(self.cfg.ema_momentum, self.cfg.ema_momentum_end, max(1, info.total_steps))(info.step)

    def student_groups(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor | None]]:
        """Global crops [I * B, Ng, 3], the local groups (local crops [J * B, Nl, 3], half-res [H * B, N', 3]) and
        per-row sample keys of every group (global first; Nones when the batch carries no ``sample_key``)."""
        keys = batch.get("sample_key")
        group_keys: list[torch.Tensor | None] = [
            None if keys is None else view_keys(keys, self.cfg.num_global, _GLOBAL_SALT)
        ]
        if "global" not in batch:
            raise TrainingError(
                f"DCGLR batch has no 'global' views (keys: {sorted(batch)}); make batches with DCGLR.view_transform()"
            )
        local: list[torch.Tensor] = []
        if self.cfg.num_local:
            if "local" not in batch:
                raise TrainingError(f"DCGLR batch has no 'local' views (keys: {sorted(batch)})")
            local.append(view_major(batch["local"]))
            group_keys.append(None if keys is None else view_keys(keys, self.cfg.num_local, _LOCAL_SALT))
        if self.cfg.num_half_res:
            if "points" not in batch:
                raise TrainingError(f"DCGLR batch has no full 'points' cloud for the half-res copies ({sorted(batch)})")
            half_keys = None if keys is None else view_keys(keys, self.cfg.num_half_res, _HALF_RES_SALT)
            local.append(self.half_resolution(batch["points"], half_keys))
            group_keys.append(half_keys)
        return view_major(batch["global"]), local, group_keys

    @torch.no_grad()
    def half_resolution(self, points: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        """``num_half_res`` FPS subsets of ``points`` [B, N, 3], each copy from its own random start: [H * B, N', 3].

        With ``keys`` [H * B] each copy's start is drawn from its sample's key, else from torch's generator."""
        count = max(1, int(round(points.shape[1] * self.cfg.half_res_fraction)))
        copies = points.repeat(self.cfg.num_half_res, 1, 1)
        start = None if keys is None else keyed_uniform(keys, _FPS_START_SALT)
        index = farthest_point_sample(copies, count, random_start=True, start=start)
        return gather_points(copies, index)

    @torch.no_grad()
    def teacher_targets(self, global_crops: torch.Tensor, batch_size: int, temp: float) -> torch.Tensor:
        """Teacher probabilities [I, B, K]; with centering, these logits are observed for the step's centre update."""
        logits = self.teacher([global_crops])[0].float().view(-1, batch_size, self.cfg.out_dim)
        if self.centering is None:
            return self.sinkhorn(logits, temp)
        self.centering.observe(logits)
        return self.centering.probs(logits, temp)

    def training_step(self, batch: dict[str, torch.Tensor], info: StepInfo) -> tuple[torch.Tensor, dict[str, float]]:
        global_crops, local_groups, group_keys = self.student_groups(batch)
        batch_size = batch["global"].shape[0]
        temp = self.teacher_temp(info)
        targets = self.teacher_targets(global_crops, batch_size, temp)

        student_logits = self.student([global_crops, *local_groups], group_keys)
        k = self.cfg.out_dim
        zero = student_logits[0].new_zeros((), dtype=torch.float32)
        loss_global = zero
        if self.cfg.num_global > 1:
            student_global = student_logits[0].view(-1, batch_size, k)
            loss_global = self.distillation(targets, student_global, exclude_diagonal=True)
        loss_local = zero
        if local_groups:
            student_local = torch.cat(student_logits[1:]).view(-1, batch_size, k)
            loss_local = self.distillation(targets, student_local)
        loss = self.cfg.global_weight * loss_global + self.cfg.local_weight * loss_local

        stats = torch.stack(
            [loss_global.detach(), loss_local.detach(), target_entropy(targets), marginal_entropy(targets)]
        ).tolist()  # one device sync for all logged tensors
        logs = dict(zip(("loss_global", "loss_local", "teacher_entropy", "batch_marginal_entropy"), stats))
        logs["teacher_temp"] = temp
        logs["ema_momentum"] = self.ema_momentum(info)
        return loss, logs

    def before_optimizer_step(self, info: StepInfo) -> None:
        if info.epoch < self.freeze_last_layer_epochs:
            unwrap(self.student).head.cancel_last_layer_gradients()

    @torch.no_grad()
    def update_teacher(self, info: StepInfo) -> None:
        ema_update(self.teacher, self.student, self.ema_momentum(info))

    def teacher_encoder(self) -> PointEncoder:
        return self.teacher.encoder


def validate_dcglr_config(cfg: DCGLRConfig) -> None:
    """Raise ConfigError naming the ``dcglr.*`` key of the first invalid value."""

    def fail(key: str, problem: str) -> None:
        raise ConfigError(f"dcglr.{key}: {problem}")

    if cfg.num_global < 1:
        fail("num_global", f"must be >= 1, got {cfg.num_global}")
    if cfg.num_global < 2 and cfg.global_weight != 0:
        fail("num_global", "the global-global loss needs >= 2 global crops (or set dcglr.global_weight=0)")
    for key in ("num_local", "num_half_res"):
        if getattr(cfg, key) < 0:
            fail(key, f"must be >= 0, got {getattr(cfg, key)}")
    if cfg.num_local + cfg.num_half_res == 0 and cfg.local_weight != 0:
        fail("local_weight", "there are no local views (num_local = num_half_res = 0); set it to 0")
    for key in ("global_points", "local_points", "out_dim", "head_hidden_dim", "head_bottleneck_dim", "head_layers"):
        if getattr(cfg, key) < 1:
            fail(key, f"must be >= 1, got {getattr(cfg, key)}")
    for key in ("global_scale", "local_scale"):
        low, high = getattr(cfg, key)
        if not 0 < low <= high <= 1:
            fail(key, f"must satisfy 0 < low <= high <= 1, got {getattr(cfg, key)}")
    if not 0 < cfg.half_res_fraction <= 1:
        fail("half_res_fraction", f"must be in (0, 1], got {cfg.half_res_fraction}")
    for key in ("student_temp", "teacher_temp", "warmup_teacher_temp"):
        if getattr(cfg, key) <= 0:
            fail(key, f"must be > 0, got {getattr(cfg, key)}")
    if cfg.warmup_teacher_temp_epochs < 0:
        fail("warmup_teacher_temp_epochs", f"must be >= 0, got {cfg.warmup_teacher_temp_epochs}")
    for key in ("center_momentum", "ema_momentum", "ema_momentum_end"):
        if not 0 <= getattr(cfg, key) <= 1:
            fail(key, f"must be in [0, 1], got {getattr(cfg, key)}")
    if cfg.target_normalization not in ("centering", "sinkhorn"):
        fail("target_normalization", f"must be centering or sinkhorn, got {cfg.target_normalization!r}")
    if cfg.sinkhorn_iterations < 1:
        fail("sinkhorn_iterations", f"must be >= 1, got {cfg.sinkhorn_iterations}")
    if cfg.global_weight < 0 or cfg.local_weight < 0:
        fail("global_weight", "loss weights must be >= 0")
