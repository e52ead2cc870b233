"""``pointdistill embed``: features of your own shapes, one row per shape, in one ``.npz``.

Each INPUT is a dataset ``open_dataset`` reads (a folder of shapes, a ModelNet/ScanObjectNN/... layout, a dataset
``.npz`` or ``.h5``; every split is embedded) or a single point or mesh file. The output holds

- ``features`` float32 [M, F]; ``names`` [M] (the sample name); ``inputs`` [M] (the INPUT it came from);
  ``splits`` [M] (``""`` for single files);
- ``labels`` int64 [M] indexing ``classes`` (``-1`` where the shape has no class);
- ``pooling``, ``checkpoint``, ``num_points``: how the features were made.

Nothing is written unless every input was read and embedded: the file appears at the end, in one rename.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from pointdistill.data.base import validate_points
from pointdistill.data.padding import PaddingTally
from pointdistill.data.readers.folder import is_shape_file, read_shape_file
from pointdistill.errors import ConfigError, DataError


def _single_file(path: Path, num_points: int, seed: int) -> dict[str, Any]:
    """One point or mesh file as a sample (meshes sampled with a generator fixed by the file name)."""
    return {"points": validate_points(read_shape_file(path, num_points, seed)["points"], path), "name": path.stem}


def iter_samples(
    inputs: list[str], data_format: str, num_points: int, seed: int
) -> Iterator[tuple[str, str, dict[str, Any], list[str]]]:
    """(input, split, sample, classes) for every shape of every input, in order.

    A path is a dataset when it is a folder, when ``--format`` names a reader, or when detection recognises it (a
    dataset ``.npz``); otherwise a point or mesh file is one shape.
    """
    from pointdistill.data.registry import detect_format, open_dataset

    for text in inputs:
        path = Path(text).expanduser()
        if not path.exists():
            raise DataError(path, "no such file or folder")
        if path.is_file() and data_format == "auto" and is_shape_file(path):
            try:
                detect_format(path)
            except DataError:
                yield text, "", _single_file(path, num_points, seed), []
                continue
        source = open_dataset(path, data_format)
        for split_name, split in source.splits.items():
            for index in range(len(split)):
                yield text, split_name, split[index], source.classes


class _Rows:
    """Accumulates the per-shape columns of the output; labels are re-indexed into one class list merged over the
    inputs (each dataset's classes in its own order, a name shared by two datasets counted once)."""

    def __init__(self) -> None:
        self.features: list[np.ndarray] = []
        self.columns: dict[str, list[Any]] = {"names": [], "inputs": [], "splits": [], "labels": []}
        self._index: dict[str, int] = {}

    def add_meta(self, origin: str, split: str, sample: dict[str, Any], classes: list[str]) -> None:
        label = sample.get("label")
        if label is not None and int(label) < len(classes):
            name = classes[int(label)]
            if name not in self._index:
                for other in classes:  # a dataset brings all its classes, in its own order
                    self._index.setdefault(other, len(self._index))
            label = self._index[name]
        self.columns["names"].append(str(sample.get("name", "")))
        self.columns["inputs"].append(origin)
        self.columns["splits"].append(split)
        self.columns["labels"].append(-1 if label is None else int(label))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "features": np.concatenate(self.features).astype(np.float32),
            "names": np.asarray(self.columns["names"], dtype=str),
            "inputs": np.asarray(self.columns["inputs"], dtype=str),
            "splits": np.asarray(self.columns["splits"], dtype=str),
            "labels": np.asarray(self.columns["labels"], dtype=np.int64),
            "classes": np.asarray(list(self._index), dtype=str),
        }


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write next to the target and rename, so a failure never leaves a partial file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    from pointdistill.api import load_encoder
    from pointdistill.evaluation.features import check_pooling

    pooling = check_pooling([p.strip() for p in args.pooling.split(",") if p.strip()])
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size: must be at least 1, got {args.batch_size}")
    if args.num_points is not None and args.num_points < 1:
        raise ConfigError(f"--num-points: must be at least 1, got {args.num_points}")
    if args.config and args.checkpoint != "random":
        raise ConfigError("--config applies to --checkpoint random only; a checkpoint carries its own config")
    out = Path(args.out)
    encoder = load_encoder(args.checkpoint, config=args.config, device=args.device, seed=args.seed)
    num_points = args.num_points or encoder.num_points
    rows = _Rows()
    pending: list[np.ndarray] = []
    padding = PaddingTally("embed", f"--num-points={num_points}")

    def flush() -> None:
        if pending:
            rows.features.append(encoder.embed(pending, pooling=pooling, batch_size=args.batch_size,
                                               num_points=num_points))
            pending.clear()

    with tqdm(desc="embedding", unit="shape", file=sys.stderr, disable=None) as bar:
        for origin, split, sample, classes in iter_samples(args.inputs, args.format, num_points, args.seed):
            rows.add_meta(origin, split, sample, classes)
            pending.append(np.asarray(sample["points"], dtype=np.float32)[:, :3])
            padding.add_sizes([len(pending[-1])], num_points)
            if len(pending) == args.batch_size:
                flush()
            bar.update(1)
        flush()
    padding.report()
    if not rows.features:
        raise DataError(", ".join(args.inputs), "no shapes found to embed")
    arrays = rows.arrays()
    arrays.update(pooling=np.asarray(pooling, dtype=str), checkpoint=np.asarray(encoder.origin),
                  num_points=np.asarray(num_points))
    _write_npz(out, arrays)
    count, width = arrays["features"].shape
    print(f"wrote {count} x {width} features ({', '.join(pooling)}) to {out}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "embed",
        help="write frozen features of your own shapes (files or folders) to an .npz",
        description=__doc__.replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="point/mesh file, shape folder or dataset")
    parser.add_argument("--checkpoint", required=True, help="checkpoint file or run folder, or 'random'")
    parser.add_argument("--config", help="preset name or YAML file for --checkpoint random")
    parser.add_argument("--out", required=True, help="output .npz file")
    parser.add_argument("--format", default="auto", help="dataset reader for every INPUT (default: detect)")
    parser.add_argument("--num-points", type=int, default=None,
                        help="resample every cloud to N points (default: the checkpoint's data.num_points)")
    parser.add_argument("--pooling", default="cls,max,mean", help="comma-separated poolings (cls, max, mean, global)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="seed of a random encoder and of mesh sampling")
    parser.set_defaults(func=run)
