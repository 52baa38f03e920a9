"""All-or-nothing orders across shards: reserve every line, then commit or release.

The coordinator (any gateway) writes the request to Redis, asks every owning shard to hold its
lines, decides once with ``HSETNX`` (so it and a sweeper can never decide differently), then
commits or releases. A coordinator that dies between the steps leaves the order in the open set;
``sweep`` (run by every gateway) finds it when its hold expires, decides "release" unless a
decision exists, and finishes it. Every event it sends has a key derived from the order, so
repeats are answered from the first decision. An answered order's record expires after
``answer_ttl_s`` (the idempotency window), like every other idempotency record; an open one never
does, so the sweeper always finds it. An answered order is never opened again: a replay reads its
answer, and the answer is written once, so neither a replay nor a sweeper can move its expiry or
change what it says. An order id that another transaction (another key, or a marketplace's
webhook) already holds is refused with 409 ``order_exists`` and nothing is committed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from engine.decisions import WireDecision
from engine.events import WireEvent
from engine.idempotency import fingerprint
from engine.store.keys import Keys

Submit = Callable[[list[WireEvent]], Awaitable[list[WireDecision]]]

ORDER_EXISTS = "order_exists"
"""Outcome the ledger gives a step on an order id whose record belongs to another transaction."""

# KEYS: the order's record, the open set, the order id's claim. ARGV: fp, request, hold deadline,
# txn, claim TTL. One script so that "is it answered?" and "open it" cannot interleave with a
# coordinator's close: a replay of an answered order must not put it back in the open set. The
# claim names the transaction that owns the order id, so a second key for it is refused even when
# its lines share no vshard with the first order's (the shards could not see each other's lines).
_OPEN = """
redis.call('HSETNX', KEYS[1], 'fp', ARGV[1])
redis.call('HSETNX', KEYS[1], 'request', ARGV[2])
local stored = redis.call('HMGET', KEYS[1], 'fp', 'answer')
local owner = ARGV[4]
if stored[1] == ARGV[1] and not stored[2] then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[4])
  owner = redis.call('GET', KEYS[3])
  if not owner then
    redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
    owner = ARGV[4]
  end
