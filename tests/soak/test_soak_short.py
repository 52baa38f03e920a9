"""The short soak profile in CI: every fault kind injected, every invariant holding afterwards.

The soak runs in a child process (``python -m tests.soak.run --profile short``): it starts a
two-node Ray cluster of its own, which cannot live in this process beside the session's Ray.
What is asserted is outcomes only: the planned faults were injected and each part came back, and
the invariants hold. Timings and memory are in the report, never asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.soak.run import PROFILES

pytestmark = pytest.mark.fault
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(400)
def test_short_soak_survives_every_fault_kind(tmp_path: Path) -> None:
    out = tmp_path / "soak-short.json"
    done = subprocess.run(
        [sys.executable, "-m", "tests.soak.run", "--profile", "short", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        timeout=360,
    )
    if not out.exists():
        tail = done.stderr.decode(errors="replace")[-4000:]
        pytest.fail(f"the soak wrote no report (exit status {done.returncode}):\n{tail}")
    report = orjson.loads(out.read_bytes())
    placed = report["placement_at_start"]
    assert (placed["shard-0"], placed["shard-1"]) == ("head", "worker"), placed
    planned = Counter(PROFILES["short"].plan)
    for kind, counts in report["faults"].items():
        assert counts == {"injected": planned[kind], "survived": planned[kind]}, (
            kind,
            report["fault_events"],
        )
    failed = {name: r for name, r in report["invariants"].items() if not r["ok"]}
    assert not failed, failed
    # Faults must have cost deliveries that the marketplaces' retries then repaired, or the
    # "answered 200" invariant checked an easy run.
    assert report["redelivered"] and report["redelivered"][0] > 0
    assert report["invariants"]["every_sale_answered_200"]["sales"] > 0
    assert done.returncode == 0
