"""``pointdistill embed``: one row per shape from files, folders and datasets; no file at all on failure."""

from __future__ import annotations

import numpy as np
import pytest

from pointdistill import load_encoder
from pointdistill.cli.main import main
from pointdistill.config import load_config

TINY_YAML = """\
encoder: {depth: 1, embed_dim: 32, num_heads: 2, group_size: 16, points_per_group: 16}
data: {num_points: 64}
"""
CUBE_OFF = """OFF
8 12 0
-1 -1 -1
1 -1 -1
1 1 -1
-1 1 -1
-1 -1 1
1 -1 1
1 1 1
-1 1 1
3 0 1 2
3 0 2 3
3 4 6 5
3 4 7 6
3 0 4 5
3 0 5 1
3 1 5 6
3 1 6 2
3 2 6 7
3 2 7 3
3 3 7 4
3 3 4 0
"""


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "chair.npy", rng.normal(size=(150, 3)).astype(np.float32))
    np.savetxt(tmp_path / "lamp.xyz", rng.normal(size=(90, 3)))
    np.savez(tmp_path / "single.npz", points=rng.normal(size=(70, 3)).astype(np.float32))
    (tmp_path / "cube.off").write_text(CUBE_OFF)
    for label in ("mugs", "vases"):
        (tmp_path / "mine" / label).mkdir(parents=True)
        for index in range(2):
            np.save(tmp_path / "mine" / label / f"{label}_{index}.npy", rng.normal(size=(80, 3)).astype(np.float32))
    np.savez(tmp_path / "dataset.npz", classes=np.array(["a", "b"]), test_points=rng.normal(size=(3, 64, 3)),
             test_labels=np.array([1, 0, 1]))
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    return tmp_path


def embed_args(inputs, paths: list[str], *flags: str) -> list[str]:
    return ["embed", "--checkpoint", "random", "--config", str(inputs / "tiny.yaml"), "--device", "cpu",
            *(str(inputs / p) for p in paths), "--out", str(inputs / "features.npz"), *flags]


def test_files_folders_and_datasets_give_one_row_each(inputs, capsys):
    paths = ["chair.npy", "lamp.xyz", "single.npz", "cube.off", "mine", "dataset.npz"]
    code = main(embed_args(inputs, paths, "--batch-size", "3"))
    assert code == 0 and "wrote 11 x 96 features" in capsys.readouterr().out
    with np.load(inputs / "features.npz", allow_pickle=False) as saved:
        assert saved["features"].shape == (11, 96) and saved["features"].dtype == np.float32
        assert saved["names"][:4].tolist() == ["chair", "lamp", "single", "cube"]
        assert saved["labels"].tolist() == [-1, -1, -1, -1, 0, 0, 1, 1, 3, 2, 3]
        assert saved["classes"].tolist() == ["mugs", "vases", "a", "b"]
        assert saved["splits"][:4].tolist() == [""] * 4 and saved["splits"][-1] == "test"
        assert saved["inputs"][4].endswith("mine") and saved["pooling"].tolist() == ["cls", "max", "mean"]
        features = saved["features"]
    encoder = load_encoder("random", config=load_config(str(inputs / "tiny.yaml")), device="cpu")
    np.testing.assert_allclose(features[0], encoder.embed(np.load(inputs / "chair.npy")), atol=1e-5)


def test_pooling_option_changes_the_width(inputs):
    assert main(embed_args(inputs, ["chair.npy"], "--pooling", "max")) == 0
    with np.load(inputs / "features.npz") as saved:
        assert saved["features"].shape == (1, 32)


@pytest.mark.parametrize("paths, flags, message", [
    (["missing.ply"], [], "no such file or folder"),
    (["chair.npy"], ["--pooling", "median"], "unknown pooling 'median'"),
    (["chair.npy"], ["--num-points", "0"], "--num-points"),
])
def test_failures_write_nothing(inputs, capsys, paths, flags, message):
    code = main(embed_args(inputs, paths, *flags))
    assert code == 2 and message in capsys.readouterr().err
    assert not (inputs / "features.npz").exists() and not (inputs / "features.npz.tmp").exists()


def test_a_bad_file_after_good_ones_leaves_no_partial_output(inputs, capsys):
    (inputs / "broken.xyz").write_text("1 2 3\nnot numbers\n")
    code = main(embed_args(inputs, ["chair.npy", "broken.xyz"]))
    assert code == 2 and "broken.xyz" in capsys.readouterr().err
    assert not (inputs / "features.npz").exists()


def test_unknown_checkpoint_is_a_clear_error(inputs, capsys):
    (inputs / "model.pt").write_bytes(b"\x00" * 64)
    args = ["embed", "--checkpoint", str(inputs / "model.pt"), str(inputs / "chair.npy"), "--out",
            str(inputs / "f.npz")]
    assert main(args) == 2
    assert "not a pointdistill checkpoint" in capsys.readouterr().err and not (inputs / "f.npz").exists()
