"""Every bad input the CLI has met gets one clear error, never a traceback: one table, one row per input.

Each row runs the real CLI in a subprocess (the package under test, found from ``pointdistill.__file__``) and must
exit with its code (2 for a clean error, 3 for ``data check`` finding bad data), name the offending file or config
key, print exactly one ``error:`` line and no traceback. Clouds too small for the group count are not an error but
one warning (exit 0). The bad files are made once for the module; the rows run in parallel threads, since every
CLI start is a fresh interpreter. The test prints ``clear errors: X/Y`` and, on failure, each failing row with the
tail of its output.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import pointdistill
from pointdistill.config import load_config
from pointdistill.data.pack import pack_dataset
from pointdistill.data.registry import open_dataset
from pointdistill.models import build_encoder

pytestmark = pytest.mark.slow

SRC = Path(pointdistill.__file__).resolve().parents[1]
TINY_YAML = """\
encoder: {depth: 1, embed_dim: 32, num_heads: 2, group_size: 16, points_per_group: 16}
data: {num_points: 64}
"""
# dcglr-vit-tiny shrunk to one quick step on 64-point clouds; fp32 skips the bf16 timing of precision=auto.
TINY_PRETRAIN = (
    "data.num_points=64", "dcglr.global_points=64", "dcglr.local_points=32", "dcglr.num_local=1",
    "dcglr.num_half_res=0", "dcglr.out_dim=32", "dcglr.head_hidden_dim=32", "dcglr.head_bottleneck_dim=16",
    "encoder.group_size=8", "encoder.points_per_group=16", "encoder.embed_dim=32", "encoder.depth=1",
    "encoder.num_heads=2", "optim.batch_size=2", "train.progress=false", "train.precision=fp32",
)


@dataclass(frozen=True)
class Row:
    """One bad input: the CLI arguments (``{d}``: the bad-inputs folder, ``{out}``: an output path of the row's
    own), a regex the output must match (``{d}`` stands for the folder, escaped), the exit code, and the stream
    the regex must match in (stdout only for ``data check``, which lists bad files as its result)."""

    name: str
    argv: tuple[str, ...]
    names: str
    code: int = 2
    stream: str = "stderr"


def pretrain(data: str, *overrides: str) -> tuple[str, ...]:
    return ("pretrain", "--config", "dcglr-vit-tiny", "--data", data, "--out", "{out}", "--max-steps", "1",
            *TINY_PRETRAIN, *overrides)


def evaluate(protocol: str, data: str, *options: str, checkpoint: str = "random") -> tuple[str, ...]:
    config = ("--config", "{d}/tiny.yaml") if checkpoint == "random" else ()
    return ("evaluate", protocol, "--checkpoint", checkpoint, *config, "--data", data, "--device", "cpu", *options)


def embed(path: str) -> tuple[str, ...]:
    return ("embed", path, "--checkpoint", "random", "--config", "{d}/tiny.yaml", "--device", "cpu", "--out", "{out}")


KNN = ("-o", "ks=[1]", "-o", "num_points=64")


def pack(path: str) -> tuple[str, ...]:
    """``data pack`` reads every sample without importing torch: the cheap way to meet one bad file."""
    return ("data", "pack", path, "--out", "{out}")


ROWS = [
    # Slowest first: they start training, with a data-loader worker that meets the bad files.
    Row("worker meets a truncated .npy", pretrain("{d}/worker_cut", "data.num_workers=1", "data.split=all"),
        r"error: {d}/worker_cut/\w\.npy: corrupt or truncated \.npy file"),
    Row("worker meets NaN coordinates", pretrain("{d}/worker_nan", "data.num_workers=1", "data.split=all"),
        r"error: {d}/worker_nan/\w\.npy: 1 point\(s\) have NaN or infinite coordinates"),
    Row("20-point clouds, 64 groups: padded, said once", evaluate("knn", "{d}/few", "-o", "ks=[1]"),
        r"warning: knn train: 6 of 6 clouds have fewer points than num_points=1024 \(the smallest has 20\)", code=0),
    Row("too few points for finetune's groups",
        evaluate("finetune", "{d}/few", "-o", "num_points=20", "-o", "num_groups=64"),
        r"error: finetune\.num_groups: 64 groups need as many points per cloud, but finetune\.num_points is 20"),
    Row("unknown config key", pretrain("synthetic:shapes", "optim.lrr=1"), r"error: .*unknown config key 'optim\.lrr'"),
    Row("unknown key in a section", pretrain("synthetic:shapes", "dcglr.nope=1"),
        r"error: .*unknown config key 'dcglr\.nope'"),
    Row("unknown protocol option", evaluate("knn", "{d}/labelled", "-o", "num_pointz=64"),
        r"error: .*unknown config key 'num_pointz'"),
    Row("foreign checkpoint", evaluate("knn", "{d}/labelled", *KNN, checkpoint="{d}/foreign.pt"),
        r"error: {d}/foreign\.pt: not a pointdistill checkpoint"),
    Row("random-bytes checkpoint", evaluate("knn", "{d}/labelled", *KNN, checkpoint="{d}/random.pt"),
        r"error: {d}/random\.pt: not a pointdistill checkpoint \(not a PyTorch checkpoint file at all\)"),
    Row("encoder does not fit its config", evaluate("knn", "{d}/labelled", *KNN, checkpoint="{d}/mismatch.pt"),
        r"error: {d}/mismatch\.pt: encoder weights do not fit the vit"),
    Row("unlabelled data, supervised protocol", evaluate("knn", "{d}/unlabelled", *KNN),
        r"error: {d}/unlabelled: protocol 'knn' needs class labels"),
    Row("points of shape [N, 2]", embed("{d}/files/flat.npy"),
        r"error: {d}/files/flat\.npy: expected points of shape \[N, 3\], got \[96, 2\]"),
    Row("missing path", ("data", "info", "{d}/absent"), r"error: {d}/absent: no such file or folder"),
    Row("missing path, data check", ("data", "check", "{d}/absent"), r"error: {d}/absent: no such file or folder"),
    Row("empty folder", ("data", "info", "{d}/empty"), r"error: {d}/empty: unrecognised dataset layout"),
    Row("truncated dataset .npz", ("data", "info", "{d}/cut.npz"),
        r"error: {d}/cut\.npz: not a readable \.npz archive, corrupt or truncated"),
    Row("zero-byte .h5", ("data", "info", "{d}/zero.h5"), r"error: {d}/zero\.h5: .*the file is empty \(0 bytes\)"),
    Row("truncated .h5", pack("{d}/cut.h5"), r"error: {d}/cut\.h5: not a readable HDF5 file, corrupt or truncated"),
    Row("truncated .npy", pack("{d}/files/npy"), r"error: {d}/files/npy/cut\.npy: corrupt or truncated \.npy"),
    Row("truncated point .npz", pack("{d}/files/npz"), r"error: {d}/files/npz/cut\.npz: corrupt \.npz file"),
    Row("truncated .off mesh", pack("{d}/files/off"), r"error: {d}/files/off/cut\.off: truncated OFF file"),
    Row("corrupt .ply mesh", pack("{d}/files/ply"), r"error: {d}/files/ply/bad\.ply: cannot read mesh"),
    Row("corrupt .obj mesh", pack("{d}/files/obj"), r"error: {d}/files/obj/bad\.obj: cannot read mesh"),
    Row("truncated binary .pcd", pack("{d}/files/pcd"), r"error: {d}/files/pcd/cut\.pcd: truncated PCD"),
    Row("NaN coordinates", pack("{d}/files/nan"), r"error: {d}/files/nan/nan\.npy: 1 point\(s\) have NaN"),
    Row("non-numeric .txt points", ("data", "check", "{d}/txt"), r"{d}/txt/bad\.txt: not a numeric table",
        code=3, stream="stdout"),
    Row("truncated packed shard", pack("{d}/packed"), r"error: {d}/packed/train-00000-points\.npy: corrupt or trunc"),
    Row("truncated .dat cache pickle", ("data", "info", "{d}/dat_cut"),
        r"error: {d}/dat_cut/modelnet40_normal_resampled/modelnet40_train_8192pts_fps\.dat: .*truncated"),
    Row("malicious .dat pickle", pack("{d}/dat_evil"),
        r"error: {d}/dat_evil/\S+_fps\.dat: unsafe or corrupt pickle: refusing to load (builtins|io)\.open"),
    Row("truncated few-shot .pkl", ("data", "check", "{d}/fewshot"),
        r"{d}/fewshot/ModelNetFewshot/5way_10shot/0\.pkl: .*truncated", code=3, stream="stdout"),
    Row("truncated SemanticKITTI scan", ("data", "check", "{d}/kitti"),
        r"{d}/kitti/dataset/sequences/08/velodyne/000000\.bin: truncated", code=3, stream="stdout"),
]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _clouds(root: Path, points: int, splits: tuple[str, ...] = ("train", "test")) -> Path:
    rng = np.random.default_rng(points)
    for split in splits:
        for name in ("a", "b"):
            (root / split / name).mkdir(parents=True)
            for i in range(3):
                np.save(root / split / name / f"s{i}.npy", rng.normal(size=(points, 3)).astype(np.float32))
    return root


class _OpensAFile:
    """A pickle that would create a file when unpickled with pickle.load: the loaders must refuse it."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple:
        return open, (self.target, "w")


