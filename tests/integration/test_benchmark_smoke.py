"""The engine benchmark still runs end to end (tiny counts); its figures are not judged here."""

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
