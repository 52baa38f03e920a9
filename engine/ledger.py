"""The shard ledger: decides events against master stock, exactly once, never below zero.

Pure logic: no Ray, no Redis, no awaits. A batch goes through four steps, each its own method:

1. ``split``: cut every event into parts, one per virtual shard it touches (a vshard is the unit of
   atomic storage, so each part is decided and committed on its own);
2. ``missing``: name the idempotency and order records the batch needs that no plan in memory
   holds; the caller reads them from the store (``None`` for "not stored");
3. ``decide``: compute decisions and the writes that make them durable, on a staged overlay;
4. ``apply`` once those writes are durable, or ``discard`` if the commit failed.

Plans decided but not yet committed are *pending*: a later batch is decided on top of them, so a
shard can decide batch k+1 while batch k is being written. A failed commit discards its plan and
every later one, so memory never runs ahead of storage. Only stock records stay resident;
idempotency and order records are read per batch, so memory does not grow with traffic. Plans
applied while some batch's read was in flight stay in ``recent`` until that read is decided.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine import idempotency, order_codec
from engine.order_rules import EXPIRED, GONE
from engine.partition import partition
from engine.records import SkuRecord
from engine.routing import ShardMap
from engine.rules import Staging
from engine.wire import WireDecision, WireEvent, merge_parts

IdemKey = str
"""An event key: its idempotency record is one per event, wherever its parts are decided."""
OrderKey = tuple[int, str, str]
Clock = Callable[[], float]
Seen = tuple[str, dict[str, str]]
"""An idempotency record: the event's fingerprint and its decision per vshard (keys are the
vshard numbers as text), encoded (``engine.idempotency.encode``) until one is replayed."""
INDEX_SLACK = 200_000
"""Index entries (live or left behind) above which the index is rebuilt from live plans."""


class StaleReadError(RuntimeError):
    """A batch's store read was not registered with ``begin_read``: a programming error."""


@dataclass(slots=True)
class Part:
    """An event's share in one virtual shard."""

    index: int
    vshard: int
    event: WireEvent


@dataclass(slots=True)
class VShardWrites:
    """Everything one virtual shard must persist for a batch, committed atomically."""

    stock: dict[str, str] = field(default_factory=dict)
    idem: list[tuple[str, str, bool]] = field(default_factory=list)
    """(event key, encoded record (``engine.idempotency.record``), merge): ``merge`` for an event
    whose other parts another shard may record too (the store joins the two records)."""
    audit: list[list[Any]] = field(default_factory=list)
    """Audit entries, each its values in ``engine.audit_entries.FIELDS`` order."""
    orders: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)
    """(channel, order_id) -> (encoded record, parked): a record of parked cancels only expires with
    the idempotency window; every other one is kept for its channel's order retention window and
    leaves a marker (``engine.store.order_windows``)."""
    fresh: set[tuple[str, str]] = field(default_factory=set)
    """Orders of ``orders`` that had no record before this plan: a write of any other replaces a
    stored record, whose copy the store deletes (``engine.store.order_records``)."""


@dataclass(slots=True)
class Fetched:
    """Records read from the store for one batch: JSON strings, ``None`` when not stored, and
    ``EXPIRED`` for an order whose record expired while its marker lives on."""

    idem: dict[IdemKey, str | None] = field(default_factory=dict)
    orders: dict[OrderKey, str | None] = field(default_factory=dict)
    since: int = 0
    """``Ledger.applied`` when the read was issued: later plans may be missing from it."""


