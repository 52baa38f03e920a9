"""Marketplace lines refused at the edge: answered ``invalid`` and recorded for the operator.

A delivery's bad lines (a quantity over 10^6, a SKU too long or with ``/`` or control characters)
are set aside by the canonical models (``engine.events``) so its good lines are decided. The
marketplace has sold the bad ones already, so somebody must look at them: each is answered as a
line with outcome ``invalid`` and its reason, and written once per event key to a capped stream
that ``GET /v1/audit`` merges into its listing (outcome ``invalid``, ``reason``, no stock moved).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from engine.decisions import WireDecision
from engine.events import WireEvent
from engine.store import Keys

STREAM_MAXLEN = 10_000
"""Entries the stream keeps (approximately): a sender flooding bad lines cannot grow Redis."""
INVALID = "invalid"


def invalid_stream(keys: Keys) -> str:
    """The stream of refused lines (one for the deployment: they are rare and belong to no shard)."""
    return f"{keys.prefix}:invalid"


def with_invalid(decision: WireDecision, invalid: list[dict[str, Any]]) -> WireDecision:
    """``decision`` with its event's refused lines added as ``invalid`` lines (outcome ``mixed``).

    Built again for every delivery of the event, so a duplicate delivery, whose decided lines the
    ledger replays, gets the same answer as the first.
    """
    if not invalid:
        return decision
    lines = [
        {"sku": bad["sku"], "outcome": INVALID, "reason": bad["reason"], "delta": 0, "accepted": 0}
        for bad in invalid
    ]
    return {**decision, "outcome": "mixed", "lines": [*decision.get("lines", []), *lines]}


async def record_invalid(
    redis: aioredis.Redis,
    keys: Keys,
    ttl_s: int,
    events: list[WireEvent],
    flagged: list[list[dict[str, Any]]],
) -> int:
    """Write each event's refused lines to the stream, once per event key; returns entries written.

    The marker per key lives as long as an idempotency record, so a redelivery within the window
    (the marketplace retrying, a replay) adds nothing.
    """
    written = 0
    for ev, invalid in zip(events, flagged, strict=True):
        marker = f"{keys.prefix}:invalid-seen:{ev['key']}"
        if not invalid or not await redis.set(marker, 1, nx=True, ex=ttl_s):
            continue
        pipe = redis.pipeline(transaction=False)
        for bad in invalid:
            entry = {
                "key": ev["key"], "kind": ev["kind"], "channel": ev.get("channel"),
                "order_id": ev.get("order_id"), "sku": bad["sku"], "delta": 0, "before": None,
                "after": None, "version": None, "outcome": INVALID, "reason": bad["reason"],
                "at": time.time(),
            }  # fmt: skip
            blob = orjson.dumps(entry)
            pipe.xadd(invalid_stream(keys), {"d": blob}, maxlen=STREAM_MAXLEN, approximate=True)
        await pipe.execute()
        written += len(invalid)
    return written
