"""Checkpoints: one self-describing file per save, written atomically, read back without unpickling code.

Format (``torch.save`` of a dict; everything in it is a tensor or a plain container so that
``torch.load(weights_only=True)`` can read it)::

    {"format": "pointdistill", "version": 1, "config": Config.to_dict(),
     "step": int, "epoch": int, "batch_in_epoch": int,
     "method": method.state_dict(), "encoder": method.teacher_encoder().state_dict(),
     "optimizer": optimizer.state_dict(), "scaler": GradScaler.state_dict() (fp16 only),
     "total_steps": int (the schedule's length), "rng": capture_rng(), "metrics": {small summary}}

``step`` counts optimiser steps done; ``epoch`` / ``batch_in_epoch`` say where the data stream resumes (micro-batch
offset of one process within that epoch). A save goes to ``<name>.tmp`` in the same folder, is flushed and
fsynced, then renamed over ``<name>``: a crash or a full disk at any moment leaves either the old file or the new
one, never half of one.

Foreign checkpoints (AsymDSD's PyTorch Lightning ``.ckpt``) are read by :func:`read_checkpoint` with
``foreign_objects=True``: still ``weights_only``, but the Python objects such files keep beside their tensors
(Lightning's ``hyper_parameters`` hold class references and enums of the code that wrote them) are replaced by
inert :class:`ForeignObject` placeholders instead of refusing the whole file.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from pointdistill.errors import CheckpointError

FORMAT = "pointdistill"
VERSION = 1
LAST = "last.pt"
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")

# Keys that steer how long or how visibly a run goes, not what it computes: they may change on --resume.
RUN_CONTROL_KEYS = frozenset(
    {
        "train.max_steps",
        "train.max_minutes",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.tensorboard",
        "train.progress",
        "train.threads",
        "train.device",
        "data.num_workers",
    }
)
_RUN_CONTROL_SECTIONS = ("online_eval.",)


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path.tmp``, fsync, rename over ``path``; the temporary file is removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _unreadable_reason(path: Path, error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in a few words.

    Torch's own message advises re-running with ``weights_only=False``, which would execute whatever code an
    untrusted file holds: the wrong advice for a file that is not a pointdistill checkpoint, so it is never shown.
    """
    unsafe = _UNSAFE_GLOBAL.search(str(error))
    if unsafe:
        return f"it holds Python objects besides tensors, such as {unsafe.group(1)}, which are never loaded"
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        return "the file is empty"
    if head == b"PK\x03\x04" and isinstance(error, pickle.UnpicklingError):
        return "it holds Python objects that cannot be rebuilt without running their code, which is never done"
    if head == b"PK\x03\x04":
        return "a damaged or truncated PyTorch archive"
    return "not a PyTorch checkpoint file at all"


class ForeignObject:
    """Inert stand-in for a Python object of a foreign checkpoint: a class reference, an enum, a namespace.

    It is what the unpickler gets instead of the named global, so nothing the file names is imported or run: the
    arguments and state the file supplies are dropped. Only tensors and plain containers come through intact.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ForeignObject:
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def _torch_load(path: Path, *, foreign_objects: bool) -> Any:
    """``torch.load(weights_only=True)`` on CPU; with ``foreign_objects`` the globals it refuses become
    :class:`ForeignObject` (torch still refuses blocklisted modules and anything but tensors and containers)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes on pickle protocols: noise for an unusable file
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if not foreign_objects or not _UNSAFE_GLOBAL.search(str(exc)):
                raise
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        with torch.serialization.safe_globals([(ForeignObject, name) for name in names]):
            return torch.load(path, map_location="cpu", weights_only=True)


def read_checkpoint(path: str | Path, *, foreign_objects: bool = False) -> Any:
    """The object stored in a checkpoint file, read on CPU without unpickling code; CheckpointError if missing or
    unreadable. ``foreign_objects`` admits non-tensor Python objects as :class:`ForeignObject` placeholders."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return _torch_load(path, foreign_objects=foreign_objects)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc.strerror or exc})") from None
    except Exception as exc:  # truncated zip, foreign pickle, unreadable file: all mean "not usable"
        raise CheckpointError(f"{path}: not a pointdistill checkpoint ({_unreadable_reason(path, exc)})") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a pointdistill checkpoint on CPU; raise CheckpointError if missing, corrupt or of another format."""
    data = read_checkpoint(path)
    check_checkpoint(Path(path), data)
    return data


