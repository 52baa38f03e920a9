"""ChannelSync's correction lane: behind live targets, superseded by newer versions, never stale."""

from __future__ import annotations

import random

from engine.backoff import Backoff
from engine.buffer_rules import BufferRules
from engine.channel_records import Reply, Target
from engine.channel_sync import ChannelSync
from tests.unit.clock import FakeClock


def make() -> tuple[ChannelSync, FakeClock]:
    clock = FakeClock()
    sync = ChannelSync("shop", BufferRules(), Backoff(1.0, 8.0, 3, rng=random.Random(1)), clock)
    sync.set_catalog({sku: {"id": sku} for sku in "ABC"})
    return sync, clock


def synced_at(sync: ChannelSync, sku: str, available: int, version: int) -> None:
    sync.offer({sku: {"available": available, "version": version, "source": None}})
    sends = sync.select(10)
    sync.begin(sends)
    sync.record(sends, Reply(ok=[s.sku for s in sends]))


def test_correction_waits_behind_live_and_is_acked() -> None:
    sync, clock = make()
    synced_at(sync, "A", 5, 3)
    clock.advance(10)
    assert sync.correct({"A": Target(5, 3)}, observed_at=clock()) == {"A": "queued"}
    sync.offer({"B": {"available": 2, "version": 1, "source": None}})
    assert [s.sku for s in sync.select(10)] == ["B"]  # live first
    live = sync.select(10)
    sync.begin(live)
    assert sync.select(10) == []
    fixes = sync.select_corrections(10)
    assert [(s.sku, s.quantity) for s in fixes] == [("A", 5)]
    sync.begin(fixes)
    sync.record(fixes, Reply(ok=["A"]))
    assert sync.stats()["corrections_acked"] == 1
    assert not sync.corrections


def test_newer_live_change_supersedes_a_queued_correction() -> None:
    sync, clock = make()
    synced_at(sync, "A", 5, 3)
    clock.advance(1)
    sync.correct({"A": Target(5, 3)}, observed_at=clock())
    # the next change would settle without a push if the channel listed what we think: it does not
    sync.offer({"A": {"available": 4, "version": 4, "source": None}})
    assert sync.select_corrections(10) == []
    assert [(s.sku, s.target.version) for s in sync.select(10)] == [("A", 4)]
    assert sync.stats()["corrections_superseded"] == 1


def test_outcomes_stale_live_fresh_unknown() -> None:
    sync, clock = make()
    synced_at(sync, "A", 5, 3)
    observed = clock() - 1  # the listing was read before our last push of version 3
    sync.offer({"B": {"available": 1, "version": 2, "source": None}})
    out = sync.correct(
        {"A": Target(5, 3), "B": Target(1, 2), "C": Target(0, 0), "Z": Target(1, 1)}, observed_at=observed
    )
    assert out == {"A": "fresh", "B": "live", "C": "queued", "Z": "unknown"}
    assert sync.correct({"A": Target(9, 2)}, observed_at=clock() + 1) == {"A": "stale"}


def test_failed_correction_retries_on_its_lane() -> None:
    sync, clock = make()
    synced_at(sync, "A", 5, 3)
    clock.advance(1)
    sync.correct({"A": Target(5, 3)}, observed_at=clock())
    fixes = sync.select_corrections(10)
    sync.begin(fixes)
    sync.record(fixes, Reply(error="HTTP 500"))
    assert "A" in sync.corrections and "A" not in sync.pending
    assert not sync.idle
    clock.advance(60)
    assert [s.sku for s in sync.select_corrections(10)] == ["A"]
