"""Python API: load_encoder (random and checkpoint round trip), embed/features, and clear checkpoint errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill import Encoder, load_encoder
from pointdistill.config import load_config
from pointdistill.errors import CheckpointError, ConfigError, DataError
from pointdistill.models import build_encoder

TINY = ["encoder.depth=1", "encoder.embed_dim=32", "encoder.num_heads=2", "encoder.group_size=16",
        "encoder.points_per_group=16", "data.num_points=64"]


def tiny_config(*extra: str):
    return load_config(overrides=TINY + list(extra))


def save_checkpoint(path, config, module, step: int = 7) -> None:
    torch.save({"format": "pointdistill", "version": 1, "config": config.to_dict(), "step": step, "method": {},
                "encoder": module.state_dict()}, path)


def clouds(count: int, points: int = 100, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, points, 3)).astype(np.float32)


def test_random_encoder_is_seeded():
    a = load_encoder("random", config=tiny_config(), device="cpu", seed=1)
    b = load_encoder("random", config=tiny_config(), device="cpu", seed=1)
    c = load_encoder("random", config=tiny_config(), device="cpu", seed=2)
    x = clouds(2)
    assert isinstance(a, Encoder) and a.origin == "random" and a.num_points == 64
    np.testing.assert_array_equal(a.embed(x), b.embed(x))
    assert not np.allclose(a.embed(x), c.embed(x))


def test_embed_shapes_and_input_kinds():
    encoder = load_encoder("random", config=tiny_config(), device="cpu")
    x = clouds(3)
    batch = encoder.embed(x)
    assert batch.shape == (3, 96) and batch.dtype == np.float32  # cls + max + mean of D = 32
    np.testing.assert_allclose(encoder.embed(x[1]), batch[1], atol=1e-5)
    np.testing.assert_allclose(encoder.embed(torch.from_numpy(x)), batch, atol=1e-5)
    mixed = encoder.embed([x[0], clouds(1, 300)[0]], batch_size=1)
    assert mixed.shape == (2, 96)
    np.testing.assert_allclose(mixed[0], batch[0], atol=1e-5)
    assert encoder.embed(x, pooling=("max",)).shape == (3, 32)
    out = encoder.features(x[:2])
    assert out.tokens.shape == (2, 4, 32) and out.centers.shape == (2, 4, 3) and out.cls.shape == (2, 32)


def test_embed_normalises_position_and_scale():
    encoder = load_encoder("random", config=tiny_config(), device="cpu")
    x = clouds(2)
    np.testing.assert_allclose(encoder.embed(x * 4.0 + 10.0), encoder.embed(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((10, 2)), r"shape \[N, 3\]"),
    (np.zeros((2, 3, 10, 3)), r"\[N, 3\] or \[B, N, 3\]"),
    (np.full((10, 3), np.nan), "NaN"),
    ([], "empty list"),
    ("points.npy", "NumPy array"),
])
def test_embed_rejects_bad_points(bad, message):
    encoder = load_encoder("random", config=tiny_config(), device="cpu")
    with pytest.raises(DataError, match=message):
        encoder.embed(bad)


def test_checkpoint_round_trip_file_and_run_folder(tmp_path):
    config = tiny_config()
    torch.manual_seed(3)
    module = build_encoder(config.encoder)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    save_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", config, module, step=42)
    loaded = load_encoder(tmp_path / "run" / "checkpoints" / "last.pt", device="cpu")
    from_folder = load_encoder(tmp_path / "run", device="cpu")  # the run folder pretrain writes
    assert loaded.step == 42 and loaded.origin.endswith("last.pt")
    x = clouds(2)
    reference = Encoder(module, config, torch.device("cpu"), origin="memory").embed(x)
    np.testing.assert_array_equal(loaded.embed(x), reference)
    np.testing.assert_array_equal(from_folder.embed(x), reference)


def test_factory_gives_independent_copies():
    encoder = load_encoder("random", config=tiny_config(), device="cpu")
    x = clouds(1)
    before = encoder.embed(x)
    copy = encoder.factory()()
    with torch.no_grad():
        for parameter in copy.parameters():
            parameter.add_(1.0)
    np.testing.assert_array_equal(encoder.embed(x), before)
    fresh = encoder.factory()()
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), encoder.module.state_dict().values()))


def test_checkpoint_errors(tmp_path):
    config = tiny_config()
    module = build_encoder(config.encoder)
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a pointdistill checkpoint"):
        load_encoder(tmp_path / "notes.pt", device="cpu")
    torch.save({"base_model": module.state_dict()}, tmp_path / "pointmae.pth")
    with pytest.raises(CheckpointError, match="not a pointdistill checkpoint"):
        load_encoder(tmp_path / "pointmae.pth", device="cpu")
    save_checkpoint(tmp_path / "deeper.pt", tiny_config("encoder.depth=2"), module)
    with pytest.raises(CheckpointError, match=r"do not fit the vit \(tiny\) architecture.*missing \(e\.g\. blocks\.1"):
        load_encoder(tmp_path / "deeper.pt", device="cpu")
    save_checkpoint(tmp_path / "wider.pt", tiny_config("encoder.embed_dim=48"), module)
    with pytest.raises(CheckpointError, match="of the wrong shape"):
        load_encoder(tmp_path / "wider.pt", device="cpu")
    alien = tiny_config().to_dict()
    alien["encoder"]["name"] = "transformer9000"
    torch.save({"format": "pointdistill", "version": 1, "config": alien, "step": 1, "method": {},
                "encoder": module.state_dict()}, tmp_path / "alien.pt")
    with pytest.raises(CheckpointError, match="unknown encoder architecture.*transformer9000"):
        load_encoder(tmp_path / "alien.pt", device="cpu")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="holds no checkpoints/last.pt"):
        load_encoder(tmp_path / "empty_run", device="cpu")
    with pytest.raises(ConfigError, match="'random' encoders only"):
        load_encoder(tmp_path / "deeper.pt", config="vit_tiny", device="cpu")
    with pytest.raises(ConfigError, match="device"):
        load_encoder("random", config=config, device="tpu")
