"""``pointdistill pretrain``: run folder contents, overrides, resume, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pointdistill.cli.main import main
from pointdistill.config import load_config
from pointdistill.training.checkpoint import load_checkpoint
from tiny_presets import TINY_DCGLR

# The shipped CPU preset, shrunk to seconds: few synthetic shapes, 256 points, a 1-block encoder.
TINY = [
    *TINY_DCGLR,
    "data.synthetic_count=32",
    "data.num_workers=0",
    "optim.batch_size=4",
    "train.log_every=1",
    "train.progress=false",
    "train.precision=fp32",
]


def pretrain(*args: str) -> int:
    return main(["pretrain", "--config", "dcglr-vit-tiny", *args, *TINY])


def test_pretrain_on_embedded_shapes_writes_the_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert pretrain("--out", str(tmp_path), "--max-steps", "2", "--seed", "3") == 0
    assert "max_steps: step 2/" in capsys.readouterr().out
    config = load_config(str(tmp_path / "config.yaml"))
    assert (config.seed, config.train.max_steps, config.data.source) == (3, 2, "synthetic:shapes")
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all("loss" in r for r in records)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 2


def test_resume_continues_with_the_saved_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert pretrain("--out", str(tmp_path), "--max-steps", "1") == 0
    assert main(["pretrain", "--out", str(tmp_path), "--resume", "--max-steps", "2"]) == 0
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 2
    assert pretrain("--out", str(tmp_path), "--resume", "--max-steps", "3", "optim.lr=0.1") == 2
    assert "optim.lr: 0.0005 -> 0.1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optim.lrr=1"], "unknown config key 'optim.lrr'.*valid keys here: optim.batch_size"),
        (["optim.batch_size=abc"], "optim.batch_size: expected an integer"),
        (["optim.batch_size=64"], "too small.*need at least 64 samples"),
        (["train.device=tpu"], "train.device"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert main(["pretrain", "--out", str(tmp_path), "--max-steps", "1", *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err


def test_resume_of_an_empty_folder_without_config_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["pretrain", "--out", str(tmp_path), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_launch_trains_two_processes(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "pointdistill", "pretrain", "--config", "dcglr-vit-tiny", "--out", str(tmp_path), "--max-steps", "2",
        *TINY,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # its own session, so that a timeout can stop the launcher and both workers together
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, stderr[-2000:]
    assert stdout.count("max_steps: step 2/") == 1  # only rank 0 reports
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert checkpoint["world_size"] == 2 and checkpoint["step"] == 2
    assert all(torch.isfinite(v).all() for v in checkpoint["encoder"].values() if v.is_floating_point())
