"""Canonical events: what every inbound channel and the admin API are normalised into.

The pydantic models are the contract and validate everything that crosses a trust boundary. Inside
the system, batches travel between processes in their JSON wire form (``engine.wire``: ``encode_events``
/ ``decode_events``): orjson decodes a validated event in under a microsecond, while re-validating or
unpickling a model costs 3-6 µs, which is most of the per-decision budget on the hot path.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    TypeAdapter,
    ValidationError,
    model_validator,
)

# the wire helpers live in engine.wire (no pydantic there); re-exported for callers of this module
from engine.wire import STOCK_CAP as STOCK_CAP
from engine.wire import WireEvent as WireEvent
from engine.wire import decode_events as decode_events
from engine.wire import encode_events as encode_events
from engine.wire import event_skus as event_skus

UNSAFE_RULE = "must not contain '/' or control characters"
_UNSAFE = re.compile(r"[/\x00-\x1f\x7f-\x9f]")


def path_safe(value: str) -> str:
    """``value`` if the admin API can name it in a URL path segment; else ``ValueError``.

    Starlette decodes ``%2F`` before routing, so a SKU or order id with ``/`` could be sold but
    never read, set or cancelled by the admin API; control characters (NUL included) garble logs,
    terminals and the CLI's output. Both are refused wherever an id enters.
    """
    if _UNSAFE.search(value):
        raise ValueError(UNSAFE_RULE)
    return value


Sku = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(path_safe)]
OrderId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(path_safe)]
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


_DOC_LINE: TypeAdapter[DocLine] = TypeAdapter(DocLine)
_SKU: TypeAdapter[str] = TypeAdapter(Sku)


class InvalidLine(BaseModel):
    """A marketplace line refused at the edge: its SKU (cut to 200 characters) and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sku: str | None
    reason: str


def _set_aside(data: Any, field: str, check: TypeAdapter[Any]) -> Any:
    """Move the items of ``data[field]`` that ``check`` refuses to ``data["invalid"]``.

    A marketplace has sold every line of a delivery already: one bad line must not hold back the
    good ones (refusing the delivery makes the sender retry it, then drop the subscription). When
    no item passes, ``data`` is returned unchanged, so validation refuses it naming the first bad
    line (the delivery then gets 400).
    """
    if not isinstance(data, dict) or not isinstance(data.get(field), list | tuple):
        return data
    good: list[Any] = []
    bad: list[dict[str, Any]] = []
    for item in data[field]:
        try:
            good.append(check.validate_python(item))
        except ValidationError as exc:
            bad.append(_invalid(item, exc))
    if not bad or not good:
        return data
    return {**data, field: good, "invalid": [*data.get("invalid", ()), *bad]}


def _retry_without_bad(
    data: Any, handler: ModelWrapValidatorHandler[Any], field: str, check: TypeAdapter[Any]
) -> Any:
    """Validate ``data``; on failure, once more with its bad ``field`` items set aside (a delivery
    without bad lines, nearly all of them, is validated once, as before)."""
    try:
        return handler(data)
    except ValidationError:
        retry = _set_aside(data, field, check)
        if retry is data:
            raise
        return handler(retry)


def _invalid(item: Any, exc: ValidationError) -> dict[str, Any]:
    sku = item.get("sku") if isinstance(item, dict) else item
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "sku"
    return {"sku": sku[:200] if isinstance(sku, str) else None, "reason": f"{where}: {err['msg']}"}


class _SetsAside(BaseModel):
    """An event whose bad lines are set aside (``invalid``) rather than refusing it whole.

    ``invalid`` is left out of the wire form when empty, so events without bad lines keep the
    fingerprints their idempotency records were written with."""

    invalid: tuple[InvalidLine, ...] = Field((), exclude_if=lambda lines: not lines)


Version = Annotated[int, Field(ge=0, le=2**63 - 1)]
"""An order's version as its marketplace orders them (``updated_at`` in ms, a sequence number):
per line, a newer version moves stock by the difference, an older or equal one moves nothing."""


class _OrderDoc(_Event, _SetsAside):
    channel: ChannelId
    order_id: OrderId
    version: Version = 0
    lines: tuple[DocLine, ...] = Field(min_length=1, max_length=1000)

    @model_validator(mode="wrap")
    @classmethod
    def _bad_lines(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        return _retry_without_bad(data, handler, "lines", _DOC_LINE)


class OrderPlaced(_OrderDoc):
    """A sale on a channel (or its first version): takes units from master."""

    kind: Literal["order_placed"] = "order_placed"


class OrderUpdated(_OrderDoc):
    """A newer version of an order: lines edited, added, removed, refunded (restocked or not)."""

    kind: Literal["order_updated"] = "order_updated"
    version: Version
    reason: Annotated[str, Field(max_length=100)] = "edit"


class OrderCancelled(_Event, _SetsAside):
    """An order is void for the SKUs it names (``skus`` also routes it to their owners).

    With ``restock`` every unit the order holds of a line goes back, except what earlier refunds
    kept; without it nothing goes back (the units are gone). ``version`` is the marketplace's
    version of the cancelled order; ``None`` (the admin API) cancels over whatever version is held
    and no later version un-cancels it.
    """

    kind: Literal["order_cancelled"] = "order_cancelled"
    channel: ChannelId
    order_id: OrderId
    skus: tuple[Sku, ...] = Field(min_length=1, max_length=1000)
    version: Version | None = None
    restock: bool = True

    @model_validator(mode="wrap")
    @classmethod
    def _bad_skus(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        return _retry_without_bad(data, handler, "skus", _SKU)


class StockSet(_Event):
    """An absolute count, e.g. after a stock take."""

    kind: Literal["stock_set"] = "stock_set"
    sku: Sku
    quantity: int = Field(ge=0, le=STOCK_CAP)
    reason: str = "set"


class StockAdjusted(_Event):
    """A relative change with a reason (restock, return, damage); refused if it would go below zero."""

    kind: Literal["stock_adjusted"] = "stock_adjusted"
    sku: Sku
    delta: int = Field(ge=-STOCK_CAP, le=STOCK_CAP)
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
    order_id: OrderId
    lines: tuple[OrderLine, ...] = Field(min_length=1, max_length=1000)


class _Settle(_Event):
    txn: Annotated[str, Field(min_length=1, max_length=400)]
    channel: ChannelId
    order_id: OrderId
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
