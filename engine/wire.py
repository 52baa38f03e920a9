"""The wire forms of events and decisions: plain dicts between processes, no pydantic.

The pydantic models in ``engine.events`` and ``engine.decisions`` are the contract at the trust
boundary (gateway, admin API, adapters). Inside the system a shard only handles these dicts, so a
shard process never imports pydantic: that import and the models' schema building were 0.15-0.25 s
of every shard restart on the 2-core development machine.
"""

from __future__ import annotations

from typing import Any

import orjson

WireEvent = dict[str, Any]
"""The JSON form of a validated event: what the ledger consumes."""
WireDecision = dict[str, Any]
"""The JSON form of a decision: what the ledger answers, replayed unchanged for duplicates."""

STOCK_CAP = 10**12
"""The most units one SKU may hold on hand: ``PUT`` refuses more, and the ledger refuses an
adjustment that would climb past it (only it knows the current count)."""


def event_skus(event: WireEvent) -> list[str]:
    """The SKUs an event touches, in order, without duplicates."""
    if "lines" in event:
        return list(dict.fromkeys(line["sku"] for line in event["lines"]))
    if "skus" in event:
        return list(dict.fromkeys(event["skus"]))
    return [event["sku"]]


def encode_events(events: list[Any]) -> bytes:
    """Serialise validated events (models or their wire dicts) for a hop between processes."""
    # duck-typed so that this module needs no pydantic: a model dumps itself, a dict is as is
    return orjson.dumps([e.model_dump(mode="json") if hasattr(e, "model_dump") else e for e in events])


def decode_events(blob: bytes) -> list[WireEvent]:
    """Inverse of ``encode_events``; trusts its input (it came from inside the system)."""
    events: list[WireEvent] = orjson.loads(blob)
    return events


def set_aside(events: list[WireEvent]) -> tuple[list[WireEvent], list[list[dict[str, Any]]]]:
    """The events without the lines their model set aside as invalid, and those lines per event.

    The shards never see the ``invalid`` field: it explains a refusal at the edge, not a change.
    """
    kept: list[WireEvent] = []
    flagged: list[list[dict[str, Any]]] = []
    for ev in events:
        if "invalid" in ev:
            ev = dict(ev)
            flagged.append(ev.pop("invalid"))
        else:
            flagged.append([])
        kept.append(ev)
    return kept, flagged


def merge_parts(event: WireEvent, parts: list[WireDecision]) -> WireDecision:
    """Join the decisions of an event's parts (one per virtual shard) into one, lines in event order."""
    if len(parts) == 1:
        return parts[0]
    outcomes = {p["outcome"] for p in parts}
    if "conflict" in outcomes:
        outcome = "conflict"
    elif len(outcomes) == 1:
        outcome = outcomes.pop()
    else:
        outcome = "mixed"
    lines = [line for p in parts for line in p.get("lines", [])]
    order: dict[str, int] = {}
    for i, sku in enumerate(_skus_in_order(event)):  # a SKU on several lines sorts by its first
        order.setdefault(sku, i)
    lines.sort(key=lambda line: order.get(line["sku"], len(order)))
    merged = {k: v for k, v in parts[0].items() if k not in ("outcome", "lines")}
    merged["outcome"] = outcome
    merged["lines"] = lines
    return merged


def _skus_in_order(event: WireEvent) -> list[str]:
    if "lines" in event:
        return [line["sku"] for line in event["lines"]]
    if "skus" in event:
        return list(event["skus"])
    return [event["sku"]]