def _modelnet_cache(root: Path, content: bytes) -> None:
    folder = root / "modelnet40_normal_resampled"
    folder.mkdir(parents=True)
    (folder / "modelnet40_shape_names.txt").write_text("a\nb\n")
    (folder / "modelnet40_train_8192pts_fps.dat").write_bytes(content)


def _checkpoint(config_yaml: Path, encoder_overrides: list[str]) -> dict:
    config = load_config(str(config_yaml))
    other = load_config(str(config_yaml), encoder_overrides)
    return {"format": "pointdistill", "version": 1, "config": config.to_dict(), "step": 1, "method": {},
            "encoder": build_encoder(other.encoder).state_dict()}


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bad inputs, each next to enough good data that nothing but the bad part can fail."""
    d = tmp_path_factory.mktemp("bad_inputs")
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(96, 3)).astype(np.float32)
    (d / "tiny.yaml").write_text(TINY_YAML)
    (d / "empty").mkdir()
    _clouds(d / "labelled", 96)
    _clouds(d / "few", 20)
    (d / "unlabelled").mkdir()
    for i in range(4):
        np.save(d / "unlabelled" / f"s{i}.npy", cloud)

    np.savez(d / "full.npz", classes=np.array(["a", "b"]), train_points=np.stack([cloud] * 4),
             train_labels=np.array([0, 1, 0, 1]))
    (d / "cut.npz").write_bytes(_half((d / "full.npz").read_bytes()))
    (d / "zero.h5").write_bytes(b"")
    with h5py.File(d / "full.h5", "w") as handle:
        handle["data"], handle["label"] = np.stack([cloud] * 4), np.zeros((4, 1), dtype=np.int64)
    (d / "cut.h5").write_bytes(_half((d / "full.h5").read_bytes()))

    files = d / "files"
    with_nan = cloud.copy()
    with_nan[3, 1] = np.nan
    np.savez(d / "whole.npz", points=cloud)
    bad_files = {
        "npy/cut.npy": _half(_npy(cloud)),
        "npz/cut.npz": _half((d / "whole.npz").read_bytes()),
        "off/cut.off": b"OFF\n8 12 0\n0 0 0\n1 0 0\n",
        "ply/bad.ply": b"ply\nformat binary_little_endian 1.0\nelement vertex 100\nproperty float x\n"
                       b"property float y\nproperty float z\nend_header\n\x00\x01",
        "obj/bad.obj": b"v 0 0 0\nv 1 0 0\nf 1 2 9\n",
        "pcd/cut.pcd": b"VERSION .7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 100\nHEIGHT 1\n"
                       b"POINTS 100\nDATA binary\n" + cloud[:5].tobytes(),
        "nan/nan.npy": _npy(with_nan),
        "flat.npy": _npy(cloud[:, :2]),
    }
    for name, content in bad_files.items():
        (files / name).parent.mkdir(parents=True, exist_ok=True)
        (files / name).write_bytes(content)
        if (files / name).parent != files:
            np.save((files / name).parent / "good.npy", cloud)

    (d / "txt").mkdir()
    np.savetxt(d / "txt" / "good.txt", cloud)
    (d / "txt" / "bad.txt").write_text("0 0 0\n1 2 three\n")
    pack_dataset(open_dataset(d / "labelled"), d / "packed")
    shard = d / "packed" / "train-00000-points.npy"
    shard.write_bytes(_half(shard.read_bytes()))
    cache = pickle.dumps([[cloud, cloud], [0, 1]], protocol=2)
    _modelnet_cache(d / "dat_cut", _half(cache))
    _modelnet_cache(d / "dat_evil", pickle.dumps(_OpensAFile(d / "pwned")))
    fold = d / "fewshot" / "ModelNetFewshot" / "5way_10shot"
    fold.mkdir(parents=True)
    (fold / "0.pkl").write_bytes(_half(pickle.dumps({"train": [(cloud, 0, 3)] * 4, "test": [(cloud, 0, 3)] * 4})))
    scans = d / "kitti" / "dataset" / "sequences" / "08" / "velodyne"
    scans.mkdir(parents=True)
    (scans / "000000.bin").write_bytes(np.zeros(17, dtype=np.float32).tobytes())

    for name, content in (("worker_cut", _half(_npy(cloud))), ("worker_nan", _npy(with_nan))):
        (d / name).mkdir()
        for stem in "abcd":
            (d / name / f"{stem}.npy").write_bytes(content)

    torch.save({"state_dict": {"weight": torch.zeros(3)}, "epoch": 3}, d / "foreign.pt")
    (d / "random.pt").write_bytes(rng.bytes(4096))
    torch.save(_checkpoint(d / "tiny.yaml", ["encoder.embed_dim=48"]), d / "mismatch.pt")
    return d


@dataclass
class Outcome:
    row: Row
    code: int
    stdout: str
    stderr: str
    seconds: float

    def problems(self, folder: Path) -> list[str]:
        """What makes this outcome unclear; empty when the row passes."""
        found = []
        if self.code != self.row.code:
            found.append(f"exit code {self.code}, expected {self.row.code}")
        text = self.stdout if self.row.stream == "stdout" else self.stderr
        pattern = self.row.names.replace("{d}", re.escape(str(folder)))
        if not re.search(pattern, text):
            found.append(f"{self.row.stream} does not match {pattern!r}")
        for bad in ("Traceback", "weights_only"):
            if bad in self.stdout or bad in self.stderr:
                found.append(f"output holds {bad!r}")
        errors = [line for line in self.stderr.splitlines() if line.startswith("error: ")]
        warnings = [line for line in self.stderr.splitlines() if line.startswith("warning: ")]
        if self.row.code == 0 and (errors or len(warnings) != 1):
            found.append(f"expected one warning and no error, got {len(warnings)} and {len(errors)}")
        if self.row.code == 2 and len(errors) != 1:
            found.append(f"expected exactly one 'error:' line, got {len(errors)}")
        return found


def run_row(row: Row, folder: Path) -> Outcome:
    out = folder / "out" / re.sub(r"\W+", "_", row.name)
    argv = [arg.replace("{d}", str(folder)).replace("{out}", str(out)) for arg in row.argv]
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pointdistill", *argv], capture_output=True, text=True, env=env,
                            timeout=600, cwd=folder)
    return Outcome(row, result.returncode, result.stdout, result.stderr, time.perf_counter() - start)


def test_every_bad_input_gets_one_clear_error(bad: Path) -> None:
    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        outcomes = list(pool.map(lambda row: run_row(row, bad), ROWS))
    failures = [(outcome, problems) for outcome in outcomes if (problems := outcome.problems(bad))]
    print(f"\nclear errors: {len(outcomes) - len(failures)}/{len(outcomes)}")
    for outcome in outcomes:
        mark = "FAIL" if any(o is outcome for o, _ in failures) else "ok  "
        print(f"  {mark} {outcome.row.name} (exit {outcome.code}, {outcome.seconds:.1f} s)")
    report = "\n\n".join(
        f"{outcome.row.name}: {'; '.join(problems)}\n  stderr tail: {outcome.stderr[-800:]!r}"
        f"\n  stdout tail: {outcome.stdout[-300:]!r}"
        for outcome, problems in failures
    )
    assert not failures, f"{len(failures)} of {len(outcomes)} bad inputs are not one clear error:\n{report}"
    assert not (bad / "pwned").exists(), "the malicious pickle ran code"
