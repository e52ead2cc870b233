"""Targets are read off the measurements: met, not met, or n/a where the run cannot say."""

from __future__ import annotations

from pointdistill.bench.report import render_markdown, targets


def row(config: str, encoder: str, ratio: float, data: float, geometry: float, cpu_ratio: float | None = None
        ) -> dict:
    return {"config": config, "method": "dcglr", "encoder": encoder, "precision": "fp32", "peak_ratio": ratio,
            "peak_ratio_cpu_time": cpu_ratio, "data_share": data, "geometry_share": geometry}


def verdicts(results: dict) -> dict[str, bool | None]:
    return {t["target"]: t["met"] for t in targets(results)}


def test_peak_targets_depend_on_the_preset_and_the_pipeline_counts_geometry() -> None:
    results = {"training": [row("a-tiny", "vit-tiny", 0.41, 0.02, 0.03), row("b-s", "vit-s", 0.45, 0.05, 0.06),
                            row("c-s", "vit-s", 0.3, 0.0, 0.0, cpu_ratio=0.6), {"config": "broken", "error": "boom"}]}
    found = verdicts(results)
    assert found["a-tiny: step at >= 40% of the fp32 peak"] is True
    assert found["b-s: step at >= 50% of the fp32 peak"] is False
    assert found["c-s: step at >= 50% of the fp32 peak"] is True  # judged per CPU time where there is one
    assert found["a-tiny: data pipeline <= 10% of the step"] is True
    assert found["b-s: data pipeline <= 10% of the step"] is False  # 5% loader + 6% FPS/k-NN
    assert not any("broken" in target for target in found)


def test_orders_and_the_svm_protocol() -> None:
    knn = {"time_order_n": 2.1, "time_order_ng": 1.05, "memory_order_n": 1.1, "time_tail_order_ng": 1.0,
           "memory_tail_order_n": 2.0}
    fps = {"time_order_n": 1.9, "time_order_ng": 0.6, "memory_order_n": None, "time_tail_order_ng": 1.5,
           "memory_tail_order_n": None}
    ops = {"groups_ratio": 16, "orders": {"knn": knn, "fps": fps}}
    found = verdicts({"ops": ops, "evaluation": {"svm": {"seconds": 100.0, "cpu_s": 150.0, "reduced": True}}})
    assert found["knn: time O(N*G)"] is True
    assert found["knn: memory never O(N^2)"] is False  # read at the largest N
    assert found["fps: time O(N*G)"] is False and found["fps: memory never O(N^2)"] is None
    assert found["ModelNet40 linear-SVM protocol < 3 min on 2 cores"] is None  # a reduced run says nothing
    full = verdicts({"evaluation": {"svm": {"seconds": 170.0, "cpu_s": 300.0, "reduced": False}}})
    assert full["ModelNet40 linear-SVM protocol < 3 min on 2 cores"] is True


def test_markdown_of_a_run_whose_parts_failed() -> None:
    results = {
        "machine": {"cpu": "x", "cpu_cores": 2, "cpu_bf16_flags": [], "cpu_avx512": False, "cpu_avx2": True,
                    "memory_gib": 8.0, "torch": "2", "torch_threads": 1, "omp_num_threads": "1", "python": "3",
                    "device": "cpu", "load_average_start": [1.0, 1.0, 1.0], "load_average_end": [1.0, 1.0, 1.0]},
        "settings": {"quick": True, "training": {"warmup": 1, "steps": 1, "batch_cap": 4}},
        "wall_s": 1.0, "cpu_s": 1.0, "parts": {}, "peak_gflops": {"fp32": 10.0, "bf16": 1.0},
        "auto_precision": {"auto": "fp32"},
        "training": [{"config": "broken", "error": "boom\ntraceback"}], "ops": {"error": "died"},
        "evaluation": {"features": [], "svm": {"skipped": "no data"}},
    }
    markdown = render_markdown(results)
    assert "| broken | failed: boom |" in markdown and "Not measured: died." in markdown
    assert "skipped (no data)" in markdown
    results["evaluation"] = {"error": "x.npz: no such file"}
    assert "Not measured: x.npz: no such file." in render_markdown(results)
