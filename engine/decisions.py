"""Decisions: what the ledger answers for each event, as models (the contract) and wire dicts.

Event outcomes: ``applied``, ``duplicate_order`` (the order id was already decided, through another
key or path), ``cancelled`` (an order whose cancel arrived first), ``parked`` (a cancel waiting for
its order), ``already_cancelled``, ``rejected`` (an adjustment below zero), ``noted`` (a channel
report), ``conflict`` (key reused with a different payload), ``mixed`` (parts on several virtual
shards ended differently). Line outcomes: ``accepted``, ``insufficient`` (fewer units than sold:
``accepted`` says how many were granted), ``unknown_sku``, ``cancelled``, ``returned``, ``set``,
``adjusted``, ``rejected``, ``noted``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

WireDecision = dict[str, Any]


class LineDecision(BaseModel):
    """The ledger's answer for one SKU within an event."""

    sku: str
    outcome: str
    delta: int = 0
    requested: int | None = None
    accepted: int | None = None
    available: int | None = None
    version: int | None = None


class Decision(BaseModel):
    """The ledger's answer for one event; replayed unchanged for every duplicate delivery."""

    key: str
    kind: str
    outcome: str
    lines: list[LineDecision] = []
    channel: str | None = None
    order_id: str | None = None


def merge_parts(event: dict[str, Any], parts: list[WireDecision]) -> WireDecision:
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
    order = {sku: i for i, sku in enumerate(_skus_in_order(event))}
    lines.sort(key=lambda line: order.get(line["sku"], len(order)))
    merged = {k: v for k, v in parts[0].items() if k not in ("outcome", "lines")}
    merged["outcome"] = outcome
    merged["lines"] = lines
    return merged


def _skus_in_order(event: dict[str, Any]) -> list[str]:
    if "lines" in event:
        return [line["sku"] for line in event["lines"]]
    if "skus" in event:
        return list(event["skus"])
    return [event["sku"]]
