"""Walmart Orders API orders as versioned documents for reconciliation's backfill.

``GET /v3/orders?lastModifiedStartDate=<ISO>&limit=N`` (developer.walmart.com "Get all orders";
limit 1..200) answers ``{list {meta {totalCount, limit, nextCursor}, elements {order [...]}}}``;
``nextCursor`` is a query string for the next ``GET /v3/orders``. An order: ``purchaseOrderId``,
``orderDate`` (epoch ms), ``orderLines {orderLine [{lineNumber, item {sku}, orderLineQuantity
{unitOfMeasure, amount}, statusDate, orderLineStatuses {orderLineStatus [{status, statusQuantity
{amount}}]}}]}``. Each SKU holds its lines' units less those ``Cancelled``; an order whose every
unit is cancelled is a cancel (units restocked, as Walmart's cancel releases them). The version is
the newest ``statusDate`` (else ``orderDate``) in ms, the clock the events' ``eventTime`` is read
on (unverified that the two coincide: a listing after its event restates it, which moves nothing).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from engine.reconcile import ChannelOrder

PATH = "/v3/orders"


def _amount(holder: Any) -> int:
    raw = holder.get("amount") if isinstance(holder, dict) else None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return 0
    return int(value) if value.is_finite() and value == value.to_integral_value() and value > 0 else 0


def _ms(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def line_held(line: dict[str, Any]) -> int:
    """Units a line still holds: ``orderLineQuantity`` less its ``Cancelled`` status quantities."""
    ordered = _amount(line.get("orderLineQuantity"))
    statuses = (line.get("orderLineStatuses") or {}).get("orderLineStatus") or []
    cancelled = sum(
        _amount(s.get("statusQuantity"))
        for s in statuses
        if isinstance(s, dict) and str(s.get("status", "")).upper() in ("CANCELLED", "CANCELED")
    )
    return max(0, ordered - cancelled)


def channel_order(order: dict[str, Any]) -> ChannelOrder | None:
    """One listed order as a versioned document; None when it lacks an id, a date or a SKU line."""
    order_id, placed = order.get("purchaseOrderId"), _ms(order.get("orderDate"))
    if not isinstance(order_id, str) or not order_id or placed is None:
        return None
    raw = (order.get("orderLines") or {}).get("orderLine") or []
    held: dict[str, int] = {}
    newest = placed
    for line in raw if isinstance(raw, list) else []:
        sku = (line.get("item") or {}).get("sku") if isinstance(line, dict) else None
        if not isinstance(sku, str) or not sku.strip():
            continue
        held[sku] = held.get(sku, 0) + line_held(line)
        newest = max(newest, _ms(line.get("statusDate")) or placed)
    if not held:
        return None
    cancelled = not any(held.values())
    return ChannelOrder(
        order_id=order_id,
        lines=tuple(held.items()),
        at=placed / 1000,
        modified=newest / 1000,
        cancelled=cancelled,
        version=newest,
        restock=True,
    )
