"""The shard ledger: decides events against master stock, exactly once, never below zero.

Pure logic: no Ray, no Redis, no awaits. A batch goes through four steps, each its own method:

1. ``split``: cut every event into parts, one per virtual shard it touches (a vshard is the unit of
   atomic storage, so each part is decided and committed on its own);
2. ``missing``: name the idempotency and order records the caches lack; the caller fetches them
   from the store and hands them to ``absorb`` (``None`` for "not stored");
3. ``decide``: compute decisions and the writes that make them durable, on a staged overlay that
   leaves the committed state untouched;
4. ``apply``: once the writes are durable, fold the overlay into the committed state.

A failed commit simply drops the plan, so memory never runs ahead of storage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.decisions import WireDecision, merge_parts
from engine.events import WireEvent
from engine.idempotency import BoundedCache, fingerprint
from engine.partition import partition
from engine.records import SkuRecord
from engine.routing import ShardMap

IdemKey = tuple[int, str]
OrderKey = tuple[int, str, str]
Clock = Callable[[], float]


@dataclass(slots=True)
class Part:
    """An event's share in one virtual shard."""

    index: int
    vshard: int
    event: WireEvent


@dataclass
class VShardWrites:
    """Everything one virtual shard must persist for a batch, committed atomically."""

    stock: dict[str, str] = field(default_factory=dict)
    idem: list[tuple[str, str]] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)
    orders: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)
    """(channel, order_id) -> (encoded record, expires): parked cancels expire, orders do not."""


@dataclass
class Plan:
    """Staged result of a batch: decisions to answer with and writes to make durable first."""

    decisions: list[WireDecision]
    writes: dict[int, VShardWrites]
    records: dict[str, SkuRecord]
    idem: dict[IdemKey, tuple[str, WireDecision]]
    orders: dict[OrderKey, dict[str, Any]]
    changed: dict[str, dict[str, Any]]
    """SKU -> {available, version, source}: quantities the channels must learn about."""
    dirty: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    """SKU -> (vshard, channel of the last change) for SKUs this batch changed."""


class Ledger:
    """Master stock for the SKUs of the virtual shards one shard actor owns."""

    def __init__(
        self,
        shard_map: ShardMap,
        clock: Clock,
        idem_cache: int = 500_000,
        order_cache: int = 200_000,
    ) -> None:
        self.shard_map = shard_map
        self.clock = clock
        self.records: dict[str, SkuRecord] = {}
        self.idem: BoundedCache[tuple[str, WireDecision] | None] = BoundedCache(idem_cache)
        self.orders: BoundedCache[dict[str, Any] | None] = BoundedCache(order_cache)

    # -- 1. split ---------------------------------------------------------------------------
    def split(self, events: list[WireEvent]) -> list[Part]:
        """One part per (event, virtual shard); single-SKU events stay whole."""
        return [Part(i, vs, ev) for i, vs, ev in partition(events, self.shard_map.vshard)]

    # -- 2. missing / absorb ----------------------------------------------------------------
    def missing(self, parts: Iterable[Part]) -> tuple[list[IdemKey], list[OrderKey]]:
        """Records the caches do not hold and ``decide`` will need."""
        idem: dict[IdemKey, None] = {}
        orders: dict[OrderKey, None] = {}
        for p in parts:
            ik = (p.vshard, p.event["key"])
            if ik not in self.idem:
                idem[ik] = None
            if p.event["kind"] in ("order_placed", "order_cancelled"):
                ok = (p.vshard, p.event["channel"], p.event["order_id"])
                if ok not in self.orders:
                    orders[ok] = None
        return list(idem), list(orders)

    def absorb(
        self,
        idem: dict[IdemKey, tuple[str, WireDecision] | None],
        orders: dict[OrderKey, dict[str, Any] | None],
    ) -> None:
        """Cache fetched records; ``None`` means the store has none."""
        for k, v in idem.items():
            self.idem[k] = v
        for ok, ov in orders.items():
            self.orders[ok] = ov

    # -- 3. decide --------------------------------------------------------------------------
    def decide(self, events: list[WireEvent], parts: list[Part]) -> Plan:
        """Decide every part in order against the committed state plus this batch's overlay."""
        plan = Plan([], defaultdict(VShardWrites), {}, {}, {}, {})
        by_event: list[list[WireDecision]] = [[] for _ in events]
        now = self.clock()
        for p in parts:
            by_event[p.index].append(_Decider(self, plan, p, now).run())
        plan.decisions = [merge_parts(ev, ds) for ev, ds in zip(events, by_event, strict=True)]
        for sku, (vs, source) in plan.dirty.items():
            rec = plan.records[sku]
            plan.writes[vs].stock[sku] = rec.encode()
            plan.changed[sku] = {"available": rec.available, "version": rec.version, "source": source}
        return plan

    # -- 4. apply ---------------------------------------------------------------------------
    def apply(self, plan: Plan) -> None:
        """Make a committed plan the new state (call only after its writes are durable)."""
        self.records.update(plan.records)
        for k, v in plan.idem.items():
            self.idem[k] = v
        for ok, ov in plan.orders.items():
            self.orders[ok] = ov
        self.idem.trim()
        self.orders.trim()

    def process(self, events: list[WireEvent]) -> list[WireDecision]:
        """Split, decide and apply with nothing stored: for pure use and tests."""
        parts = self.split(events)
        idem, orders = self.missing(parts)
        self.absorb(dict.fromkeys(idem), dict.fromkeys(orders))
        plan = self.decide(events, parts)
        self.apply(plan)
        return plan.decisions


