"""The benchmark's settings (``--quick`` or full) and the order its parts run in.

Parts run one after the other so that none competes with another for the cores: the matmul peak (in this process),
one process per training preset, one process for the FPS / k-NN sweep, then the evaluation protocols (in this
process). A part that fails is recorded with its error and the others still run.

``--quick`` keeps every part but makes each small: the tiny presets at batch 4 (DOS at its own 2 scenes) for 1
warm-up and 2 timed steps, FPS / k-NN timed once per size, 128 shapes of feature extraction, and the linear-SVM
protocol on every 64th shape of each ModelNet40 class, at least 5 per class (labelled reduced): about 3 CPU-minutes.
The full run adds the S presets, repeated FPS / k-NN timings and the whole ModelNet40 protocol, at the presets' own
batch sizes on CUDA and at most 32 shapes per step on CPU (the S presets at their batch of 128 need far more
memory than a workstation has). On 2 CPU cores the whole SVM protocol takes about 3 of its minutes; the S
presets' steps most of the rest.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from pointdistill.api import load_encoder, resolve_device
from pointdistill.bench.child import BenchError, run_in_child
from pointdistill.bench.machine import describe_machine, load_average, process_tree_cpu_seconds
from pointdistill.bench.ops import OpsSettings, measure_ops
from pointdistill.bench.peak import auto_precision, measure_peaks
from pointdistill.bench.protocols import feature_throughput, svm_protocol_cost
from pointdistill.bench.report import write_report
from pointdistill.bench.training import TrainingSettings, measure_training
from pointdistill.data.registry import open_dataset
from pointdistill.errors import PointDistillError

TINY_CONFIGS = ("dcglr-vit-tiny", "asymdsd-vit-tiny", "asymdsd-cls-vit-tiny", "asymdsd-mpm-vit-tiny", "dos-tiny")
S_CONFIGS = ("dcglr-vit-s", "asymdsd-vit-s", "asymdsd-cls-vit-s", "asymdsd-mpm-vit-s")
DEFAULT_DATA = Path("../shared/data/modelnet40_1024_f16.npz")
"""Where a checkout next to the project's shared data finds ModelNet40 (``--data`` names any other place)."""
CPU_BATCH_CAP = 32
SYNTHETIC = "synthetic:shapes"

Say = Callable[[str], None]


@dataclass
class BenchSettings:
    """Everything a run measures; :func:`bench_settings` fills it for ``--quick`` or the full run."""

    out: Path
    quick: bool = False
    device: str = "auto"
    configs: tuple[str, ...] = TINY_CONFIGS + S_CONFIGS
    training: TrainingSettings = field(default_factory=TrainingSettings)
    ops: OpsSettings = field(default_factory=OpsSettings)
    feature_configs: tuple[str, ...] = ("dcglr-vit-tiny", "dcglr-vit-s")
    feature_shapes: int = 1024
    data: str | None = None
    svm_every: int = 1
    svm_checkpoint: str = "random"
    svm_config: str = "dcglr-vit-tiny"
    peak_seconds: float = 1.0


def bench_settings(out: str | Path, *, quick: bool = False, device: str = "auto", data: str | None = None,
                   configs: tuple[str, ...] | None = None, batch_cap: int | None = None,
                   checkpoint: str = "random") -> BenchSettings:
    """The quick or full settings; ``data`` None looks for ModelNet40 at :data:`DEFAULT_DATA`; ``batch_cap``
    None takes the mode's default (0: the presets' own batch sizes)."""
    resolved = resolve_device(device)
    if data is None and DEFAULT_DATA.is_file():
        data = str(DEFAULT_DATA)
    if quick:
        settings = BenchSettings(
            out=Path(out), quick=True, device=str(resolved), configs=TINY_CONFIGS,
            training=TrainingSettings(steps=2, warmup=1, batch_cap=4, device=str(resolved)),
            ops=OpsSettings(repeats=0, device=str(resolved)),
            feature_configs=("dcglr-vit-tiny",), feature_shapes=128, data=data, svm_every=64,
            svm_checkpoint=checkpoint, peak_seconds=0.5,
        )
    else:
        settings = BenchSettings(
            out=Path(out), device=str(resolved),
            training=TrainingSettings(batch_cap=CPU_BATCH_CAP if resolved.type == "cpu" else None,
                                      device=str(resolved)),
            ops=OpsSettings(device=str(resolved)), data=data, svm_checkpoint=checkpoint,
        )
    if configs:
        settings.configs = tuple(configs)
    if batch_cap is not None:
        settings.training = replace(settings.training, batch_cap=batch_cap or None)
    return settings


