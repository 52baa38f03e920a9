"""The recorded long soak (``benchmarks/results/soak-long.json``) must show every invariant holding.

It did not: every invariant but convergence held over 59 faults, and the Shopify channel ended idle,
synced at master's newest version, listing a few SKUs below what master allows (one to four units
each). The channel's own view gives the cause away: a ``buffer`` of 1..4 on a channel configured
with none, i.e. units it folded after a compare-and-set re-read as sales master had not heard of
(``engine.channel_sync``, ``Synced.folded``) and that were never paid off once master did hear
them (every webhook was answered 200 by then). ``soak-long-10min-diagnosis.json`` has the per-SKU
detail from a 10-minute run (13 SKUs, 2..4 units): the diverged SKUs' last shop-1 sales reached
master only through the marketplace's retry after the sale (their first webhook failed in a
gateway kill), long after a re-read had folded them. The same 7-minute sale without faults
(``--no-faults``, same seed) converged. Strict, so a fixed run re-recorded passes here and the
marker must go.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


@pytest.mark.xfail(
    strict=True,
    reason="bug: Shopify channel keeps compare-and-set folded units after master hears the sales "
    "(under-lists 1-4 units per SKU after a long soak; see module docstring)",
)
def test_recorded_long_soak_holds_every_invariant() -> None:
    report = orjson.loads((RESULTS / "soak-long.json").read_bytes())
    assert report["profile"]["name"] == "long" and report["sale_s"] >= 1800
    failed = {name: r["faults"] for name, r in report["invariants"].items() if not r["ok"]}
    assert not failed, failed
