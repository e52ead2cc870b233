"""AsymDSD (Leijenaar & Kasaei 2025): CLS self-distillation across crops plus masked modelling in latent space.

Per shape the data workers make ``I`` global and ``J`` local oriented-box crops, each augmented and then normalised
to the unit sphere (:func:`pointdistill.data.views.asymdsd_views`). On the device, with ``R = I * B`` global rows:

- the global crops are patchified once (FPS + k-NN); student and teacher share those patches;
- the teacher encodes the full global crops (every patch + CLS) and yields CLS targets [I, B, K] and patch targets
  [R, G, K], both centred with the centre as it stood at the start of the step (the centres then move once per
  optimiser step from everything observed: all teacher global CLS logits, all patch logits, visible ones included);
- the student embeds each global crop's patches once, draws ``M`` inverse-block masks per crop (equal visible
  counts in every row) and runs its encoder on CLS + the visible tokens only, [R * M, 1 + V, D]: a masked patch's
  token and position never enter it. The predictor turns the masked positions into predictions [R * M, Q, D] from
  that output (:class:`~pointdistill.models.predictor.MaskedPredictor`);
- the student also encodes global crop 0 unmasked (re-using its patch embedding) and the local crops.

Losses, with H(t, s) = -sum_k t_k log softmax(s / tau_s)_k:

    patch = mean over every masked token of every mask of H(teacher patch target, student patch head(prediction))
    cls   = mean of (a) locals vs teacher globals, (b) the I * M masked-view CLS vs teacher globals (same-crop pairs
            included) and (c) unmasked crop 0 vs the teacher CLS of the other global crops
    koleo = KoLeo of the student backbone CLS within each view slot (crop 0 unmasked + the I * M masked views)
    loss  = (patch + cls + w_koleo * koleo [+ w_reg * regression]) / (1 + 1 + w_koleo [+ w_reg])

``mode`` selects the variants of the paper as configs of this code: ``cls`` (invariance only: student and teacher
on all global crops unmasked, global term over all I x I pairs including i == j, cls = (local + global) / 2, KoLeo
on the global CLS), ``mask`` (masked modelling only, usually with one global crop, 8 masks and a SmoothL1
regression of the teacher's patch features; the predictor's memory has no CLS then, as in the reference).

Per-sample randomness on the device (masks, drop-path) is drawn from each sample's key
(:mod:`pointdistill.ops.random`), and the centres are :class:`~pointdistill.losses.step_statistics.StepStatistics`,
so gradient accumulation and data parallelism compute the step of one big batch, except for KoLeo, whose nearest
neighbours are sought within the micro-batch of one process (as in the reference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.config import Config
from pointdistill.data.masks import inverse_block_mask, masked_count
from pointdistill.data.views import MultiCropViews, asymdsd_views
from pointdistill.errors import ConfigError, TrainingError
from pointdistill.losses.centering import Centering
from pointdistill.losses.dino import DINOLoss, token_cross_entropy
from pointdistill.losses.entropy import marginal_entropy, target_entropy
from pointdistill.losses.koleo import KoLeoLoss
from pointdistill.methods.base import Method, StepInfo
from pointdistill.methods.multicrop import view_major
from pointdistill.methods.ema import ema_update, make_teacher
from pointdistill.methods.registry import register_method
from pointdistill.models.base import EncoderOutput, PointEncoder
from pointdistill.models.heads import ProjectionHead
from pointdistill.models.predictor import MaskedPredictor
from pointdistill.models.registry import build_encoder
from pointdistill.models.stochastic import sample_keys
from pointdistill.models.vit import PointViT
from pointdistill.ops import Patches
from pointdistill.ops.random import derive_keys, view_keys
from pointdistill.utils.schedules import epochs_to_steps, linear_warmup, momentum_schedule

MODES = ("cls_mask", "cls", "mask")


@dataclass
class AsymDSDConfig:
    """AsymDSD; defaults are the reference's paper config (``configs/ssrl`` of remcofl/AsymDSD).

    ``mode``: ``cls_mask`` (the full method), ``cls`` (CLS-only) or ``mask`` (MPM-only).

    Views: ``num_global`` box crops of scale U(``global_scale``) resampled to ``global_points``, ``num_local`` of
    U(``local_scale``) at ``local_points``; box aspect U(``aspect_range``); ``crop_min_points``: a crop keeps at
    least its view's point count (the reference's floor); per crop a rotation about ``up_axis`` over
    ``rotation_range`` radians and an anisotropic scale U(``scale_range``), then unit-sphere normalisation.

    Masks: inverse-block, ``mask_ratio`` of the patches masked, blocks of ``mask_block_fraction * G`` patches,
    round(G * (1 - mask_ratio + ``mask_adjust_ratio``) / block size) blocks, ``num_masks`` masks per global crop.

    Predictor: ``predictor_depth`` cross-attention blocks of width ``predictor_dim`` with ``predictor_heads`` heads,
    MLP ratio ``predictor_mlp_ratio``, norm ``predictor_norm``, ``predictor_bias``.

    Heads (separate for CLS and patches): MLP ``head_layers`` deep, ``head_hidden_dim`` wide, bottleneck
    ``head_bottleneck_dim``, to ``out_dim`` weight-normed prototypes whose gain trains unless ``norm_last_layer``.

    Targets: centering (``cls_center_momentum``, ``patch_center_momentum``); teacher temperatures warm up linearly
    from ``*_warmup_teacher_temp`` to ``*_teacher_temp`` over ``warmup_teacher_temp_epochs``; ``student_temp``.
    Teacher EMA momentum cosine ``ema_momentum`` -> ``ema_momentum_end`` per optimiser step.

    Loss: ``unmasked_global_cls`` adds term (c); ``koleo_weight`` (``koleo_eps``) on the student CLS per view slot;
    ``regression_weight`` (SmoothL1, ``regression_beta``) between predictions and the teacher's patch features.
    """

    mode: Literal["cls_mask", "cls", "mask"] = "cls_mask"
    num_global: int = 2
    global_scale: tuple[float, float] = (0.4, 1.0)
    global_points: int = 1024
    num_local: int = 4
    local_scale: tuple[float, float] = (0.05, 0.4)
    local_points: int = 256
    aspect_range: tuple[float, float] = (0.33, 3.0)
    crop_min_points: bool = True
    rotation_range: float = 2 * math.pi
    up_axis: Literal["x", "y", "z"] = "y"
    scale_range: tuple[float, float] = (0.8, 1.2)
    mask_ratio: float = 0.7
    mask_block_fraction: float = 0.1
    mask_adjust_ratio: float = 0.1
    num_masks: int = 4
    predictor_dim: int = 192
    predictor_depth: int = 6
    predictor_heads: int = 3
    predictor_mlp_ratio: float = 4.0
    predictor_norm: Literal["layer", "rms"] = "rms"
    predictor_bias: bool = False
    out_dim: int = 4096
    head_hidden_dim: int = 1024
    head_bottleneck_dim: int = 256
    head_layers: int = 3
    norm_last_layer: bool = False
    student_temp: float = 0.1
    cls_teacher_temp: float = 0.07
    cls_warmup_teacher_temp: float = 0.04
    patch_teacher_temp: float = 0.07
    patch_warmup_teacher_temp: float = 0.05
    warmup_teacher_temp_epochs: float = 10.0
    cls_center_momentum: float = 0.9
    patch_center_momentum: float = 0.9
    ema_momentum: float = 0.995
    ema_momentum_end: float = 1.0
    unmasked_global_cls: bool = True
    koleo_weight: float = 0.01
    koleo_eps: float = 1e-6
    regression_weight: float = 0.0
    regression_beta: float = 2.0

    @property
    def do_cls(self) -> bool:
        return self.mode in ("cls_mask", "cls")

    @property
    def do_mask(self) -> bool:
        return self.mode in ("cls_mask", "mask")


# Salts of the per-sample keys (see pointdistill.ops.random): one per group of student rows.
_GLOBAL_SALT, _LOCAL_SALT, _MASK_SALT, _UNMASKED_SALT = 21, 22, 23, 24


class AsymDSDBranch(nn.Module):
    """Encoder + separate CLS and patch heads (either may be None when the mode does not use it).

    Student and teacher are two such branches; the teacher is the student's EMA copy. The predictor is not part of
    a branch: it belongs to the student alone (the reference keeps no EMA copy of it).
    """

    def __init__(self, encoder: PointEncoder, cls_head: ProjectionHead | None, patch_head: ProjectionHead | None):
        super().__init__()
        self.encoder = encoder
        self.cls_head = cls_head
        self.patch_head = patch_head


@dataclass(frozen=True)
class StudentGlobals:
    """The student's outputs on the masked global crops: predictions at the masked positions [R * M, Q, D], the
    CLS of every masked view [R * M, D], the masked indices [R * M, Q] and the source row of each mask [R * M]."""

    predictions: torch.Tensor
    cls: torch.Tensor
    masked: torch.Tensor
    rows: torch.Tensor


@register_method("asymdsd", AsymDSDConfig)
class AsymDSD(Method):
    """``AsymDSD(config, encoder=None)``: the encoder defaults to ``build_encoder(config.encoder)``."""

    student: AsymDSDBranch
    teacher: AsymDSDBranch

    def __init__(self, config: Config, encoder: PointEncoder | None = None) -> None:
        super().__init__()
        cfg = config.section(self.name)
        validate_asymdsd_config(cfg)
        if encoder is None:
            encoder = build_encoder(config.encoder)
        if cfg.do_mask and not isinstance(encoder, PointViT):
            raise ConfigError(f"asymdsd.mode={cfg.mode} masks patch tokens and needs encoder.name=vit")
        if cfg.do_cls and isinstance(encoder, PointViT) and encoder.cls_token is None:
            raise ConfigError(f"asymdsd.mode={cfg.mode} distils the CLS token and needs encoder.cls_token=true")
        self.cfg = cfg
        self.num_points = config.data.num_points
        dim = encoder.feature_dim
        self.student = AsymDSDBranch(
            encoder,
            self._head(dim) if cfg.do_cls else None,
            self._head(dim) if cfg.do_mask else None,
        )
        self.teacher = make_teacher(self.student)
        self.teacher.eval()
        self.predictor = (
            MaskedPredictor(
                dim,
                cfg.predictor_dim,
                cfg.predictor_depth,
                cfg.predictor_heads,
                mlp_ratio=cfg.predictor_mlp_ratio,
                norm=cfg.predictor_norm,
                bias=cfg.predictor_bias,
            )
            if cfg.do_mask
            else None
        )
        self.cls_centering = Centering(cfg.out_dim, cfg.cls_center_momentum) if cfg.do_cls else None
        self.patch_centering = Centering(cfg.out_dim, cfg.patch_center_momentum) if cfg.do_mask else None
        self.distillation = DINOLoss(cfg.student_temp)
        self.koleo = KoLeoLoss(cfg.koleo_eps)

    def _head(self, dim: int) -> ProjectionHead:
        cfg = self.cfg
        return ProjectionHead(
            dim,
            cfg.out_dim,
            hidden_dim=cfg.head_hidden_dim,
            bottleneck_dim=cfg.head_bottleneck_dim,
            nlayers=cfg.head_layers,
            norm_last_layer=cfg.norm_last_layer,
        )

    def train(self, mode: bool = True) -> AsymDSD:
        """Switch the student's mode; the teacher always runs in eval mode (targets without drop-path noise)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def view_transform(self) -> MultiCropViews:
        cfg = self.cfg
        return asymdsd_views(
            num_points=self.num_points,
            num_global=cfg.num_global,
            global_scale=cfg.global_scale,
            global_points=cfg.global_points,
            num_local=cfg.num_local,
            local_scale=cfg.local_scale,
            local_points=cfg.local_points,
            aspect_range=cfg.aspect_range,
            rotation_range=cfg.rotation_range,
            up=cfg.up_axis,
            scale_range=cfg.scale_range,
            crop_min_points=cfg.crop_min_points,
        )

    # ----- schedules -------------------------------------------------------------------------------------------

    def teacher_temps(self, info: StepInfo) -> tuple[float, float]:
        """(CLS, patch) teacher temperatures at this optimiser step."""
        cfg = self.cfg
        warmup = epochs_to_steps(cfg.warmup_teacher_temp_epochs, info.steps_per_epoch)
        cls = linear_warmup(cfg.cls_warmup_teacher_temp, cfg.cls_teacher_temp, warmup)(info.step)
        patch = linear_warmup(cfg.patch_warmup_teacher_temp, cfg.patch_teacher_temp, warmup)(info.step)
        return cls, patch

    def ema_momentum(self, info: StepInfo) -> float:
        return momentum_schedule(self.cfg.ema_momentum, self.cfg.ema_momentum_end, max(1, info.total_steps))(info.step)

    # ----- masks and forward passes --------------------------------------------------------------------------

    def num_blocks(self, num_patches: int) -> int:
        """The reference's block count: round(G * (1 - mask_ratio + adjust) / block size)."""
        cfg = self.cfg
        size = max(1, int(cfg.mask_block_fraction * num_patches))
        return max(1, round(num_patches * (1 - cfg.mask_ratio + cfg.mask_adjust_ratio) / size))

    @torch.no_grad()
    def masks(self, centers: torch.Tensor, keys: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``num_masks`` inverse-block masks per row of ``centers`` [R, G, 3]: (visible, masked) [R * M, V | Q]."""
        cfg = self.cfg
        return inverse_block_mask(
            centers,
            ratio=cfg.mask_ratio,
            block_fraction=cfg.mask_block_fraction,
            num_masks=cfg.num_masks,
            num_blocks=self.num_blocks(centers.shape[1]),
            keys=keys,
        )

    def mask_keys(self, global_keys: torch.Tensor | None) -> torch.Tensor | None:
        """One key per mask row (row r * M + m is mask m of global row r), or None."""
        if global_keys is None:
            return None
        masks = self.cfg.num_masks
        index = torch.arange(masks, device=global_keys.device).repeat(global_keys.shape[0])
        return derive_keys(global_keys.repeat_interleave(masks) ^ index, _MASK_SALT)

    def masked_student(
        self, tokens: torch.Tensor, pos: torch.Tensor, patches: Patches, keys: torch.Tensor | None
    ) -> StudentGlobals:
        """Encode CLS + visible tokens of every mask, then predict the masked positions.

        ``tokens``/``pos`` [R, G, D] are each crop's patch embedding, computed once; each mask gathers its visible
        rows from them (no per-mask re-embedding, no loop over masks).
        """
        mask_keys = self.mask_keys(keys)
        visible, masked = self.masks(patches.centers, mask_keys)
        rows = torch.arange(tokens.shape[0], device=tokens.device).repeat_interleave(self.cfg.num_masks)
        source = rows.unsqueeze(1)
        with sample_keys(mask_keys):
            out = self.student.encoder.encode(
                tokens[source, visible], pos[source, visible], patches.centers[source, visible]
            )
        memory = torch.cat([out.cls.unsqueeze(1), out.tokens], dim=1) if self.cfg.do_cls else out.tokens
        predictions = self.predictor(memory, pos[source, masked])
        return StudentGlobals(predictions=predictions, cls=out.cls, masked=masked, rows=rows)

    def unmasked_crop0(
        self, tokens: torch.Tensor, pos: torch.Tensor, patches: Patches, batch_size: int, keys: torch.Tensor | None
    ) -> torch.Tensor:
        """Student CLS [B, D] of global crop 0 with every patch visible, re-using its patch embedding."""
        with sample_keys(keys):
            return self.student.encoder.encode(tokens[:batch_size], pos[:batch_size], patches.centers[:batch_size]).cls

    @torch.no_grad()
    def teacher_outputs(self, patches: Patches) -> EncoderOutput:
        encoder = self.teacher.encoder
        tokens, pos = encoder.embed(patches)
        return encoder.encode(tokens, pos, patches.centers)

    def student_cls(self, points: torch.Tensor, keys: torch.Tensor | None) -> torch.Tensor:
        """Student backbone CLS of whole crops [rows, N, 3] (one encoder call)."""
        with sample_keys(keys):
            return self.student.encoder(points).global_feature

    # ----- the step ------------------------------------------------------------------------------------------

    def training_step(self, batch: dict[str, torch.Tensor], info: StepInfo) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        if "global" not in batch or (cfg.do_cls and cfg.num_local and "local" not in batch):
            raise TrainingError(
                f"AsymDSD batch lacks 'global'/'local' views (keys: {sorted(batch)}); use AsymDSD.view_transform()"
            )
        batch_size = batch["global"].shape[0]
        keys = batch.get("sample_key")
        global_keys = None if keys is None else view_keys(keys, cfg.num_global, _GLOBAL_SALT)
        global_crops = view_major(batch["global"])
        with torch.no_grad():
            patches = self.student.encoder.patchify(global_crops)
        cls_temp, patch_temp = self.teacher_temps(info)
        teacher = self.teacher_outputs(patches)

        terms: dict[str, tuple[float, torch.Tensor]] = {}
        logs: dict[str, torch.Tensor] = {}
        slots: list[torch.Tensor] = []
        cls_targets = None
        if cfg.do_cls:
            cls_targets = self.cls_targets(teacher.cls, batch_size, cls_temp)
            logs["teacher_entropy"] = target_entropy(cls_targets)
            logs["batch_marginal_entropy"] = marginal_entropy(cls_targets)
        if cfg.mode == "cls":
            global_cls = self.student_cls(global_crops, global_keys).view(cfg.num_global, batch_size, -1)
            cls_terms = [self.distillation(cls_targets, self.student.cls_head(global_cls))]
            slots.append(global_cls)
        else:
            tokens, pos = self.student.encoder.embed(patches)
            student = self.masked_student(tokens, pos, patches, global_keys)
            patch_targets = self.patch_targets(teacher.tokens, patch_temp)[student.rows.unsqueeze(1), student.masked]
            logits = self.student.patch_head(student.predictions)
            terms["patch"] = (1.0, token_cross_entropy(patch_targets, logits, cfg.student_temp))
            logs["patch_teacher_entropy"] = target_entropy(patch_targets)
            if not cfg.do_cls:
                logs["teacher_entropy"] = logs["patch_teacher_entropy"]
                logs["batch_marginal_entropy"] = marginal_entropy(patch_targets)
            if cfg.regression_weight:
                target = teacher.tokens[student.rows.unsqueeze(1), student.masked]
                regression = F.smooth_l1_loss(student.predictions.float(), target.float(), beta=cfg.regression_beta)
                terms["regression"] = (cfg.regression_weight, regression)
            cls_terms = []
            if cfg.do_cls:
                masked_cls = self.masked_view_major(student.cls, batch_size)
                cls_terms.append(self.distillation(cls_targets, self.student.cls_head(masked_cls)))
                if cfg.unmasked_global_cls:
                    unmasked_keys = None if keys is None else derive_keys(global_keys[:batch_size], _UNMASKED_SALT)
                    crop0 = self.unmasked_crop0(tokens, pos, patches, batch_size, unmasked_keys).unsqueeze(0)
                    pairs = self.distillation.pair_losses(cls_targets[1:], self.student.cls_head(crop0))
                    cls_terms.append(pairs.mean())
                    slots.append(crop0)
                slots.append(masked_cls)
        if cfg.do_cls:
            if cfg.num_local:
                local_keys = None if keys is None else view_keys(keys, cfg.num_local, _LOCAL_SALT)
                local_cls = self.student_cls(view_major(batch["local"]), local_keys).view(cfg.num_local, batch_size, -1)
                cls_terms.insert(0, self.distillation(cls_targets, self.student.cls_head(local_cls)))
            terms["cls"] = (1.0, torch.stack(cls_terms).mean())
            if cfg.koleo_weight:
                terms["koleo"] = (cfg.koleo_weight, self.koleo(torch.cat(slots).transpose(0, 1)))

        loss = sum(weight * value for weight, value in terms.values()) / sum(weight for weight, _ in terms.values())
        names = [f"loss_{name}" for name in terms] + list(logs)
        values = torch.stack([value.detach().float() for _, value in terms.values()] + list(logs.values()))
        out = dict(zip(names, values.tolist()))  # one device sync for all logged tensors
        out.update(cls_teacher_temp=cls_temp, patch_teacher_temp=patch_temp, ema_momentum=self.ema_momentum(info))
        return loss, out

    def masked_view_major(self, rows: torch.Tensor, batch_size: int) -> torch.Tensor:
        """[R * M, ...] in (crop, sample, mask) row order -> [I * M, B, ...] view slots (crop-major, then mask)."""
        cfg = self.cfg
        shaped = rows.view(cfg.num_global, batch_size, cfg.num_masks, *rows.shape[1:])
        return shaped.transpose(1, 2).reshape(cfg.num_global * cfg.num_masks, batch_size, *rows.shape[1:])

    @torch.no_grad()
    def cls_targets(self, teacher_cls: torch.Tensor, batch_size: int, temp: float) -> torch.Tensor:
        """Teacher CLS probabilities [I, B, K] with the old centre; the logits are observed for the centre update."""
        logits = self.teacher.cls_head(teacher_cls).float().view(self.cfg.num_global, batch_size, -1)
        self.cls_centering.observe(logits)
        return self.cls_centering.probs(logits, temp)

    @torch.no_grad()
    def patch_targets(self, teacher_tokens: torch.Tensor, temp: float) -> torch.Tensor:
        """Teacher patch probabilities [R, G, K] of every patch; all of them (visible ones too) feed the centre."""
        logits = self.teacher.patch_head(teacher_tokens).float()
        self.patch_centering.observe(logits)
        return self.patch_centering.probs(logits, temp)

    @torch.no_grad()
    def update_teacher(self, info: StepInfo) -> None:
        ema_update(self.teacher, self.student, self.ema_momentum(info))

    def teacher_encoder(self) -> PointEncoder:
        return self.teacher.encoder


def validate_asymdsd_config(cfg: AsymDSDConfig) -> None:
    """Raise ConfigError naming the ``asymdsd.*`` key of the first invalid value."""

    def fail(key: str, problem: str) -> None:
        raise ConfigError(f"asymdsd.{key}: {problem}")

    if cfg.mode not in MODES:
        fail("mode", f"must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    if cfg.num_global < 1:
        fail("num_global", f"must be >= 1, got {cfg.num_global}")
    if cfg.do_cls and cfg.num_global * cfg.num_masks + cfg.num_local == 0:
        fail("num_local", "the CLS objective needs student views")
    if cfg.mode == "cls_mask" and cfg.unmasked_global_cls and cfg.num_global < 2:
        fail("unmasked_global_cls", "term (c) compares crop 0 with the other global crops: needs num_global >= 2")
    if cfg.num_local < 0:
        fail("num_local", f"must be >= 0, got {cfg.num_local}")
    sizes = (
        "global_points", "local_points", "num_masks", "out_dim", "head_hidden_dim", "head_bottleneck_dim",
        "head_layers", "predictor_dim", "predictor_depth", "predictor_heads",
    )
    for key in sizes:
        if getattr(cfg, key) < 1:
            fail(key, f"must be >= 1, got {getattr(cfg, key)}")
    if cfg.predictor_dim % cfg.predictor_heads:
        fail("predictor_dim", f"{cfg.predictor_dim} is not divisible by predictor_heads={cfg.predictor_heads}")
    for key in ("global_scale", "local_scale"):
        low, high = getattr(cfg, key)
        if not 0 < low <= high <= 1:
            fail(key, f"must satisfy 0 < low <= high <= 1, got {getattr(cfg, key)}")
    try:
        masked_count(64, cfg.mask_ratio)
    except ValueError as error:
        fail("mask_ratio", str(error))
    if not 0 < cfg.mask_block_fraction <= 1:
        fail("mask_block_fraction", f"must be in (0, 1], got {cfg.mask_block_fraction}")
    positive = (
        "student_temp", "cls_teacher_temp", "cls_warmup_teacher_temp", "patch_teacher_temp",
        "patch_warmup_teacher_temp", "koleo_eps", "regression_beta",
    )
    for key in positive:
        if getattr(cfg, key) <= 0:
            fail(key, f"must be > 0, got {getattr(cfg, key)}")
    for key in ("warmup_teacher_temp_epochs", "koleo_weight", "regression_weight"):
        if getattr(cfg, key) < 0:
            fail(key, f"must be >= 0, got {getattr(cfg, key)}")
    if cfg.regression_weight and not cfg.do_mask:
        fail("regression_weight", "the regression term needs masks (mode cls_mask or mask)")
    for key in ("cls_center_momentum", "patch_center_momentum", "ema_momentum", "ema_momentum_end"):
        if not 0 <= getattr(cfg, key) <= 1:
            fail(key, f"must be in [0, 1], got {getattr(cfg, key)}")