class _Progress:
    """One line per finished measurement through ``say``, with the time since the start; the wall and CPU time
    of every part (CPU of all the bench's processes: on a shared machine the wall time says more about the load)."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.start = time.perf_counter()
        self.start_cpu = process_tree_cpu_seconds()
        self.parts: dict[str, dict[str, float]] = {}

    def __call__(self, message: str) -> None:
        self.say(f"[bench {time.perf_counter() - self.start:6.1f}s] {message}")

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), process_tree_cpu_seconds()
        try:
            yield
        finally:
            self.parts[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": process_tree_cpu_seconds() - cpu}

    def totals(self) -> dict[str, float]:
        return {"wall_s": time.perf_counter() - self.start, "cpu_s": process_tree_cpu_seconds() - self.start_cpu}


def _training_rows(settings: BenchSettings, peaks: dict[str, float], progress: _Progress) -> list[dict[str, Any]]:
    rows = []
    for number, name in enumerate(settings.configs, 1):
        progress(f"training {number}/{len(settings.configs)}: {name} ...")
        try:
            row = run_in_child(name, measure_training, name, settings.training)
        except BenchError as error:
            rows.append({"config": name, "error": str(error)})
            progress(f"training {name} failed: {str(error).splitlines()[0]}")
            continue
        peak = peaks.get(row["precision"])
        row["peak_ratio"] = row["achieved_gflops"] / peak if peak else None
        cpu_rate = row.get("achieved_gflops_cpu_time")
        row["peak_ratio_cpu_time"] = cpu_rate / peak if peak and cpu_rate is not None else None
        rows.append(row)
        ratio = f"{100 * row['peak_ratio']:.0f}%" if row["peak_ratio"] is not None else "n/a"
        progress(f"training {name}: {row['shapes_per_s']:.2f} {row['unit']}s/s, {row['achieved_gflops']:.1f} "
                 f"GFLOP/s = {ratio} of the {row['precision']} peak, data {100 * row['data_share']:.1f}%, "
                 f"geometry {100 * row['geometry_share']:.1f}%, {row['peak_memory_mb']:.0f} MiB")
    return rows


def _ops(settings: BenchSettings, progress: _Progress) -> dict[str, Any]:
    progress(f"FPS and k-NN at N = {', '.join(str(n) for n in settings.ops.sizes)} ...")
    try:
        ops = run_in_child("fps/knn", measure_ops, settings.ops)
    except BenchError as error:
        progress(f"FPS and k-NN failed: {str(error).splitlines()[0]}")
        return {"error": str(error)}
    for op, orders in ops["orders"].items():
        time_ng, time_n = (_order(orders[key]) for key in ("time_order_ng", "time_order_n"))
        progress(f"{op}: time order {time_ng} in N*G, {time_n} in N, memory order {_order(orders['memory_order_n'])}")
    return ops


def _order(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _evaluation(settings: BenchSettings, progress: _Progress) -> dict[str, Any]:
    device = resolve_device(settings.device)
    evaluation: dict[str, Any] = {"features": [], "svm": None}
    source = open_dataset(settings.data) if settings.data else open_dataset(SYNTHETIC)
    label = settings.data or SYNTHETIC
    split_name = "test" if "test" in source.splits else next(iter(source.splits))
    for config in settings.feature_configs:
        encoder = load_encoder("random", config=config, device=device)
        row = feature_throughput(encoder, source.split(split_name), settings.feature_shapes, device)
        row.update(config=config, encoder=f"{encoder.config.encoder.name}-{encoder.config.encoder.preset}",
                   data=f"{label} ({split_name})")
        evaluation["features"].append(row)
        progress(f"features {config}: {row['features_per_s']:.1f} shapes/s")
    if not settings.data:
        evaluation["svm"] = {"skipped": f"no ModelNet40 file (looked for {DEFAULT_DATA}); pass --data PATH"}
        progress("linear-SVM protocol skipped: no ModelNet40 file")
        return evaluation
    config = settings.svm_config if settings.svm_checkpoint == "random" else None
    encoder = load_encoder(settings.svm_checkpoint, config=config, device=device)
    own_rate = next((row["features_per_s"] for row in evaluation["features"] if row["config"] == config), None)
    what = "every shape" if settings.svm_every <= 1 else f"every {settings.svm_every}th shape (reduced)"
    progress(f"linear-SVM protocol on {what} of {settings.data} ...")
    svm = svm_protocol_cost(encoder, source, settings.svm_every, device, own_rate)
    svm.update(data=settings.data, checkpoint=settings.svm_checkpoint, config=config)
    evaluation["svm"] = svm
    progress(f"linear-SVM protocol: {svm['seconds']:.1f} s for {svm['n_train']} + {svm['n_test']} shapes")
    return evaluation


def run_bench(settings: BenchSettings, say: Say = print) -> dict[str, Any]:
    """Measure everything ``settings`` asks for, write ``bench.json`` and ``bench.md`` to ``settings.out``, and
    return the results."""
    progress = _Progress(say)
    device = resolve_device(settings.device)
    machine = describe_machine(device)
    progress(f"{machine['cpu']}, {machine['cpu_cores']} cores, torch {machine['torch']} with "
             f"{machine['torch_threads']} threads, device {device}, load {machine['load_average_start']}")
    with progress.part("peak"):
        peaks = measure_peaks(device, settings.peak_seconds)
        precision = auto_precision(device)
    progress("matmul peak: " + ", ".join(f"{p} {v:.1f} GFLOP/s" for p, v in peaks.items())
             + f"; auto precision: {precision['auto']}")
    results: dict[str, Any] = {"machine": machine, "settings": _settings_record(settings), "peak_gflops": peaks,
                               "auto_precision": precision}
    with progress.part("training"):
        results["training"] = _training_rows(settings, peaks, progress)
    with progress.part("ops"):
        results["ops"] = _ops(settings, progress)
    with progress.part("evaluation"):
        try:
            results["evaluation"] = _evaluation(settings, progress)
        except PointDistillError as error:  # bad --data or --checkpoint: say so in the report, keep the rest
            results["evaluation"] = {"error": str(error)}
            progress(f"evaluation failed: {error}")
    machine["load_average_end"] = load_average()
    results["parts"] = progress.parts
    results.update(progress.totals())
    paths = write_report(results, settings.out)
    progress(f"done: {results['wall_s']:.0f} s wall, {results['cpu_s']:.0f} s CPU; "
             + ", ".join(str(p) for p in paths))
    return results


def _settings_record(settings: BenchSettings) -> dict[str, Any]:
    record = asdict(settings)
    record["out"] = str(settings.out)
    return record
