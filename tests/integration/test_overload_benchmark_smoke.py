"""The overload benchmark still runs end to end (tiny counts); its figures are not judged, except
that with a shard stopped a small backlog bound refuses with 503 + Retry-After and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks import overload

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_overload_benchmark_smoke(ray_cluster: None, tmp_path: Path) -> None:
    # a bound of 2 events per shard is reached within the stall step's 0.9 s with a shard stopped (0.3 s
    # was not always enough on a loaded machine: once, no request reached the stopped shard in time)
    path = overload.main(["--smoke", "--out", str(tmp_path), "--max-pending-events", "2"])
    doc = orjson.loads(path.read_bytes())
    assert path.name == "overload-smoke.json"
    assert doc["results"]["capacity"]["ok"] > 0
    assert [s["multiple"] for s in doc["results"]["steps"]] == [1.0, 2.0]
    for step in doc["results"]["steps"]:
        assert step["accepted"] > 0 and step["sent"] == sum(step["statuses"].values())
        assert set(step["statuses"]) <= {"200", "503"}, step["statuses"]
        assert step["refused_503_with_retry_after"] == step["refused_503"]
        assert step["gateway_rss_mib_max"] > 0
        assert all(0 <= p <= 64 for p in step["shard_pending_plans_peak_per_shard"])
    stall = doc["results"]["stall"]
    assert stall["refused_503"] > 0 and stall["accepted"] > 0, stall["statuses"]
    assert stall["refused_503_with_retry_after"] == stall["refused_503"]
    assert doc["results"]["serve_exit_status"] == 0
    assert doc["checks"]["conserved"], doc["checks"]
