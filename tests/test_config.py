"""Config loading: presets, inheritance, dotted overrides, and clear errors for bad keys and types."""

from __future__ import annotations

from pathlib import Path

import pytest

from pointdistill.config import config_from_dict, load_config, save_config
from pointdistill.errors import ConfigError


def test_defaults_are_the_papers() -> None:
    config = load_config()
    assert config.dcglr.teacher_temp == 0.04
    assert config.dcglr.out_dim == 512
    assert config.dcglr.global_scale == (0.7, 1.0)
    assert config.dcglr.local_scale == (0.2, 0.5)
    assert config.dcglr.ema_momentum == 0.996


def test_dotted_overrides_are_typed() -> None:
    config = load_config(None, ["optim.lr=1e-3", "dcglr.global_scale=[0.5, 1.0]", "train.max_steps=7"])
    assert config.optim.lr == pytest.approx(1e-3)
    assert config.dcglr.global_scale == (0.5, 1.0)
    assert config.train.max_steps == 7


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'.*optim.lr"),
        ("optim.batch_size=abc", "optim.batch_size: expected an integer"),
        ("train.tensorboard=3", "expected true/false"),
        ("dcglr=3", "dcglr is a section"),
        ("nokey", "must look like key.path=value"),
    ],
)
def test_bad_overrides_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_yaml_file_with_inheritance(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("optim:\n  lr: 0.01\n  batch_size: 8\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"inherit: {base}\noptim:\n  batch_size: 4\n")
    config = load_config(str(child))
    assert (config.optim.lr, config.optim.batch_size) == (0.01, 4)


def test_unknown_key_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("encoder:\n  depthh: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*encoder.depthh"):
        load_config(str(path))


def test_unknown_preset_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="shipped presets"):
        load_config("no-such-preset")


def test_saved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(None, ["optim.lr=0.002", "seed=5"])
    save_config(config, tmp_path / "config.yaml")
    import yaml

    again = config_from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text()))
    assert again == config


def test_a_run_folder_named_like_a_preset_does_not_shadow_it(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dcglr-vit-tiny").mkdir()
    assert load_config("dcglr-vit-tiny").encoder.preset == "tiny"
    (tmp_path / "not-a-preset").mkdir()
    with pytest.raises(ConfigError, match="a folder, not a YAML file"):
        load_config("not-a-preset")
