"""Time to accuracy: pretrain each config for the same CPU budget, probe it on a validation split as it trains, then
score it once on test.

    python benchmarks/time_to_accuracy.py --minutes 25 --up-axis z --parallel 2 --out runs/tta-25 \\
        [--configs dcglr-vit-tiny asymdsd-vit-tiny ...] [--data PATH] [--probe-every 2.5] [--seed 0]

For every config (a preset name or a YAML file):

1. ``pointdistill pretrain`` on the train split of ``--data`` (labels unused) for ``--minutes`` CPU-minutes of one
   process (``train.budget_clock=cpu``, ``train.fit_schedule_to_budget=true``: the schedule is fitted to end, annealed,
   inside the budget; ``train.threads`` = ``--threads``, ``data.num_workers=0`` so the data pipeline is counted).
   The online probe (a linear SVM with C chosen from the full protocol's grid by 5-fold CV on at most 2,000
   train-side shapes, scored on 1,000 validation shapes; ``--set online_eval.svm_c_grid=[] --set
   online_eval.svm_c=C`` for a fixed C, which can rank a pretrained encoder below its random floor when the two
   want different C; ``--set online_eval.protocol=knn`` for k-NN, which can fall while the SVM rises) runs on a stratified 10% validation split carved from the train split with
   a fixed seed (``online_eval.split=val``; the test split is never read) at step 0, which is the random initialisation of the same encoder and seed, then every
   ``--probe-every`` CPU-minutes of training and after the last step. Probe time is not training time: the
   budget clocks stand still while it runs, and each probe record carries the training CPU- and wall-minutes so far.
2. ``pointdistill evaluate svm`` (the full protocol: C by 5-fold CV on the whole train split, test touched once) of
   the pretrained encoder, and of the random encoder of the same config and seed (computed once per distinct
   encoder and seed: the AsymDSD variants share theirs).

Files under ``--out``: per config ``<label>/config.yaml`` (the resolved config), ``<label>/run/`` (the run folder),
``pretrain.log``, ``pretrain.json`` (written when pretraining finished), ``svm/svm.json``, ``result.json``; per
random encoder ``random/<key>/svm.json``; and for the whole folder ``time_to_accuracy.json`` (every result, curves
included), ``time_to_accuracy.md`` (the table) and ``time_to_accuracy.png`` (validation probe accuracy against
pretraining CPU-minutes, each config's random-init floor dashed).

Resumable: a finished stage is never redone, so the same command continues an interrupted benchmark, and a long one
can be split over sessions (``--configs A`` now, ``--configs B`` later, same ``--out``); the report covers every
config in the folder. Pretraining interrupted mid-way is restarted from scratch (a resumed run would get a second
budget). ``--parallel N`` runs N configs at once, each in its own processes with ``--threads`` threads: with a
CPU-time budget, runs sharing a machine still get equal compute. ``--report-only`` just rebuilds the report.
Nothing here is asserted: the numbers are measurements; note the machine's load (recorded in the JSON) with them.

Cost besides the budgets, with the tiny ViT on one thread: a probe embeds ~3,000 shapes, about 50 CPU-seconds (so
a probe every tenth of the budget adds about a third of a 25-minute budget); an ``evaluate svm`` embeds all
12,311 ModelNet40 shapes (~3.5 CPU-minutes) and cross-validates C on top.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pointdistill
from pointdistill.config import Config, load_config, save_config
from pointdistill.errors import ConfigError, PointDistillError
from pointdistill.evaluation.plots import plot_time_to_accuracy
from pointdistill.evaluation.time_to_accuracy import markdown_table, random_floor_key, run_result
from pointdistill.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "modelnet40_1024_f16.npz"
DEFAULT_CONFIGS = ("dcglr-vit-tiny", "asymdsd-vit-tiny", "asymdsd-cls-vit-tiny", "asymdsd-mpm-vit-tiny")
REPORT = "time_to_accuracy"
_SUMMARY_LINE = re.compile(r"^(\w+): step (\d+)/(\d+)", re.MULTILINE)
_print_lock = threading.Lock()


def say(message: str) -> None:
    with _print_lock:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def label_of(name: str) -> str:
    return Path(name).stem if name.endswith((".yaml", ".yml")) else name


def resolve(name: str, args: argparse.Namespace) -> Config:
    """The config one run pretrains with: the preset, the benchmark's settings, then the user's ``--set``."""
    probe_every = ([f"online_eval.every_steps={args.probe_every_steps}"] if args.probe_every_steps else
                   [f"online_eval.every_minutes={args.probe_every or args.minutes / 10}"])
    overrides = [
        f"data.source={args.data}",
        "data.num_workers=0",
        f"train.max_minutes={args.minutes}",
        "train.budget_clock=cpu",
        "train.fit_schedule_to_budget=true",
        f"train.threads={args.threads}",
        "train.progress=false",
        "online_eval.enabled=true",
        f"online_eval.source={args.data}",
        "online_eval.split=val",
        "online_eval.val_fraction=0.1",
        "online_eval.seed=0",
        "online_eval.protocol=svm",
        "online_eval.svm_c_grid=[0.001,0.01,0.1,1.0]",
        "online_eval.max_train=2000",
        "online_eval.max_test=1000",
        *probe_every,
        *([f"train.max_steps={args.max_steps}"] if args.max_steps else []),
    ]
    method = load_config(name).method
    if args.up_axis:
        overrides.append(f"{method}.up_axis={args.up_axis}")
    return load_config(name, overrides + list(args.set), seed=args.seed)


def child_env(threads: int) -> dict[str, str]:
    """The children import this very pointdistill (a worktree's, when run from one) and use ``threads`` threads."""
    env = dict(os.environ)
    source = str(Path(pointdistill.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([source, *filter(None, [env.get("PYTHONPATH")])])
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def command(env: dict[str, str], args: list[str], log: Path) -> subprocess.CompletedProcess:
    """``python -m pointdistill ARGS``, stderr into ``log``; stdout returned (and appended to the log)."""
    with log.open("w") as handle:
        done = subprocess.run([sys.executable, "-m", "pointdistill", *args], env=env, stdout=subprocess.PIPE,
                              stderr=handle, text=True)
        handle.write(done.stdout)
    if done.returncode != 0:
        tail = "\n    ".join(log.read_text().splitlines()[-8:])
        raise RuntimeError(f"`pointdistill {' '.join(args[:1])}` failed (exit {done.returncode}); {log}:\n    {tail}")
    return done


def svm_args(args: argparse.Namespace) -> list[str]:
    options = [item for option in ["n_jobs=1", *args.svm_option] for item in ("-o", option)]
    return [*options, "--data", args.data, "--seed", str(args.seed), "--json"]


def pretrain_stage(folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """Pretrain (from scratch unless finished before); what ``pretrain.json`` records."""
    done = folder / "pretrain.json"
    if done.is_file():
        return json.loads(done.read_text())
    run_dir = folder / "run"
    if run_dir.exists():
        say(f"{folder.name}: pretraining was interrupted before; starting it again from scratch")
        shutil.rmtree(run_dir)
    say(f"{folder.name}: pretraining (log: {folder / 'pretrain.log'})")
    output = command(env, ["pretrain", "--config", str(folder / "config.yaml"), "--out", str(run_dir)],
                     folder / "pretrain.log").stdout
    summary = _SUMMARY_LINE.search(output)
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    info = {
        "steps": int(checkpoint["step"]),
        "total_steps": checkpoint.get("total_steps"),
        "stopped_reason": summary.group(1) if summary else None,
        "train_cpu_min": round(checkpoint["metrics"]["train_cpu_s"] / 60.0, 3),
        "train_wall_min": round(checkpoint["metrics"]["train_wall_s"] / 60.0, 3),
        "elapsed_min": round(checkpoint["metrics"]["elapsed_s"] / 60.0, 3),
    }
    done.write_text(json.dumps(info, indent=2) + "\n")
    say(f"{folder.name}: pretrained {info['steps']} steps in {info['train_cpu_min']} CPU-min "
        f"({info['elapsed_min']} min of wall time with the probes)")
    return info


def svm_stage(name: str, checkpoint: str, config: Path | None, out: Path, env: dict[str, str],
              args: argparse.Namespace) -> None:
    """``evaluate svm`` into ``out/svm.json`` unless it is there."""
    if (out / "svm.json").is_file():
        return
    say(f"{name}: evaluate svm (log: {out.parent / (out.name + '.log')})")
    extra = ["--config", str(config)] if config is not None else []
    out.mkdir(parents=True, exist_ok=True)
    command(env, ["evaluate", "svm", "--checkpoint", checkpoint, *extra, "--out", str(out), *svm_args(args)],
            out.parent / (out.name + ".log"))
    say(f"{name}: test SVM {json.loads((out / 'svm.json').read_text())['test_accuracy']}")


def prepare(args: argparse.Namespace) -> list[tuple[str, Config]]:
    """Resolve every config and write it under ``--out``; a folder holding another config is refused."""
    prepared, labels = [], set()
    for name in args.configs:
        label = label_of(name)
        if label in labels:
            raise ConfigError(f"--configs: two configs are named {label!r}")
        labels.add(label)
        config = resolve(name, args)
        folder = args.out / label
        saved = folder / "config.yaml"
        if saved.is_file() and load_config(str(saved)) != config:
            raise ConfigError(f"{saved} holds another config (budget, data, seed or overrides differ); use another "
                              "--out or delete that folder")
        folder.mkdir(parents=True, exist_ok=True)
        save_config(config, saved)
        prepared.append((label, config))
    return prepared


def benchmark(args: argparse.Namespace) -> int:
    prepared = prepare(args)
    env = child_env(args.threads)
    floors: dict[str, Path] = {}
    for label, config in prepared:
        floors.setdefault(random_floor_key(config), args.out / label / "config.yaml")

    def config_job(label: str) -> None:
        folder = args.out / label
        pretrain_stage(folder, env)
        if not args.skip_svm:
            svm_stage(label, str(folder / "run"), None, folder / "svm", env, args)

    def floor_job(key: str, config_file: Path) -> None:
        folder = args.out / "random" / key
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config_file, folder / "config.yaml")
        svm_stage(f"random {key}", "random", folder / "config.yaml", folder / "svm", env, args)

    jobs = {label: (config_job, (label,)) for label, _ in prepared}
    if not args.skip_svm:
        jobs.update({f"random {key}": (floor_job, (key, path)) for key, path in floors.items()})
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = {pool.submit(function, *job_args): name for name, (function, job_args) in jobs.items()}
        for future in concurrent.futures.as_completed(futures):
            try:
                future.result()
            except (RuntimeError, PointDistillError) as error:
                failed.append(futures[future])
                say(f"{futures[future]}: FAILED: {error}")
    report(args.out)
    return 1 if failed else 0


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def report(out: Path) -> None:
    """Gather every finished run under ``out`` into the JSON, the Markdown table and the picture."""
    results = []
    for folder in sorted(p.parent for p in out.glob("*/pretrain.json")):
        config = load_config(str(folder / "config.yaml"))
        random_svm = read_json(out / "random" / random_floor_key(config) / "svm" / "svm.json")
        result = run_result(folder.name, config, folder / "run" / "metrics.jsonl",
                            read_json(folder / "pretrain.json"), read_json(folder / "svm" / "svm.json"), random_svm)
        (folder / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        results.append(result)
    if not results:
        say(f"no finished runs in {out} yet")
        return
    first = load_config(str(out / results[0]["label"] / "config.yaml"))
    summary = {
        "benchmark": REPORT,
        "data": first.data.source,
        "probe": {key: value for key, value in vars(first.online_eval).items() if key != "enabled"},
        "machine": {"cpus": os.cpu_count(), "load_average_at_report": [round(v, 2) for v in os.getloadavg()]},
        "results": results,
    }
    (out / f"{REPORT}.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = markdown_table(results)
    (out / f"{REPORT}.md").write_text(table)
    probe = first.online_eval
    if probe.protocol == "knn":
        name = f"k-NN (k={probe.k})"
    elif probe.svm_c_grid:
        name = f"linear SVM (C by {probe.svm_cv_folds}-fold CV)"
    else:
        name = f"linear SVM (C={probe.svm_c:g})"
    budgets = sorted({f"{r['budget_minutes']:g}" for r in results})
    plot_time_to_accuracy(
        results, out / f"{REPORT}.png",
        y_label=f"{name} probe accuracy on validation (%)",
        title=f"{Path(first.data.source).name}, budget {'/'.join(budgets)} CPU-min: {name} probe on "
              f"{probe.val_fraction:.0%} of train carved off (dashed: each config's random init)",
    )
    print(table, end="")
    say(f"report: {out / (REPORT + '.json')}, {out / (REPORT + '.md')}, {out / (REPORT + '.png')}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), help="presets or YAML files")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="labelled dataset with train and test splits")
    parser.add_argument("--minutes", type=float, default=20.0, help="pretraining budget in CPU-minutes per config")
    parser.add_argument("--probe-every", type=float, default=None,
                        help="CPU-minutes of training between probes (default: a tenth of the budget)")
    parser.add_argument("--probe-every-steps", type=int, default=None, help="probe every N steps instead")
    parser.add_argument("--seed", type=int, default=0, help="pretraining seed = random-init seed = SVM seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each process")
    parser.add_argument("--parallel", type=int, default=1, help="configs run at once")
    parser.add_argument("--up-axis", choices=("x", "y", "z"), default=None,
                        help="the data's up axis, set as <method>.up_axis (z for ../shared/data's ModelNet files)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every config (repeatable)")
    parser.add_argument("--svm-option", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluate svm option (repeatable; n_jobs=1 unless given)")
    parser.add_argument("--max-steps", type=int, default=None, help="also stop each run after N steps (smoke tests)")
    parser.add_argument("--skip-svm", action="store_true", help="pretrain and probe only; a later run adds the SVMs")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report from --out")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / REPORT)
    args = parser.parse_args(argv)
    for name in ("minutes", "threads", "parallel"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    if args.probe_every is not None and args.probe_every_steps is not None:
        parser.error("give --probe-every or --probe-every-steps, not both")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.report_only:
            report(args.out)
            return 0
        return benchmark(args)
    except PointDistillError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the same command continues the benchmark (unfinished pretraining restarts)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
