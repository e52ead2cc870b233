"""The benchmark's files: ``bench.json`` (every measurement) and ``bench.md`` (the tables and what each number means).

The issue's targets are read off the measurements here and shown beside them, met or not: the benchmark measures
and reports, it never fails a run on a number.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

TARGET_PEAK_RATIO = {"s": 0.5, "tiny": 0.4}
"""Share of the matmul peak (in the precision used) a training step should reach, per encoder preset."""
TARGET_PIPELINE_SHARE = 0.10
"""Most of a step the data pipeline (loader, and FPS / k-NN inside the step) should take."""
TARGET_ORDER = 1.2
"""Largest fitted order read as linear: time in N*G, memory in N (an N^2 buffer would show 2)."""
TARGET_SVM_S = 180.0
"""Full ModelNet40 linear-SVM protocol, seconds (on 2 cores)."""


def _fmt(value: Any, digits: int = 1, scale: float = 1.0, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, float)):
        return f"{value * scale:,.{digits}f}{suffix}"
    return str(value)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def _preset(encoder: str) -> str:
    return encoder.rsplit("-", 1)[-1]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue next to what this run measured: ``target``, ``measured``, ``met`` (None when
    this run cannot say: a reduced run, a failed part, a value below the measurement's resolution). On CPU the
    share of peak is judged per CPU time, which other processes sharing the cores do not change (on an idle
    machine it equals the wall-time share, which is shown beside it)."""
    found = []
    for row in results.get("training", []):
        if "error" in row:
            continue
        wanted = TARGET_PEAK_RATIO.get(_preset(row["encoder"]))
        cpu_ratio, wall_ratio = row.get("peak_ratio_cpu_time"), row.get("peak_ratio")
        ratio = cpu_ratio if cpu_ratio is not None else wall_ratio
        if wanted is not None and ratio is not None:
            measured = f"{wall_ratio:.1%}" if cpu_ratio is None else (
                f"{cpu_ratio:.1%} per CPU time ({wall_ratio:.1%} per wall time)")
            found.append({"target": f"{row['config']}: step at >= {wanted:.0%} of the {row['precision']} peak",
                          "measured": measured, "met": ratio >= wanted})
        pipeline = row["data_share"] + row["geometry_share"]
        found.append({"target": f"{row['config']}: data pipeline <= {TARGET_PIPELINE_SHARE:.0%} of the step",
                      "measured": f"{pipeline:.1%} (loader {row['data_share']:.1%}, FPS/k-NN "
                                  f"{row['geometry_share']:.1%})",
                      "met": pipeline <= TARGET_PIPELINE_SHARE})
    for op, orders in results.get("ops", {}).get("orders", {}).items():
        time_order, memory_order = orders["time_tail_order_ng"], orders["memory_tail_order_n"]
        found.append({"target": f"{op}: time O(N*G)", "measured": f"order {_fmt(time_order, 2)} in N*G (largest N)",
                      "met": None if time_order is None else time_order <= TARGET_ORDER})
        found.append({"target": f"{op}: memory never O(N^2)",
                      "measured": f"order {_fmt(memory_order, 2)} in N at G = N/{results['ops']['groups_ratio']} "
                      "(largest N)" if memory_order is not None else "below the measurement's resolution",
                      "met": None if memory_order is None else memory_order <= TARGET_ORDER})
    svm = (results.get("evaluation") or {}).get("svm") or {}
    if "seconds" in svm:
        full = not svm["reduced"]
        found.append({"target": f"ModelNet40 linear-SVM protocol < {TARGET_SVM_S / 60:.0f} min on 2 cores",
                      "measured": f"{svm['seconds']:.0f} s wall, {svm['cpu_s']:.0f} s CPU"
                                  + ("" if full else " (reduced run: not the protocol)"),
                      "met": svm["seconds"] < TARGET_SVM_S if full else None})
    return found


