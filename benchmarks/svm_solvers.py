"""The SVM protocol's C selection by each solver on the same frozen features: chosen C, CV and test accuracy, time.

    python benchmarks/svm_solvers.py --features feats.npz [--solvers newton liblinear] [--threads 2]
    python benchmarks/svm_solvers.py --save feats.npz --checkpoint random --config dcglr-vit-tiny \\
        [--data ../shared/data/modelnet40_1024_f16.npz]

``--save`` extracts the protocol's features once (the same call ``evaluate svm`` makes, timed) and stores them, so
the solvers can then be compared on them repeatedly. Each solver runs the protocol's ``select_c`` (stratified 5-fold
CV over the default C grid on the train split, refit, one prediction of the test split). Times are wall seconds and
the CPU seconds (user + sys) of this process and its children (liblinear's ``n_jobs`` workers): they depend on what
else runs on the machine, so report the load with them; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from pointdistill.bench.machine import process_tree_cpu_seconds

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "modelnet40_1024_f16.npz"


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), process_tree_cpu_seconds()
    result = work()
    return result, time.perf_counter() - wall, process_tree_cpu_seconds() - cpu


def save_features(args: argparse.Namespace) -> None:
    from pointdistill.api import load_encoder
    from pointdistill.data.registry import open_dataset
    from pointdistill.evaluation import svm
    from pointdistill.evaluation.common import train_test_features

    encoder = load_encoder(args.checkpoint, config=args.config, device=args.device, seed=args.seed)
    source = open_dataset(str(args.data))
    options = svm.Options(seed=args.seed)
    if args.batch_size:
        options.batch_size = args.batch_size
    (x_train, y_train, x_test, y_test), wall, cpu = timed(
        lambda: train_test_features(encoder.factory(), source, options, encoder.device, "svm"))
    np.savez(args.save, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    print(json.dumps({"extraction": {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "threads": args.threads,
                                     "batch_size": options.batch_size, "shapes": len(y_train) + len(y_test),
                                     "load_before": os.getloadavg()[0]}}))


def compare(args: argparse.Namespace) -> None:
    from pointdistill.evaluation import svm

    data = np.load(args.features)
    x_train, y_train, x_test, y_test = (data[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    options = svm.Options(seed=args.seed)
    for solver in args.solvers:
        load = os.getloadavg()[0]
        selection, wall, cpu = timed(lambda: svm.select_c(
            x_train, y_train, options.c_grid, options.cv_folds, options.max_iter, options.seed, options.n_jobs,
            solver, torch.device(args.device)))
        predictions = selection.model.predict(x_test)
        print(json.dumps({
            "solver": solver, "best_C": selection.best_c, "cv_accuracy": round(100 * selection.cv_accuracy, 2),
            "cv_accuracy_by_C": {str(c): round(100 * v, 2) for c, v in zip(sorted(options.c_grid),
                                                                              selection.cv_accuracies)},
            "test_accuracy": round(100 * float(np.mean(predictions == y_test)), 2),
            "converged": selection.converged, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "threads": args.threads, "load_before": load,
        }), flush=True)
        if args.predictions:
            np.save(f"{args.predictions}_{solver}.npy", predictions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", help="npz of x_train, y_train, x_test, y_test to compare the solvers on")
    parser.add_argument("--solvers", nargs="+", default=["newton", "liblinear"])
    parser.add_argument("--predictions", help="save each solver's test predictions to PREFIX_<solver>.npy")
    parser.add_argument("--save", help="extract the protocol's features and store them here")
    parser.add_argument("--checkpoint", default="random")
    parser.add_argument("--config", default="dcglr-vit-tiny")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=0, help="extraction batch (0: the protocol's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    if args.save:
        save_features(args)
    if args.features:
        compare(args)


if __name__ == "__main__":
    main()
