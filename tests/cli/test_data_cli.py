from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from pointdistill.cli.main import main

SHARED = Path(os.environ.get("POINTDISTILL_SHARED_DATA", Path(__file__).parents[2] / ".." / "shared" / "data"))
CLOUD = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)


def _info_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["data", "info", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # exactly one JSON object on stdout


def test_info_json_on_shared_modelnet40(capsys: pytest.CaptureFixture[str]) -> None:
    path = SHARED / "modelnet40_1024_f16.npz"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    info = _info_json(capsys, str(path))
    assert info["format"] == "npz" and len(info["classes"]) == 40
    assert info["splits"] == {"train": 9843, "test": 2468}


def test_info_json_on_shared_meshes(capsys: pytest.CaptureFixture[str]) -> None:
    path = SHARED / "meshes"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    info = _info_json(capsys, str(path))
    assert info["format"] == "folder" and len(info["classes"]) == 10 and info["splits"] == {"all": 20}


@pytest.fixture
def labelled_folder(tmp_path: Path) -> Path:
    root = tmp_path / "shapes"
    for name in ("chair", "lamp"):
        (root / name).mkdir(parents=True)
        np.save(root / name / f"{name}_1.npy", CLOUD)
    return root


def test_info_table_and_unlabelled_json(capsys: pytest.CaptureFixture[str], labelled_folder: Path,
                                        tmp_path: Path) -> None:
    assert main(["data", "info", str(labelled_folder)]) == 0
    out = capsys.readouterr().out
    assert "folder" in out and "chair, lamp" in out and "all" in out
    (tmp_path / "flat").mkdir()
    np.save(tmp_path / "flat" / "x.npy", CLOUD)
    info = _info_json(capsys, str(tmp_path / "flat"), "--format", "folder")
    assert info["format"] == "folder" and info["classes"] == [] and info["splits"] == {"all": 1}


def test_check_exit_status(capsys: pytest.CaptureFixture[str], labelled_folder: Path) -> None:
    assert main(["data", "check", str(labelled_folder)]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
    bad = labelled_folder / "lamp" / "lamp_2.xyz"
    bad.write_text("1 2 3\n4 5 nan\n")
    (labelled_folder / "lamp" / "lamp_3.xyz").write_text("1 2\n")
    assert main(["data", "check", str(labelled_folder)]) == 3  # bad data: neither a clean error (2) nor a crash (1)
    out = capsys.readouterr().out
    assert f"{bad}: " in out and "lamp_3.xyz" in out and "2 problem(s)" in out


def test_missing_path_is_a_clean_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["data", "info", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "absent" in err and "Traceback" not in err
    assert main(["data", "check", str(tmp_path / "absent")]) == 2


def test_pack_then_info(capsys: pytest.CaptureFixture[str], labelled_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "packed"
    code = main(["data", "pack", str(labelled_folder), "--out", str(out), "--num-points", "8", "--dtype", "float32"])
    assert code == 0 and "packed 2 samples" in capsys.readouterr().out
    info = _info_json(capsys, str(out))
    assert info["format"] == "packed" and info["classes"] == ["chair", "lamp"] and info["splits"] == {"all": 2}
    assert main(["data", "pack", str(labelled_folder), "--out", str(out)]) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err


def test_reader_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "cube").mkdir()
    (tmp_path / "cube" / "c.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    info = _info_json(capsys, str(tmp_path), "-o", "num_points=64", "-o", "seed=2")
    assert info["info"]["num_points"] == 64 and info["info"]["seed"] == 2
    assert main(["data", "info", str(tmp_path), "-o", "bogus=1"]) == 2
    assert "takes no option 'bogus'" in capsys.readouterr().err


def test_synth_writes_a_readable_npz_and_tour_renders_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "synth", "shapes", "--out", str(tmp_path / "syn"), "--count", "24"]) == 0
    written = next((tmp_path / "syn").glob("*.npz"))
    capsys.readouterr()
    assert main(["data", "info", str(written), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "npz" and sum(info["splits"].values()) == 24 and len(info["classes"]) >= 12
    assert main(["data", "tour", str(written), "--out", str(tmp_path / "tour"), "--num-samples", "1"]) == 0
    pngs = list((tmp_path / "tour").glob("*.png"))
    assert pngs and all(p.stat().st_size > 10_000 for p in pngs)
