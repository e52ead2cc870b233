import numpy as np
import pytest

from pointdistill.config import available_presets, load_config
from pointdistill.methods import build_method
from pointdistill.methods.dcglr import validate_dcglr_config

DCGLR_PRESETS = [
    "dcglr-vit-tiny",
    "dcglr-vit-s",
    "dcglr-vit-b",
    "dcglr-dgcnn",
    "dcglr-pointnet",
    "dcglr-pct",
    "dcglr-paper",
]


def test_every_dcglr_preset_is_shipped_and_valid():
    assert set(DCGLR_PRESETS) <= set(available_presets())
    for name in DCGLR_PRESETS:
        config = load_config(name)
        assert config.method == "dcglr"
        validate_dcglr_config(config.dcglr)


def test_presets_pick_their_backbone():
    assert load_config("dcglr-vit-b").encoder.preset == "b"
    assert load_config("dcglr-vit-tiny").encoder.preset == "tiny"
    for name in ("dgcnn", "pointnet", "pct"):
        assert load_config(f"dcglr-{name}").encoder.name == name


def test_paper_preset_keeps_the_papers_method_settings():
    config = load_config("dcglr-paper")
    assert (config.encoder.name, config.encoder.preset, config.data.num_points) == ("vit", "s", 1024)
    assert config.optim.warmup_epochs == 10
    d = config.dcglr
    views = (d.num_global, d.global_scale, d.num_local, d.local_scale, d.num_half_res)
    assert views == (2, (0.7, 1.0), 8, (0.2, 0.5), 2)
    assert (d.out_dim, d.teacher_temp, d.center_momentum, d.ema_momentum) == (512, 0.04, 0.9, 0.996)


@pytest.mark.parametrize("name", ["dcglr-vit-tiny"])
def test_cpu_preset_builds_and_makes_views(name):
    method = build_method(load_config(name))
    cloud = np.random.default_rng(0).normal(size=(2000, 3))
    views = method.view_transform()({"points": cloud}, np.random.default_rng(1))
    assert views["global"].shape == (2, 1024, 3)
    assert views["local"].shape == (8, 256, 3)
    assert views["points"].shape == (1024, 3)
