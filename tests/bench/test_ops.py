"""The FPS / k-NN sweep: fitted growth orders and the rows it reports."""

from __future__ import annotations

import pytest

from pointdistill.bench.ops import OpsSettings, growth_order, measure_ops


def test_growth_order_is_the_log_log_slope() -> None:
    sizes = [1024.0, 4096.0, 16384.0]
    assert growth_order(sizes, [3 * n**2 for n in sizes]) == pytest.approx(2.0)
    assert growth_order(sizes, [7 * n for n in sizes]) == pytest.approx(1.0)


def test_growth_order_skips_unmeasured_values() -> None:
    assert growth_order([1.0, 2.0, 4.0], [None, 0.0, 5.0]) is None
    assert growth_order([1.0, 2.0, 4.0], [None, 2.0, 4.0]) == pytest.approx(1.0)


def test_sweep_reports_every_op_and_size_with_g_proportional_to_n() -> None:
    result = measure_ops(OpsSettings(sizes=(512, 128), groups_ratio=8, k=4, repeats=1, device="cpu"))
    assert [(r["op"], r["n"], r["g"], r["k"]) for r in result["rows"]] == [
        ("fps", 128, 16, 4), ("knn", 128, 16, 4), ("fps", 512, 64, 4), ("knn", 512, 64, 4)]
    assert all(r["ms"] > 0 for r in result["rows"])
    assert set(result["orders"]) == {"fps", "knn"}
