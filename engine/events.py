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
    """One line of an own-checkout order (``order_reserve``): a SKU and a positive unit count."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sku: Sku
    quantity: int = Field(gt=0, le=1_000_000)


class DocLine(BaseModel):
    """One line of a marketplace order as a version of it describes it.

    ``quantity`` is what the order still claims (ordered, less what was removed or refunded);
    ``kept`` is what left the order without coming back to stock (refunded or cancelled without
    restocking). The units the order keeps out of master are ``quantity + kept``. A line removed
    from the order is sent with ``quantity`` 0 (a line the order no longer names keeps its last
    quantities: the ledger cannot tell "removed" from "not on this delivery").
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    sku: Sku
    quantity: int = Field(ge=0, le=1_000_000)
    kept: int = Field(default=0, ge=0, le=1_000_000)


Version = Annotated[int, Field(ge=0, le=2**63 - 1)]
"""An order's version as its marketplace orders them (``updated_at`` in ms, a sequence number):
per line, a newer version moves stock by the difference, an older or equal one moves nothing."""


class _OrderDoc(_Event):
    channel: ChannelId
    order_id: Annotated[str, Field(min_length=1, max_length=200)]
    version: Version = 0
    lines: tuple[DocLine, ...] = Field(min_length=1, max_length=1000)


class OrderPlaced(_OrderDoc):
    """A sale on a channel (or its first version): takes units from master."""

    kind: Literal["order_placed"] = "order_placed"


class OrderUpdated(_OrderDoc):
    """A newer version of an order: lines edited, added, removed, refunded (restocked or not)."""

    kind: Literal["order_updated"] = "order_updated"
    version: Version
    reason: Annotated[str, Field(max_length=100)] = "edit"


class OrderCancelled(_Event):
    """An order is void for the SKUs it names (``skus`` also routes it to their owners).

    With ``restock`` every unit the order holds of a line goes back, except what earlier refunds
    kept; without it nothing goes back (the units are gone). ``version`` is the marketplace's
    version of the cancelled order; ``None`` (the admin API) cancels over whatever version is held
    and no later version un-cancels it.
    """

    kind: Literal["order_cancelled"] = "order_cancelled"
    channel: ChannelId
    order_id: Annotated[str, Field(min_length=1, max_length=200)]
    skus: tuple[Sku, ...] = Field(min_length=1, max_length=1000)
    version: Version | None = None
    restock: bool = True


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
    | OrderUpdated
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
