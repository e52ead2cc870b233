"""Config section ``scene_encoder``: the size of the scene backbone. ``None`` means "take the preset's value".

Presets (:data:`SCENE_PRESETS`):

- ``sonata``: Sonata's encoder, depths (3, 3, 3, 12, 3), widths (48, 96, 192, 384, 512), heads (3, 6, 12, 24, 32),
  patch 1024, drop-path 0.3, grid 0.02 m.
- ``ptv3-base``: the encoder of PTv3 base, depths (2, 2, 2, 6, 2), widths (32, 64, 128, 256, 512), heads
  (2, 4, 8, 16, 32), patch 1024, drop-path 0.3, grid 0.02 m (the U-Net decoder is not part of the encoder).
- ``tiny``: for CPU pretraining in minutes: 4 stages, depths (1, 1, 2, 1), widths (32, 64, 128, 256), heads
  (2, 4, 8, 16), patch 128, drop-path 0.1, grid 0.05 m.

``in_channels`` defaults to 6 (colour + normal): the position already enters through the grid (CPE or rotary
encoding) and the serialisation. Sonata feeds 9 channels (coordinate + colour + normal); set 9 and concatenate the
coordinate to reproduce that. ``position`` is ``cpe`` (the papers') or ``rope`` (rotary 3D encoding in attention,
no sparse convolution). ``shuffle_orders`` shuffles the four serialisation orders at every serialisation in
training. ``mask_token`` adds a learned token that replaces the stem output of masked points (Sonata's naive masked
distillation; DOS drops masked points instead and needs none).
"""

from __future__ import annotations

from dataclasses import dataclass

from pointdistill.config import register_section
from pointdistill.errors import ConfigError
from pointdistill.models.scene.ptv3 import POSITIONS, SceneEncoder


@dataclass(frozen=True)
class ScenePreset:
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    heads: tuple[int, ...]
    patch_size: int
    drop_path: float
    grid_size: float


SCENE_PRESETS = {
    "tiny": ScenePreset((1, 1, 2, 1), (32, 64, 128, 256), (2, 4, 8, 16), 128, 0.1, 0.05),
    "sonata": ScenePreset((3, 3, 3, 12, 3), (48, 96, 192, 384, 512), (3, 6, 12, 24, 32), 1024, 0.3, 0.02),
    "ptv3-base": ScenePreset((2, 2, 2, 6, 2), (32, 64, 128, 256, 512), (2, 4, 8, 16, 32), 1024, 0.3, 0.02),
}


@dataclass
class SceneEncoderConfig:
    preset: str = "tiny"
    depths: tuple[int, ...] | None = None
    widths: tuple[int, ...] | None = None
    heads: tuple[int, ...] | None = None
    patch_size: int | None = None
    grid_size: float | None = None
    in_channels: int = 6
    drop_path: float | None = None
    mlp_ratio: float = 4.0
    position: str = "cpe"
    shuffle_orders: bool = True
    mask_token: bool = False


register_section("scene_encoder", SceneEncoderConfig)


def _fail(key: str, problem: str) -> ConfigError:
    return ConfigError(f"scene_encoder.{key}: {problem}")


@dataclass(frozen=True)
class ResolvedSceneEncoder:
    """A :class:`SceneEncoderConfig` with the preset's values filled in and every value checked."""

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    heads: tuple[int, ...]
    patch_size: int
    grid_size: float
    in_channels: int
    drop_path: float
    mlp_ratio: float
    position: str
    shuffle_orders: bool
    mask_token: bool


def resolve_scene_config(cfg: SceneEncoderConfig) -> ResolvedSceneEncoder:
    """Every ``None`` replaced by the preset's value, checked: a bad value raises ConfigError naming its key."""
    if cfg.preset not in SCENE_PRESETS:
        raise _fail("preset", f"{cfg.preset!r} is not one of {list(SCENE_PRESETS)}")
    preset = SCENE_PRESETS[cfg.preset]
    resolved = ResolvedSceneEncoder(
        depths=tuple(cfg.depths if cfg.depths is not None else preset.depths),
        widths=tuple(cfg.widths if cfg.widths is not None else preset.widths),
        heads=tuple(cfg.heads if cfg.heads is not None else preset.heads),
        patch_size=cfg.patch_size if cfg.patch_size is not None else preset.patch_size,
        grid_size=cfg.grid_size if cfg.grid_size is not None else preset.grid_size,
        in_channels=cfg.in_channels,
        drop_path=cfg.drop_path if cfg.drop_path is not None else preset.drop_path,
        mlp_ratio=cfg.mlp_ratio,
        position=cfg.position,
        shuffle_orders=cfg.shuffle_orders,
        mask_token=cfg.mask_token,
    )
    stages = len(resolved.widths)
    for key in ("depths", "widths", "heads"):
        values = getattr(resolved, key)
        if len(values) != stages or stages == 0:
            raise _fail(key, f"needs one entry per stage ({stages} widths), got {list(values)}")
        if any(v < 1 for v in values):
            raise _fail(key, f"entries must be >= 1, got {list(values)}")
    for stage, (width, heads) in enumerate(zip(resolved.widths, resolved.heads)):
        if width % heads:
            raise _fail("heads", f"stage {stage}: width {width} is not divisible by {heads} heads")
        if resolved.position == "rope" and (width // heads) % 2:
            raise _fail("position", f"rope needs an even head dimension; stage {stage} has {width // heads}")
    checks = [
        ("patch_size", resolved.patch_size >= 1, "must be >= 1"),
        ("grid_size", resolved.grid_size > 0, "must be positive"),
        ("in_channels", resolved.in_channels >= 1, "must be >= 1"),
        ("drop_path", 0.0 <= resolved.drop_path < 1.0, "must be in [0, 1)"),
        ("mlp_ratio", resolved.mlp_ratio > 0, "must be positive"),
        ("position", resolved.position in POSITIONS, f"must be one of {list(POSITIONS)}"),
    ]
    for key, ok, problem in checks:
        if not ok:
            raise _fail(key, f"{getattr(resolved, key)!r} {problem}")
    return resolved


def build_scene_encoder(cfg: SceneEncoderConfig) -> SceneEncoder:
    """The :class:`SceneEncoder` that ``cfg`` (preset + overrides) describes."""
    spec = resolve_scene_config(cfg)
    return SceneEncoder(
        spec.in_channels,
        spec.widths,
        spec.depths,
        spec.heads,
        patch_size=spec.patch_size,
        grid_size=spec.grid_size,
        mlp_ratio=spec.mlp_ratio,
        drop_path=spec.drop_path,
        position=spec.position,
        shuffle_orders=spec.shuffle_orders,
        mask_token=spec.mask_token,
    )
