"""Time to accuracy: how far pretraining moves a frozen encoder from its random initialisation per unit of compute.

A run pretrained with the online probe (``online_eval.split=val``) leaves in its ``metrics.jsonl`` one record per
probe: the accuracy of a k-NN (or fixed-C SVM) probe on a validation split carved from the train split, at the
training time spent so far (``train_cpu_min``, ``train_wall_min``; probe time excluded). Step 0 is the random
initialisation of the same encoder and seed: the floor the curve starts from. This module turns those records and
the final ``evaluate svm`` results (pretrained, and the random encoder of the same config and seed) into one result
per run, a Markdown table and the accuracy-vs-CPU-minutes picture; ``benchmarks/time_to_accuracy.py`` runs them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from pointdistill.config import Config
from pointdistill.errors import DataError

PROBE_PREFIX = "online/"
PROBE_SUFFIX = "_accuracy"


def probe_curve(metrics: str | Path) -> tuple[str, list[dict[str, float]]]:
    """``(probe key, points)`` of a run's ``metrics.jsonl``: one point per probe record, in step order, each with
    ``step``, ``train_cpu_min``, ``train_wall_min``, ``accuracy`` (percent) and the probe's own ``probe_cpu_s``
    (None in records without it). A DataError when the file holds
    no probe records with training time (a run without ``online_eval.enabled`` or from before training time
    was logged)."""
    path = Path(metrics)
    if not path.is_file():
        raise DataError(path, "no metrics file: was the run started?")
    points, keys = [], set()
    for line in path.read_text().splitlines():
        record = json.loads(line)
        found = [k for k in record if k.startswith(PROBE_PREFIX) and k.endswith(PROBE_SUFFIX)]
        if not found or "train_cpu_min" not in record:
            continue
        keys.update(found)
        points.append({"step": int(record["step"]), "train_cpu_min": float(record["train_cpu_min"]),
                       "train_wall_min": float(record["train_wall_min"]), "accuracy": float(record[found[0]]),
                       "probe_cpu_s": record.get(f"{PROBE_PREFIX}cpu_seconds")})
    if not points:
        raise DataError(path, "no online probe records with training time (online_eval.enabled=true)")
    if len(keys) > 1:
        raise DataError(path, f"probe records of several protocols: {sorted(keys)}")
    return keys.pop(), sorted(points, key=lambda p: p["step"])


def random_floor_key(config: Config) -> str:
    """A name for the random initialisation of ``config``'s encoder: the same for configs whose encoder section
    and seed agree (the AsymDSD variants share one), so its test SVM is computed once. The encoder weights of a
    fresh run are exactly ``load_encoder("random", config, seed=config.seed)``'s."""
    encoder = config.to_dict()["encoder"]
    digest = hashlib.sha256(json.dumps({"encoder": encoder, "seed": config.seed}, sort_keys=True).encode())
    return f"{encoder['name']}-{encoder['preset']}-seed{config.seed}-{digest.hexdigest()[:8]}"


def run_result(
    label: str,
    config: Config,
    metrics: str | Path,
    pretrain: dict[str, Any],
    svm_pretrained: dict[str, Any] | None,
    svm_random: dict[str, Any] | None,
) -> dict[str, Any]:
    """One run's row of the benchmark: its curve, probe at start (step 0) and end, the probes' CPU cost (outside
    the budget), and the test SVM of the random and the pretrained encoder (None where not measured)."""
    key, curve = probe_curve(metrics)
    start = curve[0] if curve[0]["step"] == 0 else None
    pretrained = None if svm_pretrained is None else svm_pretrained["test_accuracy"]
    random = None if svm_random is None else svm_random["test_accuracy"]
    return {
        "label": label,
        "method": config.method,
        "encoder": f"{config.encoder.name}/{config.encoder.preset}",
        "seed": config.seed,
        "budget_minutes": config.train.max_minutes,
        "budget_clock": config.train.budget_clock,
        **pretrain,
        "probe": key.removeprefix(PROBE_PREFIX),
        "val_probe_start": None if start is None else start["accuracy"],
        "val_probe_end": curve[-1]["accuracy"],
        "val_probe_end_step": curve[-1]["step"],
        "probes": len(curve),
        "probe_cpu_min": round(sum(p["probe_cpu_s"] or 0.0 for p in curve) / 60.0, 2),
        "test_svm_random": random,
        "test_svm_pretrained": pretrained,
        "test_svm_gain": None if random is None or pretrained is None else round(pretrained - random, 2),
        "curve": curve,
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """The benchmark's table: per run its budget, steps, validation probe at step 0 and at the end, and the test
    SVM of the random and the pretrained encoder."""
    lines = [
        "| config | method | budget | steps | val probe: step 0 | val probe: end | test SVM: random init "
        "| test SVM: pretrained | gain |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        budget = f"{r['budget_minutes']:g} {r['budget_clock'].upper()}-min" if r["budget_minutes"] else "-"
        gain = "-" if r["test_svm_gain"] is None else f"{r['test_svm_gain']:+.2f}"
        lines.append(
            f"| {r['label']} | {r['method']} | {budget} | {_cell(r.get('steps'))} | {_cell(r['val_probe_start'])} "
            f"| {_cell(r['val_probe_end'])} | {_cell(r['test_svm_random'])} | {_cell(r['test_svm_pretrained'])} "
            f"| {gain} |"
        )
    return "\n".join(lines) + "\n"
