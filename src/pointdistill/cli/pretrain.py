"""``pointdistill pretrain``: self-supervised pretraining of one config into a run folder.

The run folder holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one JSON object per logged step) and
``checkpoints/last.pt``. ``--resume`` continues the run in ``--out`` from its last checkpoint, with the config saved
in it unless ``--config`` is given (then the two must agree, run-control keys such as max_steps aside). Launch with
``torchrun --nproc_per_node N -m pointdistill pretrain ...`` for data-parallel training.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from pointdistill.errors import CheckpointError

DEFAULT_PRESET = "dcglr-vit-tiny"

_EPILOG = """\
examples:
  pointdistill pretrain --config dcglr-vit-tiny --out runs/tiny --max-minutes 10
  pointdistill pretrain --config dcglr-vit-s --data /data/ShapeNet55 --out runs/s optim.batch_size=32 optim.accumulate=2
  pointdistill pretrain --out runs/tiny --resume --max-steps 5000
  torchrun --nproc_per_node 4 -m pointdistill pretrain --config dcglr-vit-s --data /data/ShapeNet55 --out runs/s4

overrides are dotted keys of the config (key=value, YAML values), e.g. optim.lr=1e-3 encoder.drop_path=0.0
train.schedule_steps=2000 (complete LR/EMA schedules within 2000 steps, for short runs).
"""


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _flag_updates(args: argparse.Namespace) -> dict[str, Any]:
    """The explicit flags as config sections; they win over ``key=value`` overrides."""
    updates: dict[str, Any] = {}
    if args.data is not None:
        updates["data"] = {"source": args.data}
    if args.seed is not None:
        updates["seed"] = args.seed
    train = {k: v for k, v in (("max_steps", args.max_steps), ("max_minutes", args.max_minutes)) if v is not None}
    if train:
        updates["train"] = train
    return updates


def resolve_config(args: argparse.Namespace, out: Path) -> Any:
    """The run's Config: a preset (or, on --resume without --config, the run's own) + overrides + flags."""
    from pointdistill.config import config_from_dict, load_config, nest, parse_override
    from pointdistill.training.engine import resume_config

    updates = _flag_updates(args)
    if args.config is None and args.resume:
        if not (out / "checkpoints" / "last.pt").exists():
            raise CheckpointError(f"nothing to resume in {out}: no checkpoints/last.pt (give --config to start it)")
        data = resume_config(out).to_dict()
        for text in args.overrides:
            data = _deep_merge(data, nest(*parse_override(text)))
        return config_from_dict(_deep_merge(data, updates), label="--resume")
    return load_config(args.config or DEFAULT_PRESET, args.overrides, **updates)


def run(args: argparse.Namespace) -> int:
    from pointdistill.evaluation.online import online_callbacks
    from pointdistill.training.engine import pretrain

    out = Path(args.out) if args.out else Path("runs") / Path(args.config or DEFAULT_PRESET).stem
    config = resolve_config(args, out)
    summary = pretrain(config, out, resume=args.resume, callbacks=online_callbacks(config))
    if int(os.environ.get("RANK", "0")) == 0:
        loss = "n/a" if summary.final_loss is None else f"{summary.final_loss:.4f}"
        print(
            f"{summary.stopped_reason}: step {summary.steps}/{summary.total_steps} "
            f"({summary.steps_this_run} this run, {summary.elapsed_s / 60:.1f} min in total, {summary.device}, "
            f"{summary.precision}), final loss {loss}\n"
            f"  checkpoint: {summary.checkpoint}\n  metrics:    {summary.metrics}\n  config:     {summary.config}"
        )
    return 130 if summary.stopped_reason == "interrupted" else 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="self-supervised pretraining (DCGLR, ...) into a run folder",
        description=__doc__.split("\n\n")[0],
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=None,
        help=f"preset name or YAML file (default: {DEFAULT_PRESET}; on --resume: the run's saved config)",
    )
    parser.add_argument("--data", default=None, help="dataset path or synthetic:shapes (sets data.source)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/<config name>)")
    parser.add_argument("--max-steps", type=_positive_int, default=None, help="stop after N optimiser steps in all")
    parser.add_argument(
        "--max-minutes", type=_positive_float, default=None, help="stop cleanly, with a checkpoint, after M minutes"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of initialisation, data order and views")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last.pt")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.set_defaults(func=run)

