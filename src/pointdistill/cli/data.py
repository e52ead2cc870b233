"""``pointdistill data ...``: inspect, check and pack datasets.

Each sub-command is one ``_add_<name>(subparsers)`` function that builds its parser and sets ``func``; to add a
sub-command, write one more and list it in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

import yaml
from tqdm import tqdm

from pointdistill.data.base import DatasetSource
from pointdistill.data.check import check_dataset
from pointdistill.data.pack import POINT_DTYPES, pack_dataset
from pointdistill.data.registry import open_dataset
from pointdistill.errors import ConfigError, DataError


EXIT_BAD_DATA = 3
"""``data check`` read the dataset and found bad samples. Distinct from 2 (the check could not run: a missing path, a
bad option, a usage error) and from 1 (Python's status for an unexpected exception, a bug), so scripts can tell
"the data is bad" from "the check failed"."""

_CHECK_EXIT_CODES = f"""\
exit status:
  0  every sample was read
  {EXIT_BAD_DATA}  bad data found: each bad file is listed on stdout with its problem
  2  the check could not run: missing path, unknown format or option, usage error (said on stderr)
  1  unexpected internal error (a bug: please report it with the traceback)
"""


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """``-o key=value`` reader options; values are parsed as YAML scalars (``2048`` -> int, ``false`` -> bool)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DataError(pair, "reader options must look like key=value")
        options[key.replace("-", "_")] = yaml.safe_load(value)
    return options


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="dataset folder or file, or synthetic:shapes|scans|scenes")
    parser.add_argument("--format", default="auto", help="reader to use (default: detect from the layout)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="reader option, e.g. -o variant=pb_t50_rs (repeatable)")


def _open(args: argparse.Namespace) -> DatasetSource:
    return open_dataset(args.path, args.format, **_parse_options(args.option))


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def run_info(args: argparse.Namespace) -> int:
    source = _open(args)
    counts = {name: len(split) for name, split in source.splits.items()}
    if args.json:
        payload = {"format": source.format, "root": str(source.root), "classes": list(source.classes),
                   "splits": counts, "info": {str(k): _jsonable(v) for k, v in source.info.items()}}
        print(json.dumps(payload))
        return 0
    print(f"format   {source.format}")
    print(f"root     {source.root}")
    print(f"classes  {len(source.classes)}" + (f": {', '.join(source.classes)}" if source.classes else " (unlabelled)"))
    width = max(len(name) for name in counts) if counts else 0
    for name, count in counts.items():
        print(f"  {name:<{width}}  {count:>8}")
    return 0


def _add_info(subparsers: Any) -> None:
    parser = subparsers.add_parser("info", help="show a dataset's format, classes and split sizes")
    _add_source_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_info)


def run_check(args: argparse.Namespace) -> int:
    with tqdm(desc="checking", unit="sample", file=sys.stderr, disable=None) as bar:
        report = check_dataset(args.path, args.format, progress=bar.update, **_parse_options(args.option))
    for file, problem in report.problems:
        print(f"{file}: {problem}")
    counts = ", ".join(f"{name} {report.bad.get(name, 0)}/{count} bad" for name, count in report.counts.items())
    print(f"{report.format}: {report.checked} samples checked ({counts or 'no splits'}); "
          f"{len(report.problems)} problem(s)")
    return 0 if report.ok else EXIT_BAD_DATA


def _add_check(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help=f"read every sample and list the bad files (exit {EXIT_BAD_DATA} if any)",
        description="Read every sample of every split and list the bad files by name, without stopping at the first.",
        epilog=_CHECK_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_source_arguments(parser)
    parser.set_defaults(func=run_check)


def run_pack(args: argparse.Namespace) -> int:
    source = _open(args)
    total = sum(len(split) for split in source.splits.values())
    with tqdm(total=total, desc="packing", unit="sample", file=sys.stderr, disable=None) as bar:
        out = pack_dataset(source, args.out, num_points=args.num_points, shard_size=args.shard_size,
                           dtype=args.dtype, skip_bad=args.skip_bad, overwrite=args.overwrite, progress=bar.update)
    print(f"packed {total} samples of {source.format} into {out}")
    return 0


def _add_pack(subparsers: Any) -> None:
    parser = subparsers.add_parser("pack", help="write memory-mapped shards for fast loading (format 'packed')")
    _add_source_arguments(parser)
    parser.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    parser.add_argument("--num-points", type=int, default=None, help="resample every cloud to N points")
    parser.add_argument("--dtype", choices=POINT_DTYPES, default="float16", help="storage type of float fields")
    parser.add_argument("--shard-size", type=int, default=1024, help="samples per shard")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable samples (listed in index.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.set_defaults(func=run_pack)


def run_synth(args: argparse.Namespace) -> int:
    from pointdistill.data.synthetic import write_furnished_scenes, write_synthetic

    if args.objects is not None:
        if args.kind != "scenes":
            raise ConfigError(f"--objects furnishes rooms: it goes with 'synth scenes', not 'synth {args.kind}'")
        if args.num_points is not None:
            raise ConfigError("--num-points does not apply with --objects: rooms are sampled by surface density "
                              "and every object keeps all its points")
        out = write_furnished_scenes(args.objects, args.out, count=args.count, seed=args.seed,
                                     objects_up=args.objects_up)
        print(f"wrote {args.count} synthetic scenes furnished from {args.objects} to {out}")
        return 0
    out = write_synthetic(args.kind, args.out, count=args.count, seed=args.seed, num_points=args.num_points)
    print(f"wrote {args.count} synthetic {args.kind} to {out}")
    return 0


def _add_synth(subparsers: Any) -> None:
    parser = subparsers.add_parser("synth", help="write the embedded synthetic data to disk in a readable layout")
    parser.add_argument("kind", choices=["shapes", "scans", "scenes"])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--count", type=int, default=4096, help="samples over all splits together")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-points", type=int, default=None, help="points per sample (default: per kind)")
    parser.add_argument("--objects", default=None, metavar="PATH",
                        help="scenes only: furnish the rooms with the furniture classes of this labelled object "
                             "dataset (e.g. a ModelNet40 .npz); writes train/val/test with disjoint source objects")
    parser.add_argument("--objects-up", choices=["x", "y", "z"], default="z",
                        help="up axis of the --objects clouds (default z: the shared ModelNet npz files are z-up)")
    parser.set_defaults(func=run_synth)


def run_tour(args: argparse.Namespace) -> int:
    from pointdistill.data.tour import render_tour

    paths = render_tour(_open(args), args.out, num_samples=args.num_samples, seed=args.seed, up=args.up)
    for path in paths:
        print(path)
    return 0


def _add_tour(subparsers: Any) -> None:
    parser = subparsers.add_parser("tour", help="render PNGs of samples with their crops, patches and masks")
    _add_source_arguments(parser)
    parser.add_argument("--out", required=True, help="folder for the PNGs")
    parser.add_argument("--num-samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--up", choices=["x", "y", "z"], default="y", help="the data's up axis, drawn vertically")
    parser.set_defaults(func=run_tour)


SUBCOMMANDS: list[Callable[[Any], None]] = [_add_info, _add_check, _add_pack, _add_synth, _add_tour]


def register(subparsers: Any) -> None:
    """Add ``data`` and its sub-commands to the top-level parser."""
    parser = subparsers.add_parser("data", help="inspect, check and pack datasets")
    commands = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    for add in SUBCOMMANDS:
        add(commands)
    parser.set_defaults(func=lambda args: parser.print_help() or 1)
