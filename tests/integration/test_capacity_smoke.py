"""``benchmarks/capacity.py --smoke`` (its ``--quick`` mode) runs end to end and writes every section.

Needs what the benchmark needs: ``redis-server`` on the PATH (it starts private ones) and PostgreSQL
on 127.0.0.1:5432 (it creates and drops a database). Figures are not judged here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.support import run_benchmark_smoke

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SCENARIOS = {"single_line_hot", "single_line_uniform", "three_line_hot", "three_line_uniform",
             "single_line_hot_steady", "single_line_uniform_steady"}  # fmt: skip


def test_capacity_benchmark_smoke(tmp_path: Path) -> None:
    doc = run_benchmark_smoke("capacity", tmp_path, "capacity-quick.json")
    assert doc["quick"] is True
    assert {"date", "machine", "load_average_before", "load_average_after", "notes"} <= set(doc)
    assert set(doc["scenarios"]) == SCENARIOS
    for s in doc["scenarios"].values():
        assert {"decisions", "redis", "postgres", "archiver_alone", "trim_after_window"} <= set(s)
        costs = {"idempotency_and_order_records", "audit", "markers_and_stock"}
        assert costs == set(s["redis"]["window_cost_per_order"])
        assert {"idempotency", "order", "marker", "audit", "stock"} <= set(s["redis"]["by_kind_full"])
        assert "order" not in s["redis"]["by_kind_after_windows"]  # order records expire too
        assert "audit_entries" in s["postgres"]["bytes"]
    assert {"open_loop", "closed_loop_max", "after_hot_path_stopped"} <= set(doc["concurrent"])
    assert set(doc["ratios_archiver_vs_commit_path"]) >= SCENARIOS
    assert set(doc["projections"]) == {"single_line", "three_line"}
    assert [p["orders_per_s"] for p in doc["projections"]["single_line"]] == [100, 1_000]