def check_checkpoint(path: Path, data: Any, *, hint: str = "") -> None:
    """Raise CheckpointError unless ``data`` (read from ``path``) is a pointdistill checkpoint of a known version;
    ``hint`` is appended to the "not a pointdistill checkpoint" message (other formats the caller knows)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pointdistill checkpoint (no 'format': '{FORMAT}' entry){hint}")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {version!r} is newer than this pointdistill ({VERSION})")
    missing = [k for k in ("config", "step", "method", "encoder") if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")


@dataclass
class RunPosition:
    """Where a run stands: optimiser ``step`` done, the data stream's ``epoch`` and ``batch_in_epoch`` (micro-batches
    of one process), the ``world_size`` that produced them, the schedule's ``total_steps`` (None in checkpoints of
    older versions), wall-clock ``elapsed_s`` over all calls, the training time over all calls without the
    callbacks' (``train_wall_s``, ``train_cpu_s``: see :mod:`pointdistill.training.clock`; 0 in checkpoints of older
    versions) and the ``skipped_samples`` so far."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    world_size: int = 1
    total_steps: int | None = None
    elapsed_s: float = 0.0
    skipped_samples: int = 0
    train_wall_s: float = 0.0
    train_cpu_s: float = 0.0


def training_state(
    position: RunPosition,
    config: Mapping[str, Any],
    method: torch.nn.Module,
    encoder: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    metrics: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything :func:`restore_training_state` needs to continue a run bit for bit, as weights-only data."""
    state: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": dict(config),
        "step": position.step,
        "epoch": position.epoch,
        "batch_in_epoch": position.batch_in_epoch,
        "world_size": position.world_size,
        "total_steps": position.total_steps,
        "method": method.state_dict(),
        "encoder": encoder.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": capture_rng(),
        "metrics": {
            **metrics,
            "elapsed_s": position.elapsed_s,
            "skipped_samples": position.skipped_samples,
            "train_wall_s": position.train_wall_s,
            "train_cpu_s": position.train_cpu_s,
        },
    }
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    return state


def restore_training_state(
    checkpoint: Mapping[str, Any],
    method: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
) -> RunPosition:
    """Load weights, optimiser, scaler and RNG states of a :func:`training_state` dict; return its position."""
    method.load_state_dict(checkpoint["method"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scaler is not None and "scaler" in checkpoint:
        scaler.load_state_dict(checkpoint["scaler"])
    if "rng" in checkpoint:
        restore_rng(checkpoint["rng"])
    summary = checkpoint.get("metrics", {})
    total = checkpoint.get("total_steps")
    return RunPosition(
        step=int(checkpoint["step"]),
        epoch=int(checkpoint.get("epoch", 0)),
        batch_in_epoch=int(checkpoint.get("batch_in_epoch", 0)),
        world_size=int(checkpoint.get("world_size", 1)),
        total_steps=None if total is None else int(total),
        elapsed_s=float(summary.get("elapsed_s", 0.0)),
        skipped_samples=int(summary.get("skipped_samples", 0)),
        train_wall_s=float(summary.get("train_wall_s", 0.0)),
        train_cpu_s=float(summary.get("train_cpu_s", 0.0)),
    )


def step_checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.pt"


def keep_step_copy(folder: Path, step: int, keep: int) -> Path | None:
    """Keep a step-numbered copy of ``last.pt`` and prune to the newest ``keep`` copies (0 keeps none).

    The copy is a hard link when the filesystem allows it: ``last.pt`` is later replaced by a new inode, so the
    link keeps the old content at no extra disk cost.
    """
    if keep <= 0:
        return None
    source, target = folder / LAST, folder / step_checkpoint_name(step)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        tmp.write_bytes(source.read_bytes())
    os.replace(tmp, target)
    copies = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name)))
    for _, old in copies[:-keep]:
        old.unlink(missing_ok=True)
    return target


def capture_rng() -> dict[str, Any]:
    """Torch (CPU and CUDA), NumPy and Python RNG states as tensors and plain values (weights_only-safe)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng` (CUDA states only when the device count matches)."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def flatten_config(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; tuples and lists compare as lists."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, (tuple, list)) else value
    return flat


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Lines ``key: saved -> current`` for every differing key that is not run control, sorted by key."""
    old, new = flatten_config(saved), flatten_config(current)
    lines = []
    for key in sorted(set(old) | set(new)):
        if key in RUN_CONTROL_KEYS or key.startswith(_RUN_CONTROL_SECTIONS):
            continue
        before, after = old.get(key, "<absent>"), new.get(key, "<absent>")
        if before != after:
            lines.append(f"{key}: {before!r} -> {after!r}")
    return lines