class _Decider:
    """Decides one part; reads through the plan's overlay and stages its writes there."""

    def __init__(self, ledger: Ledger, plan: Plan, part: Part, now: float) -> None:
        self.ledger, self.plan, self.part, self.now = ledger, plan, part, now
        self.ev = part.event
        self.vs = part.vshard
        self.w = plan.writes[part.vshard]

    def run(self) -> WireDecision:
        ik = (self.vs, self.ev["key"])
        fp = fingerprint(self.ev)
        seen = self.plan.idem[ik] if ik in self.plan.idem else self.ledger.idem[ik]
        if seen is not None:
            first_fp, first = seen
            if first_fp == fp:
                return first
            return {"key": self.ev["key"], "kind": self.ev["kind"], "outcome": "conflict", "lines": []}
        decision = getattr(self, "_" + self.ev["kind"])()
        self.plan.idem[ik] = (fp, decision)
        self.w.idem.append((self.ev["key"], orjson.dumps([fp, decision]).decode()))
        return decision

    # -- state access through the overlay ---------------------------------------------------
    def record(self, sku: str) -> SkuRecord | None:
        rec = self.plan.records.get(sku)
        if rec is None:
            committed = self.ledger.records.get(sku)
            if committed is None:
                return None
            rec = self.plan.records[sku] = committed.copy()
        return rec

    def create(self, sku: str) -> SkuRecord:
        rec = self.plan.records[sku] = SkuRecord()
        return rec

    def order(self) -> dict[str, Any] | None:
        ok = (self.vs, self.ev["channel"], self.ev["order_id"])
        return self.plan.orders[ok] if ok in self.plan.orders else self.ledger.orders[ok]

    def put_order(self, record: dict[str, Any], expires: bool = False) -> None:
        ok = (self.vs, self.ev["channel"], self.ev["order_id"])
        self.plan.orders[ok] = record
        self.w.orders[(self.ev["channel"], self.ev["order_id"])] = (orjson.dumps(record).decode(), expires)

    def change(self, sku: str, rec: SkuRecord, delta: int, outcome: str, **extra: Any) -> dict[str, Any]:
        """Apply ``delta`` to on-hand stock (0 is allowed), audit it, and describe the line."""
        before = rec.available
        if delta:
            rec.on_hand += delta
            rec.version += 1
            # Encoded once per SKU and batch in ``finish``: a hot SKU changes thousands of times.
            self.plan.dirty[sku] = (self.vs, self.ev.get("channel"))
        line = {
            "sku": sku,
            "outcome": outcome,
            "delta": delta,
            **extra,
            "available": rec.available,
            "version": rec.version,
        }
        self.audit(sku, delta, before, rec.available, rec.version, outcome)
        return line

    def audit(
        self, sku: str, delta: int, before: int | None, after: int | None, version: int | None, outcome: str
    ) -> None:
        entry = {
            "key": self.ev["key"],
            "kind": self.ev["kind"],
            "channel": self.ev.get("channel"),
            "order_id": self.ev.get("order_id"),
            "sku": sku,
            "delta": delta,
            "before": before,
            "after": after,
            "version": version,
            "outcome": outcome,
            "at": self.now,
        }
        self.w.audit.append(orjson.dumps(entry).decode())

    def decision(self, outcome: str, lines: list[dict[str, Any]]) -> WireDecision:
        d: WireDecision = {"key": self.ev["key"], "kind": self.ev["kind"], "outcome": outcome, "lines": lines}
        if "order_id" in self.ev:
            d["channel"], d["order_id"] = self.ev["channel"], self.ev["order_id"]
        return d

    # -- one method per event kind ----------------------------------------------------------
    def _order_placed(self) -> WireDecision:
        existing = self.order()
        if existing is not None and existing["status"] != "parked_cancel":
            return self.decision("duplicate_order", existing["lines"])
        if existing is not None:  # its cancel came first: record it, move no stock
            lines = [
                self.change(
                    ln["sku"],
                    self.record(ln["sku"]) or SkuRecord(),
                    0,
                    "cancelled",
                    requested=ln["quantity"],
                    accepted=0,
                )
                for ln in self.ev["lines"]
            ]
            self.put_order({"status": "cancelled", "lines": lines, "at": self.now})
            return self.decision("cancelled", lines)
        lines = [self._take(ln["sku"], ln["quantity"]) for ln in self.ev["lines"]]
        status = "oversold" if any(ln["outcome"] == "insufficient" for ln in lines) else "accepted"
        self.put_order({"status": status, "lines": lines, "at": self.now})
        return self.decision("applied", lines)

    def _take(self, sku: str, quantity: int) -> dict[str, Any]:
        rec = self.record(sku)
        if rec is None:
            self.audit(sku, 0, None, None, None, "unknown_sku")
            return {
                "sku": sku,
                "outcome": "unknown_sku",
                "delta": 0,
                "requested": quantity,
                "accepted": 0,
                "available": None,
                "version": None,
            }
        take = min(quantity, max(rec.available, 0))
        outcome = "accepted" if take == quantity else "insufficient"
        return self.change(sku, rec, -take, outcome, requested=quantity, accepted=take)

    def _order_cancelled(self) -> WireDecision:
        existing = self.order()
        if existing is None or existing["status"] == "parked_cancel":
            if existing is None:
                self.put_order(
                    {"status": "parked_cancel", "cancel_key": self.ev["key"], "at": self.now}, expires=True
                )
            return self.decision("parked", [])
        if existing["status"] == "cancelled":
            return self.decision("already_cancelled", [])
        lines = []
        for ln in existing["lines"]:
            rec = self.record(ln["sku"])
            if rec is not None and ln.get("accepted"):
                lines.append(self.change(ln["sku"], rec, ln["accepted"], "returned"))
        self.put_order({**existing, "status": "cancelled", "cancelled_at": self.now})
        return self.decision("applied", lines)

    def _stock_set(self) -> WireDecision:
        sku = self.ev["sku"]
        rec = self.record(sku) or self.create(sku)
        return self.decision("applied", [self.change(sku, rec, self.ev["quantity"] - rec.on_hand, "set")])

    def _stock_adjusted(self) -> WireDecision:
        sku, delta = self.ev["sku"], self.ev["delta"]
        rec = self.record(sku)
        if (rec.available if rec else 0) + delta < 0:
            self.audit(
                sku,
                0,
                rec.available if rec else None,
                rec.available if rec else None,
                rec.version if rec else None,
                "rejected",
            )
            return self.decision(
                "rejected",
                [
                    {
                        "sku": sku,
                        "outcome": "rejected",
                        "delta": 0,
                        "available": rec.available if rec else None,
                        "version": rec.version if rec else None,
                    }
                ],
            )
        rec = rec or self.create(sku)
        return self.decision("applied", [self.change(sku, rec, delta, "adjusted")])

    def _channel_quantity_reported(self) -> WireDecision:
        sku = self.ev["sku"]
        rec = self.record(sku)
        avail, ver = (rec.available, rec.version) if rec else (None, None)
        self.audit(sku, 0, avail, avail, ver, "noted")
        return self.decision(
            "noted",
            [
                {
                    "sku": sku,
                    "outcome": "noted",
                    "delta": 0,
                    "reported": self.ev["quantity"],
                    "available": avail,
                    "version": ver,
                }
            ],
        )