@dataclass(slots=True)
class Plan:
    """Staged result of a batch: decisions to answer with and writes to make durable first."""

    decisions: list[WireDecision] = field(default_factory=list)
    writes: defaultdict[int, VShardWrites] = field(default_factory=lambda: defaultdict(VShardWrites))
    records: dict[str, SkuRecord] = field(default_factory=dict)
    idem: dict[IdemKey, Seen] = field(default_factory=dict)
    orders: dict[OrderKey, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """SKU -> {available, version, source, at}: quantities the channels must learn about."""
    dirty: dict[str, tuple[int, str | None, float | None]] = field(default_factory=dict)
    """SKU -> (vshard, channel and time of the last change) for SKUs this batch changed."""
    since: dict[str, int] = field(default_factory=dict)
    """SKU -> its version before this batch's first change: a change covers ``(since, version]``."""
    sold: dict[str, dict[str, int]] = field(default_factory=dict)
    """SKU -> {channel: units its marketplace orders took in this batch}, so a channel can tell its
    own sales apart even when one change covers several (``engine.channel_sync``)."""
    seq: int = 0
    """Position in apply order, set by ``apply``."""


class Ledger:
    """Master stock for the SKUs of the virtual shards one shard actor owns."""

    def __init__(self, shard_map: ShardMap, clock: Clock) -> None:
        self.shard_map = shard_map
        self.clock = clock
        self.records: dict[str, SkuRecord] = {}
        self.pending: list[Plan] = []
        self.recent: deque[Plan] = deque()
        self.applied = 0
        self._reads: Counter[int] = Counter()
        # Newest live (pending or recent) plan holding each key: one dict probe per lookup
        # instead of a walk over the plans, which cost a tenth of a decision when pipelined.
        self._idem_at: dict[IdemKey, Plan] = {}
        self._order_at: dict[OrderKey, Plan] = {}
        self._record_at: dict[str, Plan] = {}
        self.memory: dict[IdemKey | OrderKey, str] = {}
        """Stand-in for the store's idempotency and order records, used only by ``process``."""

    def split(self, events: list[WireEvent]) -> list[Part]:
        """One part per (event, virtual shard); single-SKU events stay whole."""
        return [Part(i, vs, ev) for i, vs, ev in partition(events, self.shard_map.vshard)]

    def missing(self, parts: Iterable[Part]) -> tuple[list[IdemKey], list[OrderKey]]:
        """Keys to read from the store: those the batch needs that no pending plan holds."""
        idem: dict[IdemKey, None] = {}
        orders: dict[OrderKey, None] = {}
        idem_at, order_at = self._idem_at, self._order_at
        for p in parts:
            ev = p.event
            ik = ev["key"]
            q = idem_at.get(ik)
            if q is None or q.seq:
                idem[ik] = None
            if "order_id" in ev:
                ok = (p.vshard, ev["channel"], ev["order_id"])
                q = order_at.get(ok)
                if q is None or q.seq:
                    orders[ok] = None
        return list(idem), list(orders)

    def begin_read(self) -> int:
        """Register a store read about to start; plans applied from now on stay visible to it."""
        self._reads[self.applied] += 1
        return self.applied

    def end_read(self, since: int) -> None:
        """The read registered at ``since`` has been decided (or abandoned)."""
        self._reads[since] -= 1
        if not self._reads[since]:
            del self._reads[since]
        self._prune()

    def _prune(self) -> None:
        """Forget applied plans no read in flight can need.

        Their index entries are left behind on purpose: a lookup ignores a plan whose ``seq`` is
        at or below the read's ``since``, which every remaining and future read satisfies, and
        deleting thousands of keys per batch cost more than the occasional rebuild below.
        """
        oldest = min(self._reads) if self._reads else self.applied
        while self.recent and self.recent[0].seq <= oldest:
            q = self.recent.popleft()
            q.idem.clear()
            q.orders.clear()
            # Left-behind index entries keep the plan object alive: drop what it holds (rebinding,
            # not clearing: the caller may still hold the decisions and changes it was answered
            # with). Otherwise each batch's thousands of objects outlived it and the collector's
            # young generation filled with them (a collection every few batches, 17 ms each).
            q.decisions, q.records, q.changed, q.dirty, q.since, q.sold = [], {}, {}, {}, {}, {}
        if len(self._idem_at) + len(self._order_at) > INDEX_SLACK:
            self._reindex()

    def _reindex(self) -> None:
        live = [*self.recent, *self.pending]
        self._idem_at = {k: q for q in live for k in q.idem}
        self._order_at = {k: q for q in live for k in q.orders}

    def decide(self, events: list[WireEvent], parts: list[Part], fetched: Fetched) -> Plan:
        """Decide every part in order on top of committed and pending state; stage, don't apply.

        The returned plan is pending until ``apply`` or ``discard``.
        """
        if fetched.since != self.applied and fetched.since not in self._reads:
            raise StaleReadError(f"read at {fetched.since} was not registered with begin_read")
        plan = Plan()
        staging = Staging(self, plan, fetched, self.clock())
        by_event: list[list[WireDecision]] = [[] for _ in events]
        i, n = 0, len(parts)
        while i < n:
            p = parts[i]
            if "vss" not in p.event:  # whole on one vshard: the hot path
                by_event[p.index].append(staging.decide(p.vshard, p.event))
                i += 1
                continue
            j = i + 1  # an event's parts are adjacent (``partition`` keeps event order)
            while j < n and parts[j].index == p.index:
                j += 1
            by_event[p.index].extend(staging.decide_whole([(q.vshard, q.event) for q in parts[i:j]]))
            i = j
        plan.decisions = [merge_parts(ev, ds) for ev, ds in zip(events, by_event, strict=True)]
        for sku, (vs, source, at) in plan.dirty.items():
            rec = plan.records[sku]
            plan.writes[vs].stock[sku] = rec.encode()
            plan.changed[sku] = {
                "available": rec.available,
                "version": rec.version,
                "source": source,
                "at": at,
                "since": plan.since.get(sku, rec.version),
                "sold": plan.sold.get(sku),
            }
        self.pending.append(plan)
        self._idem_at.update(dict.fromkeys(plan.idem, plan))
        self._order_at.update(dict.fromkeys(plan.orders, plan))
        self._record_at.update(dict.fromkeys(plan.records, plan))
        return plan

    # -- reads through pending and recently applied plans (used by the rules) ----------------
    def staged_record(self, sku: str) -> SkuRecord | None:
        q = self._record_at.get(sku)
        return q.records[sku] if q is not None else self.records.get(sku)

    def staged_idem(self, ik: IdemKey, fetched: Fetched) -> Seen | None:
        q = self._idem_at.get(ik)
        if q is not None and (not q.seq or q.seq > fetched.since):
            return q.idem[ik]
        raw = fetched.idem[ik]
        if raw is None:
            return None
        return idempotency.parse(raw)

    def staged_order(self, ok: OrderKey, fetched: Fetched) -> dict[str, Any] | None:
        q = self._order_at.get(ok)
        if q is not None and (not q.seq or q.seq > fetched.since):
            return q.orders[ok]
        raw = fetched.orders[ok]
        if raw is None:
            return None
        if raw == EXPIRED:  # the record's window ended; its marker says the order existed
            return GONE
        return order_codec.decode(raw)

    # -- 4. apply / discard -----------------------------------------------------------------
    def apply(self, plan: Plan) -> None:
        """Make the oldest pending plan committed state (call only once its writes are durable)."""
        if not self.pending or self.pending[0] is not plan:
            raise RuntimeError("plans must be applied in the order they were decided")
        self.pending.pop(0)
        self.records.update(plan.records)
        for sku in plan.records:
            if self._record_at.get(sku) is plan:
                del self._record_at[sku]
        self.applied += 1
        plan.seq = self.applied
        plan.writes.clear()  # only its lookups stay in memory, and only while a read needs them
        self.recent.append(plan)
        self._prune()

    def discard(self, plan: Plan) -> list[Plan]:
        """Drop ``plan`` and every plan decided after it (they built on it); returns those dropped."""
        if plan not in self.pending:
            return []
        i = self.pending.index(plan)
        dropped, self.pending = self.pending[i:], self.pending[:i]
        # Dropped plans stay pending-looking (seq 0) forever: rebuild every index from what lives.
        self._reindex()
        self._record_at = {k: q for q in self.pending for k in q.records}
        return dropped

    # -- pure use ---------------------------------------------------------------------------------
    def process(self, events: list[WireEvent]) -> list[WireDecision]:
        """Split, decide and apply against an in-memory record store: for pure use and tests.

        The dicts in ``memory`` stand in for Redis (the same JSON the store would hold), so the
        pure path exercises exactly the read-decide-apply cycle of the real one.
        """
        memory = self.memory
        parts = self.split(events)
        idem, orders = self.missing(parts)
        since = self.begin_read()
        fetched = Fetched({k: memory.get(k) for k in idem}, {k: memory.get(k) for k in orders}, since)
        try:
            plan = self.decide(events, parts, fetched)
        finally:
            self.end_read(since)
        for vs, w in plan.writes.items():
            for key, value, merge in w.idem:
                memory[key] = idempotency.join(memory.get(key), value) if merge else value
            memory.update({(vs, ch, oid): value for (ch, oid), (value, _) in w.orders.items()})
        decisions = plan.decisions  # taken before ``apply``, which may empty the plan
        self.apply(plan)
        return decisions
