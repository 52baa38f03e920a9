"""The gateway benchmark still runs end to end (tiny counts, every target); its figures are not judged."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks import gateway

pytestmark = pytest.mark.integration


def test_gateway_benchmark_smoke(ray_cluster: None, tmp_path: Path) -> None:
    path = gateway.main(["--smoke", "--out", str(tmp_path)])
    doc = orjson.loads(path.read_bytes())
    assert path.name == "gateway-smoke.json"
    assert set(doc["results"]) == {"bare", "gateway_stub_shards", "gateway_process", "gateway_actor"}
    for target in doc["results"].values():
        assert target["rates"][0]["ok"] == target["rates"][0]["answered"] > 0
        assert target["capacity"]["ok"] > 0
    assert doc["results"]["gateway_process"]["serve_exit_status"] == 0
    assert doc["checks"]["conserved"], doc["checks"]
    assert {"gateway_process_vs_bare_capacity", "actor_vs_process_capacity"} <= set(doc["ratios"])
    # CPU is counted per role from /proc: the shards and Redis only behind the real-shard targets
    proc_cpu = doc["results"]["gateway_process"]["rates"][0]["cpu"]
    assert {"gateway", "shards", "redis", "loadgen", "total"} <= set(proc_cpu), proc_cpu
    assert proc_cpu["gateway"]["us_per_request"] > 0 and proc_cpu["shards"]["us_per_request"] > 0
    assert set(doc["results"]["bare"]["capacity"]["cpu"]) == {"gateway", "loadgen", "total"}
