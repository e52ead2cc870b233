"""The ``scene_encoder`` config section, its presets and the shipped scene YAML presets."""

from __future__ import annotations

import pytest
import torch

from pointdistill.config import load_config
from pointdistill.errors import ConfigError
from pointdistill.models.scene import SceneEncoder, SceneEncoderConfig, build_scene_encoder, resolve_scene_config


@pytest.mark.parametrize(
    ("preset", "depths", "widths", "heads", "patch", "drop_path", "grid"),
    [
        ("sonata", (3, 3, 3, 12, 3), (48, 96, 192, 384, 512), (3, 6, 12, 24, 32), 1024, 0.3, 0.02),
        ("ptv3-base", (2, 2, 2, 6, 2), (32, 64, 128, 256, 512), (2, 4, 8, 16, 32), 1024, 0.3, 0.02),
        ("tiny", (1, 1, 2, 1), (32, 64, 128, 256), (2, 4, 8, 16), 128, 0.1, 0.05),
    ],
)
def test_presets_have_the_published_sizes(preset, depths, widths, heads, patch, drop_path, grid) -> None:
    cfg = resolve_scene_config(SceneEncoderConfig(preset=preset))
    assert (cfg.depths, cfg.widths, cfg.heads, cfg.patch_size, cfg.drop_path, cfg.grid_size) == (
        depths, widths, heads, patch, drop_path, grid
    )
    with torch.device("meta"):
        encoder = build_scene_encoder(SceneEncoderConfig(preset=preset))
    assert [len(stage) for stage in encoder.stages] == list(depths)
    assert [stage[0].attn.num_heads for stage in encoder.stages] == list(heads)
    assert encoder.widths == widths and encoder.grid_size == grid and encoder.feature_dim == sum(widths)
    if preset == "sonata":  # the Sonata paper's encoder: 108M parameters
        assert abs(sum(p.numel() for p in encoder.parameters()) / 1e6 - 108.5) < 0.1


@pytest.mark.parametrize("name", ["scene-tiny", "scene-sonata", "scene-ptv3-base"])
def test_shipped_scene_presets_load(name: str) -> None:
    config = load_config(name)
    assert config.data.source == "synthetic:scenes"
    assert config.scene_encoder.preset == name.removeprefix("scene-")
    assert config.method == load_config().method


def test_overrides_reach_the_encoder() -> None:
    config = load_config("scene-tiny", ["scene_encoder.patch_size=64", "scene_encoder.widths=[16,32,64,128]",
                                        "scene_encoder.position=rope"])
    encoder = build_scene_encoder(config.scene_encoder)
    assert isinstance(encoder, SceneEncoder) and encoder.widths == (16, 32, 64, 128)
    assert encoder.stages[0][0].patch_size == 64 and encoder.stages[0][0].cpe is None


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"preset": "huge"}, "scene_encoder.preset"),
        ({"depths": (1, 1)}, "scene_encoder.depths"),
        ({"heads": (3, 4, 8, 16)}, "scene_encoder.heads"),
        ({"patch_size": 0}, "scene_encoder.patch_size"),
        ({"grid_size": 0.0}, "scene_encoder.grid_size"),
        ({"drop_path": 1.0}, "scene_encoder.drop_path"),
        ({"position": "rpe"}, "scene_encoder.position"),
        ({"position": "rope", "widths": (30, 64, 128, 256)}, "scene_encoder.position"),
    ],
)
def test_bad_values_raise_a_config_error_naming_the_key(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_scene_encoder(SceneEncoderConfig(**overrides))
