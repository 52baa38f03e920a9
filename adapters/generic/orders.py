"""A generic channel's order, read with its ``inbound`` paths: a versioned document and its events.

Used by both the webhook (``inbound``) and the orders-since read (``reconcile``), so a delivered
and a listed order are the same document. The version is the order's last-modified time in ms
(``inbound.version``, in ``inbound.time_format``); each line says what it still claims
(``quantity``, 0 for a removed line) and optionally what left it without restocking (``kept``).
The status (``inbound.statuses``) picks the event: ``placed`` -> ``order_placed``, ``updated`` ->
``order_updated``, ``cancelled`` / ``cancelled_no_restock`` -> ``order_cancelled`` with or without
restock, ``ignored`` -> nothing. Without a status path every order is ``placed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterError
from adapters.generic.jsonpath import MISSING, find, first
from adapters.generic.keys import InboundSpec, StatusClass, TimeFormat
from adapters.order_payload import build_event
from adapters.reading import epoch
from engine.events import OrderCancelled, OrderPlaced, OrderUpdated, WireEvent
from engine.reconcile import ChannelOrder

MAX_LINES = 1000


@dataclass(frozen=True)
class Order:
    order_id: str
    version: int
    at: float
    status: str
    cls: StatusClass
    lines: dict[str, tuple[int, int]]
    """SKU -> (units still claimed, units kept), summed over the order's lines of that SKU."""
    skipped: int
    """Lines without a SKU (left out, named in the note)."""


def moment(value: Any, fmt: TimeFormat) -> float | None:
    """Unix seconds from a configured time value, or None when it is not one."""
    if fmt == "iso8601":
        return epoch(value)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value) / (1000.0 if fmt == "unix_ms" else 1.0)


def classify(spec: InboundSpec, order: Any) -> tuple[str, StatusClass]:
    if spec.status is None:
        return "", "placed"
    status = first(order, spec.status)
    if isinstance(status, bool) or not isinstance(status, str | int) or status == "":
        raise AdapterError(f"{spec.status} (status) must be a non-empty string")
    name = str(status)
    cls = spec.statuses.get(name)
    if cls is None:
        if spec.unknown_status == "refused":
            raise AdapterError(f"status {name[:60]!r} is not in statuses")
        return name, "ignored"
    return name, cls


def read_order(spec: InboundSpec, order: Any) -> Order:
    """One order object; ``AdapterError`` naming the configured path that did not fit."""
    order_id = first(order, spec.order_id)
    if isinstance(order_id, bool) or not isinstance(order_id, str | int) or order_id == "":
        raise AdapterError(f"{spec.order_id} (order_id) must be a non-empty string or integer")
    modified = moment(first(order, spec.version), spec.time_format)
    if modified is None:
        raise AdapterError(f"{spec.version} (version) must be a {spec.time_format} time")
    at = moment(first(order, spec.placed_at), spec.time_format) if spec.placed_at else None
    status, cls = classify(spec, order)
    lines, skipped = read_lines(spec, order)
    return Order(
        str(order_id), round(modified * 1000), modified if at is None else at, status, cls, lines, skipped
    )


def read_lines(spec: InboundSpec, order: Any) -> tuple[dict[str, tuple[int, int]], int]:
    raw = find(order, spec.lines)
    if len(raw) > MAX_LINES:
        raise AdapterError(f"{spec.lines} (lines): more than {MAX_LINES}")
    lines: dict[str, tuple[int, int]] = {}
    skipped = 0
    for i, line in enumerate(raw):
        sku = first(line, spec.sku)
        if sku is MISSING or sku is None or (isinstance(sku, str) and not sku.strip()):
            skipped += 1  # marketplaces send null or "" for an item without a SKU
            continue
        if not isinstance(sku, str):
            raise AdapterError(f"line {i}: {spec.sku} (sku) must be a string")
        quantity = units(line, spec.quantity, i, "quantity")
        kept = units(line, spec.kept, i, "kept") if spec.kept else 0
        held, was_kept = lines.get(sku, (0, 0))
        lines[sku] = (held + quantity, was_kept + kept)
    return lines, skipped


def units(line: Any, path: str, index: int, name: str) -> int:
    value = first(line, path)
    if name == "kept" and value in (MISSING, None):
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AdapterError(f"line {index}: {path} ({name}) must be a non-negative integer")
    return value


def event_key(order: Order, event_id: str | None) -> str:
    """``generic:<event id>`` when the delivery has one, else one key per state of the order."""
    if event_id is not None:
        return f"generic:{event_id}"
    return f"generic:{order.order_id}:{order.version}:{order.cls}"


def events(channel_id: str, order: Order, key: str) -> tuple[list[WireEvent], str]:
    """The events telling the ledger this state of the order, and a note when there are none."""
    note = f"skipped {order.skipped} lines without a SKU" if order.skipped else ""
    if order.cls == "ignored":
        return [], f"ignored status {order.status[:60]!r}"
    if not order.lines:
        return [], note or "no line to decide"
    common = {"key": key, "channel": channel_id, "order_id": order.order_id, "at": order.at}
    if order.cls in ("cancelled", "cancelled_no_restock"):
        restock = order.cls == "cancelled"
        cancel = build_event(
            OrderCancelled, skus=list(order.lines), version=order.version, restock=restock, **common
        )
        return [cancel], note
    lines = [{"sku": sku, "quantity": q, "kept": k} for sku, (q, k) in order.lines.items()]
    if order.cls == "placed":
        return [build_event(OrderPlaced, version=order.version, lines=lines, **common)], note
    reason = order.status[:100] or "updated"
    return [build_event(OrderUpdated, version=order.version, lines=lines, reason=reason, **common)], note


def channel_order(spec: InboundSpec, raw: Any) -> ChannelOrder | None:
    """A listed order as a versioned document for backfill; None when it cannot be read or is ignored."""
    try:
        order = read_order(spec, raw)
    except AdapterError:
        return None
    if order.cls == "ignored" or not order.lines:
        return None
    return ChannelOrder(
        order_id=order.order_id,
        lines=tuple((sku, q) for sku, (q, _) in order.lines.items()),
        at=order.at,
        modified=order.version / 1000,
        cancelled=order.cls.startswith("cancelled"),
        version=order.version,
        kept=tuple(k for _, k in order.lines.values()),
        restock=order.cls == "cancelled",
    )
