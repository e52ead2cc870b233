"""``pointdistill demo``: the main job (pretrain on the embedded shapes, evaluate against random init, report).

:mod:`pointdistill.demo` is imported when the command runs, not when the parser is built: it pulls in torch,
scikit-learn and matplotlib, seconds that every other command (``data info``, ``--help``) would pay for nothing.
"""

from __future__ import annotations

import argparse
from typing import Any


def run(args: argparse.Namespace) -> int:
    from pointdistill.demo import DemoSettings, run_demo

    given = {name: value for name, value in (("minutes", args.minutes), ("seed", args.seed)) if value is not None}
    settings = DemoSettings(overrides=list(args.overrides), **given)
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
    parser.add_argument("--minutes", type=float, default=None, help="pretraining budget in minutes (default: 10)")
    parser.add_argument("--out", default="demo-run", help="output folder (report.md, pictures, the run)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the run (default: 0)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted demo in --out")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides for the pretraining")
    parser.set_defaults(func=run)
