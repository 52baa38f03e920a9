"""One shard's decision loop without Ray: load, then decode -> decide -> persist -> answer per batch.

The Ray actor in ``actors.shard`` is a thin shell around this class, so everything here is tested
against a real Redis without a cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

from engine.decisions import WireDecision
from engine.events import WireEvent
from engine.ledger import Clock, Ledger
from engine.routing import ShardMap
from engine.store import Keys, ShardStore


@dataclass
class BatchResult:
    """Decisions in event order, plus SKUs whose available quantity changed (for the channels)."""

    decisions: list[WireDecision]
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)


class ShardCore:
    """Master stock for the vshards of physical shard ``shard``; not thread-safe by design (one caller)."""

    def __init__(
        self,
        shard: int,
        shard_map: ShardMap,
        client: redis.Redis,
        keys: Keys,
        idem_ttl_s: int = 72 * 3600,
        audit_maxlen: int = 100_000,
        clock: Clock = time.time,
    ) -> None:
        self.shard = shard
        self.shard_map = shard_map
        self.clock = clock
        self.ledger = Ledger(shard_map, clock)
        self.store = ShardStore(
            client,
            keys,
            shard,
            shard_map.owned(shard),
            idem_ttl_s=idem_ttl_s,
            park_ttl_s=idem_ttl_s,
            audit_maxlen=audit_maxlen,
        )
        self.loaded_in_s = 0.0

    def start(self) -> ShardCore:
        """Fence older activations, then load every owned SKU (so nothing older writes after the load)."""
        t0 = time.perf_counter()
        self.store.check_layout(self.shard_map.vshards)
        self.store.claim()
        self.ledger.records = self.store.load()
        self.loaded_in_s = time.perf_counter() - t0
        return self

    def apply_batch(self, events: list[WireEvent]) -> BatchResult:
        """Decide a batch and make it durable before returning.

        Two round trips at most: one to fetch records the caches lack (none once warm, except
        for new keys), one to commit. If the commit raises, memory is unchanged and the whole batch
        may be retried as is: committed parts are then answered from their idempotency records.
        """
        if not events:
            return BatchResult([])
        parts = self.ledger.split(events)
        idem, orders = self.ledger.missing(parts)
        if idem or orders:
            self.ledger.absorb(*self.store.fetch(idem, orders))
        plan = self.ledger.decide(events, parts)
        if plan.writes:
            self.store.commit(plan.writes, self.clock())
        self.ledger.apply(plan)
        return BatchResult(plan.decisions, plan.changed)

    def get(self, sku: str) -> dict[str, Any] | None:
        """The committed record of one SKU, or ``None`` if this shard has never seen it."""
        rec = self.ledger.records.get(sku)
        if rec is None:
            return None
        return {
            "sku": sku,
            "available": rec.available,
            "on_hand": rec.on_hand,
            "reserved": rec.reserved,
            "version": rec.version,
        }

    def stats(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "skus": len(self.ledger.records),
            "epoch": self.store.token,
            "loaded_in_s": self.loaded_in_s,
            "idem_cached": len(self.ledger.idem),
        }
