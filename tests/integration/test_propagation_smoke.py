"""The propagation benchmark still runs end to end (tiny counts); its figures are not judged here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration


def test_propagation_benchmark_smoke(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.propagation", "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = orjson.loads((tmp_path / "propagation-smoke.json").read_bytes())
    assert set(doc["channels"]) == {"shop-1", "woo-1"}
    for channel in doc["channels"].values():
        assert channel["samples"] > 0 and channel["lag_p99_s"] is not None
        assert channel["requests"] > 0 and channel["sku_updates_acked"] > 0
    assert doc["orders"]["sold_and_decided"] > 0 and doc["master"]["conserved"]
    assert doc["machine"]["cpus"] and doc["load_average"]["during"]
