"""Walmart order events as canonical events.

Envelope (developer.walmart.com "PO_CREATED" event; MARKETPLACES.md, Walmart): ``{source {eventType,
eventTime, eventId}, payload {purchaseOrderId, customerOrderId, orderDate, orderLines [{lineNumber,
sku, quantity {unitOfMeasure, measurementValue}}]}}``; ``measurementValue`` is a numeric string and
there is no ``amount``. ``source.eventId`` is the idempotency key, ``source.eventTime`` (ms) the
order's version. ``ORDER_UPDATES`` carries ``payload.subEventType``:

- ``PO_CREATED``: the order's first version (``order_placed``), as the ``PO_CREATED`` event;
- ``PO_LINE_AUTOCANCELLED``: lines Walmart cancelled (not shipped in time): ``order_updated`` with
  each SKU's units on lines still open (``order_cancelled`` when none is), units restocked;
- ``FRAUD_CANCEL``: the whole order void, ``order_cancelled`` with restock;
- ``INTENT_TO_CANCEL``: the buyer asks; noted only, units held until Walmart cancels.

Unverified, each one function: ``line_units`` (which ``unitOfMeasure`` names count as units, and a
fractional value is refused), ``line_cancelled`` (how an ``ORDER_UPDATES`` payload marks a cancelled
line: its ``orderLineStatus`` or ``status`` is ``Cancelled``; Walmart's page shows no example),
``event_version`` (``eventTime`` as ISO 8601 or epoch ms).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.base import AdapterError, Inbound
from adapters.order_payload import build_event, decode_object
from adapters.reading import epoch
from engine.events import OrderCancelled, OrderPlaced, OrderUpdated

PO_CREATED = "PO_CREATED"
ORDER_UPDATES = "ORDER_UPDATES"
AUTOCANCELLED = "PO_LINE_AUTOCANCELLED"
INTENT_TO_CANCEL = "INTENT_TO_CANCEL"
FRAUD_CANCEL = "FRAUD_CANCEL"
UNITS = frozenset({"EACH", "EA"})
"""``unitOfMeasure`` values counted one unit each (Walmart's examples show ``EACH``)."""
CANCELLED = frozenset({"CANCELLED", "CANCELED"})


def line_units(line: dict[str, Any], index: int) -> int:
    """Units of one order line: ``quantity.measurementValue``, a numeric string of a whole number."""
    quantity = line.get("quantity")
    if not isinstance(quantity, dict):
        raise AdapterError(f"orderLines[{index}].quantity must be an object")
    unit = quantity.get("unitOfMeasure")
    if not isinstance(unit, str) or unit.upper() not in UNITS:
        raise AdapterError(f"orderLines[{index}].quantity.unitOfMeasure {str(unit)[:20]!r} is not EACH")
    raw = quantity.get("measurementValue")
    try:
        value = Decimal(raw.strip()) if isinstance(raw, str) else None
    except InvalidOperation:
        value = None
    if (
        value is None
        or not value.is_finite()
        or value != value.to_integral_value()
        or not 0 <= value <= 10**6
    ):
        raise AdapterError(f"orderLines[{index}].quantity.measurementValue must be a whole number string")
    return int(value)


def line_cancelled(line: dict[str, Any]) -> bool:
    status = line.get("orderLineStatus", line.get("status"))
    return isinstance(status, str) and status.upper() in CANCELLED


def event_version(source: dict[str, Any]) -> int:
    """``eventTime`` in ms: epoch ms as Walmart's order dates are written, or ISO 8601."""
    raw = source.get("eventTime")
    if type(raw) is int and raw > 0:
        return raw
    at = epoch(raw)
    if at is None:
        raise AdapterError("source.eventTime missing or not a time")
    return round(at * 1000)


def normalise(channel_id: str, body: bytes) -> Inbound:
    envelope = decode_object(body)
    source, payload = envelope.get("source"), envelope.get("payload")
    if not isinstance(source, dict) or not isinstance(payload, dict):
        raise AdapterError("source and payload must be objects")
    event_id = source.get("eventId")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 200:
        raise AdapterError("source.eventId missing")
    kind = source.get("eventType")
    sub = payload.get("subEventType") if kind == ORDER_UPDATES else PO_CREATED if kind == PO_CREATED else None
    if sub is None:
        return Inbound(note=f"ignored event type {str(kind)[:60]}")
    if sub == INTENT_TO_CANCEL:
        return Inbound(note="buyer intends to cancel: units held until Walmart cancels the order")
    if sub not in (PO_CREATED, AUTOCANCELLED, FRAUD_CANCEL):
        return Inbound(note=f"ignored sub-event {str(sub)[:60]}")
    order_id = payload.get("purchaseOrderId")
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        order_id = str(order_id)
    if not isinstance(order_id, str) or not order_id:
        raise AdapterError("payload.purchaseOrderId missing")
    version = event_version(source)
    held = _held(payload.get("orderLines"))
    common = {"channel": channel_id, "order_id": order_id, "version": version, "at": version / 1000}
    key = f"walmart:{event_id}"
    if sub == FRAUD_CANCEL or (sub == AUTOCANCELLED and not any(held.values())):
        event = build_event(OrderCancelled, key=f"{key}:cancelled", skus=list(held), restock=True, **common)
        return Inbound(events=[event], note="cancelled")
    lines = [{"sku": sku, "quantity": q} for sku, q in held.items()]
    if sub == PO_CREATED:
        return Inbound(events=[build_event(OrderPlaced, key=key, lines=lines, **common)])
    event = build_event(OrderUpdated, key=key, lines=lines, reason="lines auto-cancelled", **common)
    return Inbound(events=[event], note="lines cancelled")


def _held(raw: Any) -> dict[str, int]:
    """SKU -> units on the order's open lines (lines of one SKU summed; a cancelled line holds 0)."""
    if isinstance(raw, dict):  # the Orders API's shape, {"orderLine": [...]}, should a sender use it
        raw = raw.get("orderLine")
    if not isinstance(raw, list) or not raw:
        raise AdapterError("payload.orderLines must be a non-empty list")
    held: dict[str, int] = {}
    for i, line in enumerate(raw):
        if not isinstance(line, dict):
            raise AdapterError(f"orderLines[{i}] must be an object")
        sku = line.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            raise AdapterError(f"orderLines[{i}].sku missing")
        units = line_units(line, i)
        held[sku] = held.get(sku, 0) + (0 if line_cancelled(line) else units)
    return held
