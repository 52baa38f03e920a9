"""SKUs that keep coming back stale from an all-or-nothing compare-and-set channel travel apart,
a few per request, within a share of the requests; the others go in full batches."""

from __future__ import annotations

import random
from typing import Any

from engine.backoff import Backoff
from engine.buffer_rules import BufferRules
from engine.channel_records import Reply, Send
from engine.channel_sync import ChannelSync
from engine.stale_risk import StaleRisk
from tests.unit.clock import FakeClock

SKUS = [f"S{i}" for i in range(20)]


def change(available: int, version: int) -> dict[str, Any]:
    return {"available": available, "version": version, "source": None, "since": version - 1, "sold": None}


def channel(**risk: Any) -> tuple[ChannelSync, FakeClock]:
    clock = FakeClock()
    backoff = Backoff(1.0, 8.0, 3, rng=random.Random(3))
    risk.setdefault("atomic", True)
    sync = ChannelSync("shop", BufferRules(), backoff, clock, risk=StaleRisk(risky_batch=2, **risk))
    sync.set_catalog({s: {"id": s} for s in SKUS})
    return sync, clock


def push(sync: ChannelSync, reply: Reply | None = None) -> list[Send]:
    sends = sync.select(50)
    sync.begin(sends)
    sync.record(sends, reply or Reply(ok=[s.sku for s in sends]))
    return sends


def test_decayed_stale_counts_make_a_sku_risky_and_forget_it() -> None:
    risk, now = StaleRisk(half_life_s=10.0, threshold=1.5, atomic=True), 100.0
    risk.stale("A", now)
    assert not risk.risky("A", now)  # one miss: a quiet SKU sold at the wrong moment
    risk.stale("A", now + 1)
    assert risk.risky("A", now + 1)
    assert not risk.risky("A", now + 12)  # 1.93 halved over 11 s
    assert risk.score("A", now + 100) < 0.05 and "A" not in risk.scores  # forgotten


def test_a_sku_stale_twice_goes_apart_and_the_others_in_one_batch() -> None:
    sync, _ = channel()
    sync.offer({s: change(10, 1) for s in SKUS})
    push(sync)
    for version in (2, 3):  # A keeps selling on the channel: two misses in a row
        sync.offer({"S0": change(10 - version, version)})
        sends = sync.select(50)
        sync.begin(sends)
        sync.record(sends, Reply(stale={"S0": 9}))
    sync.offer({s: change(5, 2) for s in SKUS[1:]} | {"S0": change(4, 4)})
    first = sync.select(50)
    assert [s.sku for s in first] == ["S0"]  # oldest due and risky: its own small request
    sync.begin(first)
    assert [s.sku for s in sync.select(50)] == SKUS[1:]  # everyone else together


def test_risky_requests_keep_to_their_share_while_others_wait() -> None:
    sync, clock = channel(share=0.34)
    sync.offer({s: change(10, 1) for s in SKUS})
    push(sync)
    risky = SKUS[:6]
    for sku in risky:
        sync.risk.stale(sku, clock())
        sync.risk.stale(sku, clock())
    lanes = []
    for version in range(2, 8):
        sync.offer({s: change(10 - version, version) for s in SKUS})  # every SKU keeps changing
        sends = push(sync)
        lanes.append(all(s.sku in risky for s in sends))
    assert sum(lanes) <= 0.34 * len(lanes) + 1 and not all(lanes) and any(lanes)


def test_risky_skus_go_when_nothing_else_waits() -> None:
    sync, clock = channel(share=0.0)
    sync.offer({"S0": change(10, 1)})
    push(sync)
    sync.risk.stale("S0", clock())
    sync.risk.stale("S0", clock())
    sync.offer({"S0": change(9, 2)})
    assert [s.sku for s in sync.select(50)] == ["S0"]  # no share, yet never starved when alone


def test_where_writes_are_per_item_nobody_is_set_apart() -> None:
    sync, clock = channel(atomic=False)
    sync.offer({s: change(10, 1) for s in SKUS})
    push(sync)
    for _ in range(3):
        sync.risk.stale("S0", clock())
    sync.offer({s: change(9, 2) for s in SKUS})
    assert len(sync.select(50)) == len(SKUS)
    sends = sync.select(50)
    sync.begin(sends)
    sync.record(sends, Reply(stale={"S0": 9}, requeue=SKUS[1:]))  # a whole request refused
    assert sync.risk.atomic
