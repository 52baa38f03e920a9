"""The benchmarks still run end to end (tiny counts): figures not judged here, invariants are."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.support import run_benchmark_smoke

pytestmark = pytest.mark.integration


def test_engine_benchmark_smoke(tmp_path: Path) -> None:
    doc = run_benchmark_smoke("engine", tmp_path, "engine-smoke.json")
    assert doc["skusync"]["hot_sku"]["decisions"] > 0
    assert doc["restart"]["skus"] == doc["memory"]["skus"]
    assert set(doc["ratios"]) >= {"hot_vs_lua_pipelined", "hot_vs_lua_single"}


def test_redis_call_benchmark_smoke(tmp_path: Path) -> None:
    doc = run_benchmark_smoke("redis_call", tmp_path, "redis_call-smoke.json")
    assert set(doc["results"]) == {"redis_py_client", "redis_py_connection", "script_connection"}
    assert all(r["calls"] == 200 and r["cpu_us_per_call"] > 0 for r in doc["results"].values())


def test_failover_benchmark_smoke_kills_a_shard_and_loses_no_webhook(tmp_path: Path) -> None:
    doc = run_benchmark_smoke("failover", tmp_path, "failover-smoke.json")
    [kill] = doc["kills"]
    sent = int(doc["settings"]["rate"] * doc["settings"]["seconds"])
    assert 0 < kill["kill_at_s"] < doc["settings"]["seconds"]
    # every webhook sent while the shard died and came back was answered 200, each taken once
    assert kill["statuses"] == {"200": sent}, kill["statuses"]
    assert doc["checks"]["units_taken"] == doc["checks"]["answers_200"], doc["checks"]
    assert sum(b["sent"] for b in kill["timeline"]) == sent