def _machine(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    bf16 = ", ".join(machine["cpu_bf16_flags"]) or "none (bf16 is emulated on this CPU)"
    vector = "AVX-512" if machine["cpu_avx512"] else ("AVX2" if machine["cpu_avx2"] else "no AVX2")
    lines = [
        "## Machine", "",
        "| | |", "|---|---|",
        f"| CPU | {machine['cpu']}, {machine['cpu_cores']} cores, {vector}; native bf16 flags: {bf16} |",
        f"| memory | {_fmt(machine['memory_gib'])} GiB |",
        f"| torch | {machine['torch']}, {machine['torch_threads']} thread(s) "
        f"(OMP_NUM_THREADS={machine['omp_num_threads'] or 'unset'}), Python {machine['python']} |",
        f"| device | {machine['device']}" + (f": {machine['gpu']} ({machine['gpu_memory_gib']} GiB, CUDA "
                                             f"{machine['cuda']})" if "gpu" in machine else "") + " |",
        f"| load average (1, 5, 15 min) | start {machine['load_average_start']}, end "
        f"{machine.get('load_average_end')} |",
        f"| bench run | {'--quick' if results['settings']['quick'] else 'full'}: {results['wall_s']:.0f} s wall, "
        f"{results['cpu_s']:.0f} s CPU (" + ", ".join(f"{name} {part['wall_s']:.0f} s / {part['cpu_s']:.0f} s"
                                                     for name, part in results["parts"].items()) + ") |",
        "",
        "The load average counts runnable processes: above the core count, other work shared the cores and every "
        "wall time here is inflated by it. CPU time is what the bench's own processes (children and worker pools "
        "included) used; on an idle machine with as many cores as threads the wall time approaches it.",
        "",
    ]
    return lines


def _peak(results: dict[str, Any]) -> list[str]:
    choice = results["auto_precision"]
    speedup = choice.get("cpu_bf16_speedup")
    why = f" (bf16 autocast ran at {speedup:.2f}x the speed of fp32 in its timing)" if speedup is not None else ""
    lines = ["## Matmul peak", "", "| precision | GFLOP/s |", "|---|---:|"]
    lines += [f"| {precision} | {value:,.1f} |" for precision, value in results["peak_gflops"].items()]
    lines += [
        "",
        f"`train.precision=auto` picks **{choice['auto']}** here{why}.",
        "",
        "Peak: the best time of a large square `linear` (1024 on CPU, 8192 on CUDA) in that precision's autocast, "
        "with the threads the runs use; on CPU a product's time is the process's CPU time per thread (waiting for "
        "cores held by others does not count), on CUDA its wall time with TF32 matmuls allowed for fp32, as the "
        "engine trains. Every \"% of peak\" below divides by the peak of the precision the run used.",
        "",
    ]
    return lines


def _training(results: dict[str, Any]) -> list[str]:
    rows = results.get("training", [])
    lines = ["## Training", ""]
    if not rows:
        return lines + ["Not measured.", ""]
    lines += [
        "| config | encoder | precision | batch | step ms | shapes/s | GFLOP/step | GFLOP/s | % of peak | "
        "% of peak per CPU time | data | FPS/k-NN | peak MiB | CPU use |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['config']} | failed: {row['error'].splitlines()[0]} |" + " |" * 12)
            continue
        rate = _fmt(row["shapes_per_s"], 2) + (" scenes" if row["unit"] == "scene" else "")
        if row.get("points_per_s"):
            rate += f" ({_fmt(row['points_per_s'], 0)} points/s)"
        lines.append(
            f"| {row['config']} | {row['encoder']} | {row['precision']} | {row['batch']} | {_fmt(row['step_ms'], 0)} "
            f"| {rate} | {_fmt(row['gflop_per_step'])} | {_fmt(row['achieved_gflops'])} "
            f"| {_fmt(row['peak_ratio'], 1, 100, '%')} | {_fmt(row.get('peak_ratio_cpu_time'), 1, 100, '%')} "
            f"| {_fmt(row['data_share'], 1, 100, '%')} "
            f"| {_fmt(row['geometry_share'], 1, 100, '%')} | {_fmt(row['peak_memory_mb'], 0)} "
            f"| {_fmt(row.get('cpu_utilisation'), 0, 100, '%')} |"
        )
    timed = results["settings"]["training"]
    kind = next((row["memory_kind"] for row in rows if "memory_kind" in row), "")
    lines += [
        "",
        f"Each preset runs in its own process: {timed['warmup']} untimed step(s), then {timed['steps']} timed "
        "optimiser steps of the real engine (forward, backward, clipping, optimiser, EMA, statistics) on the "
        "preset's data with serial data loading; batch = shapes (scenes for DOS) per step"
        + (f", capped at {timed['batch_cap']}" if timed["batch_cap"] else "") + ".",
        "",
        "- **step ms**: mean wall time of a timed step, data loading included.",
        "- **shapes/s**: batch / max(step less data, data): the rate when data-loader workers keep up (DOS: "
        "scenes/s, and the teacher views' input points/s).",
        "- **GFLOP/step**: matmul, convolution and attention FLOPs of one forward and backward of student and teacher "
        "(torch's FlopCounterMode on a timed batch; element-wise work, FPS, k-NN and the optimiser are not counted).",
        "- **GFLOP/s**, **% of peak**: those FLOPs over the step's compute time (step less data loading), and that "
        "over the matmul peak of the run's precision.",
        "- **% of peak per CPU time** (CPU only): the same with the compute's CPU time per thread instead of its wall "
        "time, so that time spent waiting for cores held by other processes does not count, like the peak's own "
        "timing; on an idle machine both shares agree.",
        "- **data**: share of the step spent drawing the batch from the loader (reading, crops, masks, views, "
        "collation), the work data-loader workers take off the training process; on the embedded synthetic data "
        "reading means generating the sample (a synthetic room takes a good part of DOS's data time).",
        "- **FPS/k-NN**: share of the step inside FPS, k-NN and radius matching, which run in the model on the device "
        "(patch grouping, DCGLR's crops, DOS's matching), timed by wrapping those functions.",
        f"- **peak MiB**: {kind} of the measuring process (on CPU: interpreter and torch included, about 350 MiB).",
        "- **CPU use**: CPU time of the process over the steps' wall time and threads; below 100% the process "
        "waited for cores that other work held, and the wall times above are inflated by that much.",
        "",
    ]
    return lines


def _ops(results: dict[str, Any]) -> list[str]:
    ops = results.get("ops") or {}
    lines = ["## FPS and k-NN as the cloud grows", ""]
    if "rows" not in ops:
        return lines + [f"Not measured: {ops.get('error', 'skipped')}.", ""]
    lines += ["| op | N | G | k | ms | peak MiB |", "|---|---:|---:|---:|---:|---:|"]
    for row in ops["rows"]:
        lines.append(f"| {row['op']} | {row['n']:,} | {row['g']:,} | {row['k']} | {_fmt(row['ms'], 1)} "
                     f"| {_fmt(row['peak_mb'], 1)} |")
    lines += ["", "| op | time order in N | time order in N*G | memory order in N | time order in N*G, largest N "
              "| memory order in N, largest N |", "|---|---:|---:|---:|---:|---:|"]
    for op, orders in ops["orders"].items():
        lines.append(f"| {op} | {_fmt(orders['time_order_n'], 2)} | {_fmt(orders['time_order_ng'], 2)} "
                     f"| {_fmt(orders['memory_order_n'], 2)} | {_fmt(orders['time_tail_order_ng'], 2)} "
                     f"| {_fmt(orders['memory_tail_order_n'], 2)} |")
    lines += [
        "",
        f"One cloud of N uniform points, G = N/{ops['groups_ratio']} centres (the object ViT's 64 patches of 1,024 "
        "points), k neighbours per centre, on "
        f"{ops['device']} with {ops['threads']} thread(s). **fps**: G farthest points; **knn**: the k nearest of "
        "the N points to each of the G centres. **ms**: best of the calls made. **peak MiB**: "
        f"{ops['memory_kind']} during the first call (input cloud excluded; on CPU the resident set is counted in "
        "pages and synchronised lazily, so growth under about 0.25 MiB reads 0). **Orders**: least-squares slopes "
        "of log time against log N and log N*G, and of log memory against log N over the sizes with measurable "
        "memory, and the same over the two largest sizes (largest N: past start-up costs; the targets are read "
        "there): an O(N*G) op has time order 1 in N*G (2 in N here, since G grows with N), and memory that never "
        "holds an N x G or N x N buffer has memory order at most 1 in N. k-NN computes its distances in chunks of "
        "at most 2^24, so its memory grows with N*G until N*G = 2^24 (N = 16,384 here) and stays flat after.",
        "",
    ]
    return lines


def _evaluation(results: dict[str, Any]) -> list[str]:
    evaluation = results.get("evaluation") or {}
    lines = ["## Evaluation protocols", ""]
    if "error" in evaluation:
        return lines + [f"Not measured: {evaluation['error']}.", ""]
    features = evaluation.get("features") or []
    if features:
        lines += ["| encoder (random init) | data | shapes | features/s | features per CPU-s |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {row['config']} | {row['data']} | {row['shapes']} | {_fmt(row['features_per_s'], 1)} "
                  f"| {_fmt(row['features_per_cpu_s'], 1)} |" for row in features]
        lines += ["", "**features/s**: shapes per second (wall time) through the frozen-feature extraction every such "
                  "protocol runs (read, FPS-resample to the encoder's points, normalise, encode without gradients, "
                  "pool CLS/max/mean), batches of 32, after one untimed batch; **per CPU-s**: the same per second of "
                  "the process's CPU time over its threads.", ""]
    svm = evaluation.get("svm") or {}
    if "skipped" in svm:
        lines += [f"Linear-SVM protocol: skipped ({svm['skipped']}).", ""]
    elif "seconds" in svm:
        scope = (f"**reduced**: every {svm['every']}th shape of each class (at least 5 of each), a smoke reading "
                 "and not the protocol's cost" if svm["reduced"] else "the full protocol")
        lines += [
            "| linear-SVM protocol | train + test shapes | wall s | CPU s | of which classifier (est., wall s) "
            "| test accuracy |",
            "|---|---:|---:|---:|---:|---:|",
            f"| {svm['data']} ({svm['checkpoint']}"
            + (f" {svm['config']}" if svm.get("config") else "") + f") | {svm['n_train']:,} + {svm['n_test']:,} "
            f"| {_fmt(svm['seconds'])} | {_fmt(svm['cpu_s'])} | {_fmt(svm['classifier_s'])} "
            f"| {_fmt(svm['test_accuracy'], 2)}% |",
            "",
            f"Scope: {scope}. **wall s**: wall time of `evaluate svm` through its public entry point with its default "
            "options (features of train and test, cross-validated C grid on train, refit, test score); **CPU s**: "
            "CPU time of this process and its worker pool meanwhile. **classifier (est.)**: the wall time less the "
            "extraction time predicted from features/s above (the C grid and the refit).",
            "",
        ]
    return lines


def _targets(found: list[dict[str, Any]]) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {_verdict(t['met'])} |" for t in found]
    return lines + ["", "Read off the measurements above; `n/a` where this run cannot say.", ""]


def render_markdown(results: dict[str, Any]) -> str:
    """``bench.md``: the machine, then every table with the meaning of its numbers, then the targets."""
    quick = results["settings"]["quick"]
    header = [
        "# pointdistill bench", "",
        f"`pointdistill bench{' --quick' if quick else ''}`, {time.strftime('%Y-%m-%d %H:%M', time.localtime())}. "
        + ("Quick run: every part is reduced (tiny presets at small batches, fewer sizes, a reduced SVM protocol); "
           "the numbers are indicative. " if quick else "")
        + "Timings are measurements on this machine under its load at the time; nothing here is asserted.", "",
    ]
    body = _machine(results) + _peak(results) + _training(results) + _ops(results) + _evaluation(results)
    return "\n".join(header + body + _targets(results.get("targets") or targets(results)))


def write_report(results: dict[str, Any], out: Path) -> list[Path]:
    """Write ``bench.json`` and ``bench.md`` into ``out`` (each atomically); return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    results["targets"] = targets(results)
    paths = []
    for name, text in (("bench.json", json.dumps(results, indent=2) + "\n"), ("bench.md", render_markdown(results))):
        path = out / name
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(text)
        os.replace(partial, path)
        paths.append(path)
    return paths
