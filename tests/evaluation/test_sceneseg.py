"""The scene segmentation protocol on tiny scenes written in the Pointcept layout: metrics, the mapping of the
voxel-sampled predictions back to every original point, the CLI contract and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.api import load_scene_encoder
from pointdistill.cli.main import main
from pointdistill.data.registry import open_dataset
from pointdistill.errors import ConfigError
from pointdistill.evaluation import sceneseg

CLASSES = ["floor", "box"]


def _scene(rng: np.random.Generator, points: int = 700) -> dict[str, np.ndarray]:
    """A 2 m floor (class 0, grey) with a 0.5 m box on it (class 1, red); duplicates share voxels."""
    floor = np.column_stack([rng.uniform(0, 2, points), rng.uniform(0, 2, points), np.zeros(points)])
    box = rng.uniform(0, 0.5, (points // 2, 3)) + np.array([0.7, 0.7, 0.0])
    coord = np.concatenate([floor, box, box[:50]]).astype(np.float32)
    segment = np.concatenate([np.zeros(points), np.ones(points // 2), np.ones(50)]).astype(np.int64)
    segment[:5] = -1
    color = np.where(segment[:, None] == 1, [0.9, 0.1, 0.1], [0.5, 0.5, 0.5]).astype(np.float32)
    normal = np.tile(np.array([0.0, 0.0, 1.0], dtype=np.float32), (len(coord), 1))
    return {"coord": coord, "color": color, "normal": normal, "segment": segment}


@pytest.fixture(scope="module")
def rooms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rooms")
    rng = np.random.default_rng(0)
    for split, count in (("train", 5), ("test", 2)):
        for index in range(count):
            folder = root / split / f"scene{index}"
            folder.mkdir(parents=True)
            for name, array in _scene(rng).items():
                np.save(folder / f"{name}.npy", array)
    (root / "classes.json").write_text(json.dumps(CLASSES))
    return root


def test_scores_equal_a_loop_reference() -> None:
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(-1, 4, (300,), generator=generator)
    prediction = torch.randint(0, 5, (300,), generator=generator)
    confusion = sceneseg.confusion_matrix(prediction, target, 5)
    miou, accuracy, ious = sceneseg.segmentation_scores(confusion)
    valid = target >= 0
    expected = []
    for c in range(5):
        if (target == c).sum() == 0:
            continue
        tp = ((prediction == c) & (target == c)).sum().item()
        union = (((prediction == c) & valid) | (target == c)).sum().item()
        expected.append(tp / union)
    assert ious[4] is None  # absent from the ground truth: not averaged
    assert miou == pytest.approx(np.mean(expected))
    assert accuracy == pytest.approx((prediction[valid] == target[valid]).float().mean().item())


def test_linear_probe_scores_every_original_point(rooms: Path) -> None:
    source = open_dataset(rooms)
    encoder = load_scene_encoder("random", config="scene-tiny", device="cpu")
    options = sceneseg.Options(epochs=6, point_batch=256, lr=1e-2, num_workers=0, voxel_size=0.05)
    result = sceneseg.run(encoder.factory(), source, options, torch.device("cpu"))
    labelled = sum(int((sample["segment"] >= 0).sum()) for sample in source.split("test"))
    assert result["n_test_points"] == labelled
    assert result["n_train_scenes"] + result["n_val_scenes"] == 5
    assert result["miou"] > 90.0  # colour separates the classes: a linear layer on the features must find it
    assert set(result["per_class_iou"]) == set(CLASSES)


def test_cli_prints_one_json_object_with_the_headline(rooms: Path, capsys: pytest.CaptureFixture, tmp_path) -> None:
    code = main(["evaluate", "sceneseg", "--checkpoint", "random", "--config", "scene-tiny", "--data", str(rooms),
                 "-o", "epochs=1", "-o", "num_workers=0", "--json", "--out", str(tmp_path)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["headline"] == "miou" and 0 <= result["miou"] <= 100
    assert result["encoder"] == "scene/tiny"
    assert (tmp_path / "sceneseg_scene.png").is_file()


def test_channels_that_do_not_fit_the_encoder_name_both_keys(rooms: Path) -> None:
    encoder = load_scene_encoder("random", config="scene-tiny", device="cpu")
    options = sceneseg.Options(channels=("color",), num_workers=0)
    with pytest.raises(ConfigError, match="scene_encoder.in_channels"):
        sceneseg.run(encoder.factory(), open_dataset(rooms), options, torch.device("cpu"))


def test_finetune_trains_the_encoder_and_the_decoder(rooms: Path) -> None:
    encoder = load_scene_encoder("random", config="scene-tiny", device="cpu")
    before = {k: v.clone() for k, v in encoder.module.state_dict().items()}
    options = sceneseg.Options(mode="finetune", epochs=4, batch_size=1, lr=1e-2, num_workers=0, voxel_size=0.05)
    result = sceneseg.run(encoder.factory(), open_dataset(rooms), options, torch.device("cpu"))
    assert result["mode"] == "finetune" and len(result["val_curve"]) == 4
    assert result["miou"] > 50.0
    assert all(torch.equal(before[k], v) for k, v in encoder.module.state_dict().items())  # trained a copy
