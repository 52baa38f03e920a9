"""The propagation benchmark still runs end to end (tiny counts); its figures are not judged here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.support import run_benchmark_smoke

pytestmark = pytest.mark.integration


def test_propagation_benchmark_smoke(tmp_path: Path) -> None:
    doc = run_benchmark_smoke("propagation", tmp_path, "propagation-smoke.json")
    assert set(doc["channels"]) == {"shop-1", "woo-1"}
    for channel in doc["channels"].values():
        assert channel["samples"] > 0 and channel["lag_p99_s"] is not None
        assert channel["requests"] > 0 and channel["sku_updates_acked"] > 0
    assert doc["orders"]["sold_and_decided"] > 0 and doc["master"]["conserved"]
    assert doc["machine"]["cpus"] and doc["load_average"]["during"]