end
stored[3] = owner
return stored
"""

# KEYS: the order's record, the open set, the order id's claim. ARGV: encoded answer, answer TTL,
# txn, committed (1/0). The first answer wins and only it starts the expiry: a sweeper finishing an
# order its coordinator answered a moment before must not replace that answer or restart its
# idempotency window. An order that took nothing gives its id back, so the shopper's next attempt
# (another key, after a restock) may use it.
_CLOSE = """
if redis.call('HSETNX', KEYS[1], 'answer', ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  if ARGV[4] == '0' and redis.call('GET', KEYS[3]) == ARGV[3] then
    redis.call('DEL', KEYS[3])
  end
end
redis.call('ZREM', KEYS[2], ARGV[3])
return redis.call('HGET', KEYS[1], 'answer')
"""


@dataclass(frozen=True)
class Answer:
    """HTTP status and body for ``POST /v1/orders``."""

    status: int
    body: dict[str, Any]


class TwoPhaseOrders:
    """Coordinator for ``POST /v1/orders``; stateless apart from what it keeps in Redis."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        submit: Submit,
        hold_s: float = 120.0,
        clock: Callable[[], float] = time.time,
        answer_ttl_s: int = 72 * 3600,
    ) -> None:
        self.r, self.keys, self.submit, self.hold_s, self.clock = client, keys, submit, hold_s, clock
        self.answer_ttl_s = answer_ttl_s
        self._open_script = client.register_script(_OPEN)
        self._close_script = client.register_script(_CLOSE)

    async def place(self, idem_key: str, channel: str, order_id: str, lines: list[dict[str, Any]]) -> Answer:
        """Take every line or none; the same key replays the first answer, a different body is 422.

        An order id already held by another transaction is 409 ``order_exists``: nothing is
        committed, and only this transaction's own holds (if any) are released.
        """
        txn = f"{channel}:{idem_key}"
        request = {"channel": channel, "order_id": order_id, "lines": lines}
        fp = fingerprint(request)
        known, owner = await self._open(txn, fp, request)
        if known is not None:
            return known
        if owner != txn:  # another key owns this order id: nothing is reserved, nothing moves
            return await self._finish(txn, request, await self._decide(txn, "release"), [], True)
        reserved = await self._step("order_reserve", txn, request)
        short = [ln["sku"] for ln in reserved["lines"] if ln["outcome"] == "insufficient"]
        exists = _order_exists(reserved)
        # "reserved" everywhere is the only way to commit; an order_exists part may sit beside
        # reserved parts (merged outcome "mixed"), and those holds are ours to give back.
        decision = await self._decide(
            txn, "release" if exists or short or reserved["outcome"] != "reserved" else "commit"
        )
        return await self._finish(txn, request, decision, short, exists)

    async def _open(self, txn: str, fp: str, request: dict[str, Any]) -> tuple[Answer | None, str]:
        """Record the request (first writer wins); return a stored answer or 422 if there is one,
        and the transaction that owns the order id (``txn`` itself unless another key claimed it).

        One round trip. The order joins the open set only when its record has no answer yet and
        is this request's, so a replay of an answered order never re-opens it.
        """
        stored_fp, answer, owner = await self._open_script(
            keys=[self.keys.txn(txn), self.keys.open_txns(), self._claim(request)],
            args=[fp, orjson.dumps(request), self.clock() + self.hold_s, txn, self.answer_ttl_s],
        )
        if _text(stored_fp) != fp:
            return Answer(
                422, {"error": "idempotency_key_reused", "detail": "same key, different order"}
            ), txn
        if answer is not None:
            status, body = orjson.loads(answer)
            return Answer(status, body), txn
        return None, _text(owner)

    def _claim(self, request: dict[str, Any]) -> str:
        """The key naming the transaction that owns an order id (kept for the answer's window)."""
        return f"{self.keys.prefix}:orderid:{request['channel']}:{request['order_id']}"

    async def _step(self, kind: str, txn: str, request: dict[str, Any]) -> WireDecision:
        event: dict[str, Any] = {
            "kind": kind,
            "key": f"{txn}:{kind}",
            "txn": txn,
            "channel": request["channel"],
            "order_id": request["order_id"],
            "at": 0.0,
        }
        if kind == "order_reserve":
            event["lines"] = request["lines"]
        else:
            event["skus"] = list(dict.fromkeys(ln["sku"] for ln in request["lines"]))
        [decision] = await self.submit([event])
        return decision

    async def _decide(self, txn: str, want: str) -> str:
        key = self.keys.txn(txn)
        await self.r.hsetnx(key, "decision", want)
        decided = await self.r.hget(key, "decision")
        return _text(decided) if decided else want

    async def _finish(
        self,
        txn: str,
        request: dict[str, Any],
        decision: str,
        short: list[str],
        exists: bool | None = None,
    ) -> Answer:
        """Commit or release, then store the answer unless one is stored; returns the stored one.

        The answer is ``order_exists`` if the order id belongs to another transaction, else
        ``insufficient_stock`` naming ``short``. ``exists`` is what the caller's reserve met; a
        sweeper did not see the reserve (``None``) and goes by what this step meets. A coordinator
        does not: past its reserve, the only other transaction's lines this step can meet that the
        reserve did not report are ones it found free (an earlier refusal of the same order id
        leaves such a line), and calling those ``order_exists`` would tell the next shopper the
        order id is taken when only stock is short.
        """
        settled = await self._step("order_commit" if decision == "commit" else "order_release", txn, request)
        if exists is None:
            exists = _order_exists(settled)
        if decision == "commit":
            answer = Answer(
                201,
                {
                    "channel": request["channel"],
                    "order_id": request["order_id"],
                    "status": "accepted",
                    "lines": settled["lines"],
                },
            )
        elif exists:
            answer = Answer(409, {"error": ORDER_EXISTS})
        elif short:
            answer = Answer(409, {"error": "insufficient_stock", "sku": short[0], "skus": short})
        else:
            answer = Answer(409, {"error": "reservation_expired"})
        # The expiry starts only now: a record expiring while its order is open would hide the
        # order from the sweeper.
        stored = await self._close_script(
            keys=[self.keys.txn(txn), self.keys.open_txns(), self._claim(request)],
            args=[
                orjson.dumps([answer.status, answer.body]),
                self.answer_ttl_s,
                txn,
                int(answer.status == 201),
            ],
        )
        status, body = orjson.loads(stored)
        return Answer(status, body)

    async def sweep(self, limit: int = 100) -> int:
        """Finish orders whose coordinator vanished (hold expired): release unless commit was decided.

        An answered order found in the open set is only removed from it: it is never finished
        again, so its answer and its expiry stay as they are. Returns how many were due.
        """
        due = await self.r.zrangebyscore(self.keys.open_txns(), "-inf", self.clock(), start=0, num=limit)
        for raw in due:
            txn = _text(raw)
            request, answer = await self.r.hmget(self.keys.txn(txn), "request", "answer")
            if request is None or answer is not None:
                await self.r.zrem(self.keys.open_txns(), txn)
                continue
            decision = await self._decide(txn, "release")
            await self._finish(txn, orjson.loads(request), decision, [])
        return len(due)


def _order_exists(decision: WireDecision) -> bool:
    """Whether any part of ``decision`` met another transaction's record of the same order id.

    Parts split across virtual shards are merged (``engine.wire.merge_parts``) into one outcome,
    which is "mixed" when only some parts met it; their lines still say so.
    """
    if decision.get("outcome") == ORDER_EXISTS:
        return True
    return any(ln.get("outcome") == ORDER_EXISTS for ln in decision.get("lines", []))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
