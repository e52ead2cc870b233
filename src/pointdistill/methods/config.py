"""Config sections of the methods; every default is the paper's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DCGLRConfig:
    """DCGLR (Fu et al. 2022): multi-crop global/local distillation with DINO centering."""

    num_global: int = 2
    global_scale: tuple[float, float] = (0.7, 1.0)
    global_points: int = 1024
    num_local: int = 8
    local_scale: tuple[float, float] = (0.2, 0.5)
    local_points: int = 256
    num_half_res: int = 2
    out_dim: int = 512
    head_hidden_dim: int = 2048
    head_bottleneck_dim: int = 256
    head_layers: int = 3
    norm_last_layer: bool = True
    student_temp: float = 0.1
    teacher_temp: float = 0.04
    warmup_teacher_temp: float = 0.04
    warmup_teacher_temp_epochs: float = 0.0
    center_momentum: float = 0.9
    target_normalization: str = "centering"
    sinkhorn_iterations: int = 3
    ema_momentum: float = 0.996
    ema_momentum_end: float = 1.0
    global_weight: float = 1.0
    local_weight: float = 1.0
