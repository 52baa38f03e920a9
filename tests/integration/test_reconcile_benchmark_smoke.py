"""``benchmarks/reconcile.py --smoke`` runs end to end in a subprocess and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]


def test_reconcile_benchmark_smoke(tmp_path: Path, redis_client: object) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.reconcile", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((tmp_path / "reconcile.json").read_text())
    assert [p["drop_rate"] for p in result["phases"]] == [0.01, 0.03, 0.10]
    for phase in result["phases"]:
        assert phase["recall"] == 1.0 and phase["false_corrections"] == 0 and phase["relisted_pushes"] == 0
