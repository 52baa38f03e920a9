"""The decision rules, one function per event kind, staged into a batch's plan.

Kept apart from ``engine.ledger`` (which owns state and the batch lifecycle) so the rules read as
the business policy they are: never below zero, grant what is left, a stock take never cuts into
held units, an event key means one payload everywhere. Orders, as versioned documents, are in
``engine.order_rules``; the seller's own two-step orders in ``engine.two_phase_rules``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from engine import order_rules, two_phase_rules
from engine.audit_entries import KIND as _KIND
from engine.audit_entries import OUTCOME as _OUTCOME
from engine.audit_entries import at_value
from engine.idempotency import decode, encode, fingerprint, record
from engine.order_codec import encode as encode_order
from engine.records import SkuRecord
from engine.wire import STOCK_CAP

if TYPE_CHECKING:
    from engine.ledger import Fetched, Ledger, Plan, Seen, VShardWrites
    from engine.wire import WireDecision

_dumps = orjson.dumps
Rule = Callable[["Staging", int, dict[str, Any], "VShardWrites"], "WireDecision"]


MARKETPLACE_SALES = frozenset({"order_placed", "order_updated"})
"""Event kinds whose stock drops the channel's marketplace made on its own listing too (an own
checkout through ``POST /v1/orders`` does not: the marketplace never saw it)."""


class Staging:
    """Decides parts one after another for one batch, reading through the plan's overlay."""

    __slots__ = ("at", "fetched", "ledger", "now", "plan", "settled")

    def __init__(self, ledger: Ledger, plan: Plan, fetched: Fetched, now: float) -> None:
        # whole microseconds: an audit entry then holds the time as an integer (9 bytes, not 19 of
        # text: ``engine.audit_entries.at_value``), and nothing reads time finer than that
        now = round(now, 6) if type(now) is float else now
        self.ledger, self.plan, self.fetched, self.now = ledger, plan, fetched, now
        self.at = at_value(now)
        """``now`` as its audit entries hold it (``engine.audit_entries.at_value``)."""
        self.settled = False
        """Set by a rule whose part moved nothing and would be decided alike again: it is not
        recorded (``engine.idempotency``, "What is recorded"); read and cleared by the caller."""

    def decide(self, vs: int, ev: dict[str, Any]) -> WireDecision:
        """An event that is whole on one vshard: idempotency first (same key: the recorded answer,
        or ``conflict``), then the kind's rule, whose answer is recorded unless the rule found it
        settled (``engine.idempotency``). The hot path: one lookup, one rule."""
        if "vss" in ev:  # a part of an event other vshards have parts of too
            return self.decide_whole([(vs, ev)])[0]
        key = ev["key"]
        fp = fingerprint(ev)
        plan = self.plan
        seen = plan.idem[key] if key in plan.idem else self.ledger.staged_idem(key, self.fetched)
        if seen is not None:
            if seen[0] != fp:
                return self.conflict(ev)
            replay = seen[1].get(str(vs))
            if replay is not None:
                return decode(replay, ev)
        w = plan.writes[vs]
        decision = RULES[ev["kind"]](self, vs, ev, w)
        if self.settled:
            self.settled = False
            return decision
        if seen is None:  # the common case, inlined: a first delivery, whole on this vshard
            parts = {str(vs): encode(decision, ev)}
            plan.idem[key] = (fp, parts)
            w.idem.append((key, record(fp, parts), False))
        else:
            self.record_key(vs, key, fp, {str(vs): encode(decision, ev)}, merge=False, known=seen[1])
        return decision

    def decide_whole(self, parts: list[tuple[int, dict[str, Any]]]) -> list[WireDecision]:
        """The parts of one event split across vshards, decided together.

        The key has one idempotency record for the whole event: if it holds another payload,
        every part is a ``conflict`` and nothing moves. A part already decided (on this shard or,
        for an event split across shards, on another) replays its answer; the others are decided
        now: a retry completing a delivery that only some shard had committed, or a part that was
        settled (not recorded) the first time.
        """
        first = parts[0][1]
        key, fp = first["key"], first["fp"]
        seen = self.seen(key)
        if seen is not None and seen[0] != fp:
            return [self.conflict(ev) for _, ev in parts]
        known = seen[1] if seen is not None else {}
        out, fresh = [], {}
        for vs, ev in parts:
            stored = known.get(str(vs))
            if stored is not None:
                decision = decode(stored, ev)
            else:
                decision = RULES[ev["kind"]](self, vs, ev, self.plan.writes[vs])
                if self.settled:
                    self.settled = False
                else:
                    fresh[str(vs)] = encode(decision, ev)
            out.append(decision)
        if fresh:
            # whole here (every vshard it touches is in this batch): written whole; otherwise
            # another shard writes its parts of the record too, and the store joins them
            whole = len(first["vss"]) == len(parts)
            self.record_key(parts[0][0], key, fp, fresh, merge=not whole, known=known)
        return out

    def seen(self, key: str) -> Seen | None:
        plan = self.plan
        return plan.idem[key] if key in plan.idem else self.ledger.staged_idem(key, self.fetched)

    def record_key(
        self,
        vs: int,
        key: str,
        fp: str,
        decided: dict[str, str],
        merge: bool,
        known: dict[str, str] | None = None,
    ) -> None:
        """Stage the event's idempotency record: ``decided`` (parts encoded against the part they
        answered, ``engine.idempotency.encode``) joined to what was ``known``."""
        parts = {**known, **decided} if known else decided
        self.plan.idem[key] = (fp, parts)
        self.plan.writes[vs].idem.append((key, record(fp, decided if merge else parts), merge))

    @staticmethod
    def conflict(ev: dict[str, Any]) -> WireDecision:
        return {"key": ev["key"], "kind": ev["kind"], "outcome": "conflict", "lines": []}

    # -- overlay access -----------------------------------------------------------------------
    def record(self, sku: str) -> SkuRecord | None:
        rec = self.plan.records.get(sku)
        if rec is None:
            staged = self.ledger.staged_record(sku)
            if staged is None:
                return None
            rec = self.plan.records[sku] = staged.copy()
        return rec

    def order(self, vs: int, ev: dict[str, Any]) -> dict[str, Any] | None:
        ok = (vs, ev["channel"], ev["order_id"])
        return self.plan.orders[ok] if ok in self.plan.orders else self.ledger.staged_order(ok, self.fetched)

    def put_order(
        self, vs: int, ev: dict[str, Any], w: VShardWrites, record: dict[str, Any], expires: bool = False
    ) -> None:
        ok = (vs, ev["channel"], ev["order_id"])
        if ok not in self.plan.orders and self.ledger.staged_order(ok, self.fetched) is None:
            w.fresh.add(ok[1:])  # no record to replace (``engine.store.order_records``)
        self.plan.orders[ok] = record
        w.orders[ok[1:]] = (encode_order(record), expires)

    def change(
        self,
        vs: int,
        ev: dict[str, Any],
        w: VShardWrites,
        sku: str,
        rec: SkuRecord,
        delta: int,
        outcome: str,
        held: int = 0,
    ) -> dict[str, Any]:
        """Move ``delta`` on-hand and ``held`` reserved units (0 allowed), audit it, describe the line."""
        before = rec.on_hand - rec.reserved
        if delta or held:
            rec.on_hand += delta
            rec.reserved += held
            self.plan.since.setdefault(sku, rec.version)
            rec.version += 1
            if delta < 0 and ev["kind"] in MARKETPLACE_SALES:
                # The marketplace took these units off its own listing when it sold them.
                sold = self.plan.sold.setdefault(sku, {})
                sold[ev["channel"]] = sold.get(ev["channel"], 0) - delta
            # Encoded once per SKU and batch by the ledger: a hot SKU changes thousands of times.
            self.plan.dirty[sku] = (vs, ev.get("channel"), ev.get("at"))
        after = rec.on_hand - rec.reserved
        self.audit(ev, w, sku, delta, before, after, rec.version, outcome)
        return {"sku": sku, "outcome": outcome, "delta": delta, "available": after, "version": rec.version}

    def audit(
        self,
        ev: dict[str, Any],
        w: VShardWrites,
        sku: str,
        delta: int,
        before: int | None,
        after: int | None,
        version: int | None,
        outcome: str,
    ) -> None:
        # The entry's values in ``engine.audit_entries.FIELDS`` order: commit.lua names them (a
        # list in the commit's JSON, not a JSON document per entry: no encoding call per line).
        w.audit.append(
            [ev["key"], _KIND.get(ev["kind"], ev["kind"]), ev.get("channel"), ev.get("order_id"), sku, delta,
             before, after, version, _OUTCOME.get(outcome, outcome), self.at]
        )  # fmt: skip

    @staticmethod
    def decision(ev: dict[str, Any], outcome: str, lines: list[dict[str, Any]]) -> WireDecision:
        d: WireDecision = {"key": ev["key"], "kind": ev["kind"], "outcome": outcome, "lines": lines}
        if "order_id" in ev:
            d["channel"], d["order_id"] = ev["channel"], ev["order_id"]
        return d

    # -- one rule per stock event kind ---------------------------------------------------------
    def stock_set(self, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
        """An absolute count. Units held for an own-checkout order are on the shelf until it commits
        or releases, so on hand never falls below them: a count lower than what is held sets on hand
        to the held units (line outcome ``clamped``), and available never goes negative."""
        sku = ev["sku"]
        rec = self.record(sku) or self.create(vs, ev, sku)
        target = max(ev["quantity"], rec.reserved)
        outcome = "set" if target == ev["quantity"] else "clamped"
        return self.decision(ev, "applied", [self.change(vs, ev, w, sku, rec, target - rec.on_hand, outcome)])

    def create(self, vs: int, ev: dict[str, Any], sku: str) -> SkuRecord:
        """A new SKU, written even if its first change moves nothing (a count of 0): master then
        knows it, in memory and in the store alike, and a sale of it is ``insufficient``, not
        ``unknown_sku``, before and after a reload."""
        rec = self.plan.records[sku] = SkuRecord()
        self.plan.since.setdefault(sku, rec.version)
        self.plan.dirty[sku] = (vs, ev.get("channel"), ev.get("at"))
        return rec

    def stock_adjusted(self, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
        sku, delta = ev["sku"], ev["delta"]
        rec = self.record(sku)
        # below zero, or above the cap a stock take enforces (each adjust is capped, not their sum)
        if (rec.available if rec else 0) + delta < 0 or (rec.on_hand if rec else 0) + delta > STOCK_CAP:
            avail, ver = (rec.available, rec.version) if rec else (None, None)
            refusal = "rejected" if delta < 0 else "over_cap"
            self.audit(ev, w, sku, 0, avail, avail, ver, refusal)
            return self.decision(
                ev,
                "rejected",
                [{"sku": sku, "outcome": refusal, "delta": 0, "available": avail, "version": ver}],
            )
        rec = rec or self.create(vs, ev, sku)
        return self.decision(ev, "applied", [self.change(vs, ev, w, sku, rec, delta, "adjusted")])

    def channel_quantity_reported(self, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
        sku = ev["sku"]
        rec = self.record(sku)
        avail, ver = (rec.available, rec.version) if rec else (None, None)
        self.audit(ev, w, sku, 0, avail, avail, ver, "noted")
        return self.decision(
            ev,
            "noted",
            [
                {
                    "sku": sku,
                    "outcome": "noted",
                    "delta": 0,
                    "reported": ev["quantity"],
                    "available": avail,
                    "version": ver,
                }
            ],
        )


RULES: dict[str, Rule] = {
    "order_placed": order_rules.order_doc,
    "order_updated": order_rules.order_doc,
    "order_cancelled": order_rules.order_cancelled,
    "stock_set": Staging.stock_set,
    "stock_adjusted": Staging.stock_adjusted,
    "channel_quantity_reported": Staging.channel_quantity_reported,
    "order_reserve": two_phase_rules.order_reserve,
    "order_commit": two_phase_rules.order_commit,
    "order_release": two_phase_rules.order_release,
}
"""Event kind -> rule. A module-level table, not bound methods on the ``Staging``: an instance
holding its own bound methods is a reference cycle, which kept every finished batch's plan (and
its thousands of decisions) alive until the cyclic collector ran; those collections cost a fifth
of a shard's time at 50,000 decisions/s."""
