"""The engine benchmark still runs end to end (tiny counts); its figures are not judged here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration


def test_engine_benchmark_smoke(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.engine", "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = orjson.loads((tmp_path / "engine-smoke.json").read_bytes())
    assert doc["skusync"]["hot_sku"]["decisions"] > 0
    assert doc["restart"]["skus"] == doc["memory"]["skus"]
    assert set(doc["ratios"]) >= {"hot_vs_lua_pipelined", "hot_vs_lua_single"}
