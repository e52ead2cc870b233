"""``pointdistill demo``: the main job (pretrain on the embedded shapes, evaluate against random init, report)."""

from __future__ import annotations

import argparse
from typing import Any

from pointdistill.demo import DemoSettings, run_demo


def run(args: argparse.Namespace) -> int:
    settings = DemoSettings(minutes=args.minutes, seed=args.seed, overrides=list(args.overrides))
    outcome = run_demo(args.out, settings, resume=args.resume)
    results = outcome["results"]
    for protocol, key in [("svm", "test_accuracy"), ("knn", "test_accuracy_k20")]:
        before = results["random_init"][protocol][key]
        after = results["pretrained"][protocol][key]
        print(f"{protocol:>4} {key}: random init {before:.2f}%  pretrained {after:.2f}%  ({after - before:+.2f})")
    print(f"report: {outcome['report']}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="pretrain on the embedded synthetic shapes, evaluate against random init, write report.md"
    )
    parser.add_argument("--minutes", type=float, default=DemoSettings.minutes, help="pretraining budget in minutes")
    parser.add_argument("--out", default="demo-run", help="output folder (report.md, pictures, the run)")
    parser.add_argument("--seed", type=int, default=DemoSettings.seed)
    parser.add_argument("--resume", action="store_true", help="continue an interrupted demo in --out")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides for the pretraining")
    parser.set_defaults(func=run)
