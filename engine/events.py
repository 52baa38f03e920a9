"""Canonical events: what every inbound channel and the admin API are normalised into.

The pydantic models are the contract and validate everything that crosses a trust boundary. Inside
the system, batches travel between processes in their JSON wire form (``engine.wire``: ``encode_events``
/ ``decode_events``): orjson decodes a validated event in under a microsecond, while re-validating or
unpickling a model costs 3-6 µs, which is most of the per-decision budget on the hot path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# the wire helpers live in engine.wire (no pydantic there); re-exported for callers of this module
from engine.wire import WireEvent as WireEvent
from engine.wire import decode_events as decode_events
from engine.wire import encode_events as encode_events
from engine.wire import event_skus as event_skus

Sku = Annotated[str, Field(min_length=1, max_length=200)]
EventKey = Annotated[str, Field(min_length=1, max_length=400)]
ChannelId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: EventKey
    """Idempotency key: the same key must always describe the same change."""
    at: float = 0.0
    """When the source says the event happened (unix seconds). Taken from the payload, never the
    receive time: it is part of the idempotency fingerprint, so a redelivery must carry the same."""


class OrderLine(BaseModel):
    """One line of an order: a SKU and a positive unit count."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sku: Sku
    quantity: int = Field(gt=0, le=1_000_000)


class OrderPlaced(_Event):
    """A sale on a channel (or the seller's own checkout): takes units from master."""

    kind: Literal["order_placed"] = "order_placed"
    channel: ChannelId
    order_id: Annotated[str, Field(min_length=1, max_length=200)]
    lines: tuple[OrderLine, ...] = Field(min_length=1, max_length=1000)


class OrderCancelled(_Event):
    """An order is void: every unit it was granted goes back. ``skus`` routes it to their owners."""

    kind: Literal["order_cancelled"] = "order_cancelled"
    channel: ChannelId
    order_id: Annotated[str, Field(min_length=1, max_length=200)]
    skus: tuple[Sku, ...] = Field(min_length=1, max_length=1000)


class StockSet(_Event):
    """An absolute count, e.g. after a stock take."""

    kind: Literal["stock_set"] = "stock_set"
    sku: Sku
    quantity: int = Field(ge=0, le=10**12)
    reason: str = "set"


class StockAdjusted(_Event):
    """A relative change with a reason (restock, return, damage); refused if it would go below zero."""

    kind: Literal["stock_adjusted"] = "stock_adjusted"
    sku: Sku
    delta: int = Field(ge=-(10**12), le=10**12)
    reason: str = "adjust"


class ChannelQuantityReported(_Event):
    """A channel says what it lists: a drift signal for reconciliation, never a decision on stock."""

    kind: Literal["channel_quantity_reported"] = "channel_quantity_reported"
    channel: ChannelId
    sku: Sku
    quantity: int


class OrderReserve(_Event):
    """Step 1 of an all-or-nothing order (``POST /v1/orders``): hold the units of every line, or none."""

    kind: Literal["order_reserve"] = "order_reserve"
    txn: Annotated[str, Field(min_length=1, max_length=400)]
    channel: ChannelId
    order_id: Annotated[str, Field(min_length=1, max_length=200)]
    lines: tuple[OrderLine, ...] = Field(min_length=1, max_length=1000)


class _Settle(_Event):
    txn: Annotated[str, Field(min_length=1, max_length=400)]
    channel: ChannelId
    order_id: Annotated[str, Field(min_length=1, max_length=200)]
    skus: tuple[Sku, ...] = Field(min_length=1, max_length=1000)


class OrderCommit(_Settle):
    """Step 2, every line held: turn the held units into a sale."""

    kind: Literal["order_commit"] = "order_commit"


class OrderRelease(_Settle):
    """Step 2, some line short (or the order expired): give the held units back."""

    kind: Literal["order_release"] = "order_release"


Event = Annotated[
    OrderPlaced
    | OrderCancelled
    | StockSet
    | StockAdjusted
    | ChannelQuantityReported
    | OrderReserve
    | OrderCommit
    | OrderRelease,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_EVENTS_ADAPTER: TypeAdapter[list[Event]] = TypeAdapter(list[Event])


def validate_events(raw: list[Any]) -> list[WireEvent]:
    """Validate untrusted event dicts and return their wire form; raises ``pydantic.ValidationError``."""
    return [e.model_dump(mode="json") for e in _EVENTS_ADAPTER.validate_python(raw)]
