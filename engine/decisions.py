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

from pydantic import BaseModel

# the wire helpers live in engine.wire (no pydantic there); re-exported for callers of this module
from engine.wire import WireDecision as WireDecision
from engine.wire import merge_parts as merge_parts


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
