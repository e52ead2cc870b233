"""Config sections of the methods; every default is the paper's, or marked *open* where the paper is silent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
