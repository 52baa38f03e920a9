"""A Shopify order as a versioned document: what each SKU line still holds out of stock.

One mapping serves the webhooks (REST-shaped order bodies) and backfill (GraphQL ``Order`` nodes):
both are read into a ``ShopifyOrder`` first, then turned into ``engine.events.DocLine``s. Per line
item with a SKU (facts, with sources, in ``../shared/MARKETPLACES.md``, Shopify):

- ``quantity`` of the document is Shopify's ``current_quantity`` / ``currentQuantity``, "the number
  of units ordered, excluding refunded and removed units" (GraphQL ``LineItem.currentQuantity``;
  on REST since 2024-01, changelog "Addition of LineItem current_quantity on Admin REST API"). An
  order without it (REST before 2024-01) falls back to ``quantity`` minus every refunded unit, the
  method that changelog tells apps to migrate away from.
- ``kept`` is what left the order without going back to stock: refund line items whose
  ``restock_type`` is ``no_restock`` (``RefundLineItemRestockType``: ``cancel``, ``return`` and the
  deprecated ``legacy_restock`` restock; ``no_restock`` does not). An unknown restock type counts as
  kept (holding units is the safe side: it can undersell, never oversell).
- Units gone from ``current_quantity`` that no refund line item names were removed by an order edit.
  ``orderEditSetQuantity(restock:)`` decides whether they went back to stock, but no order payload
  we know of records that choice (``orders/edited`` carries only ``{id, delta}`` per line): the
  channel extra ``edit_removals_restock`` (default true) says what to assume. If they in fact stayed
  out of stock, master is that many units too high for that SKU. This is the one flow the payload
  cannot decide (see the README).
- A line removed entirely stays in the order with ``current_quantity`` 0 ("the item still exists as
  a data structure with zero quantity", ``orderEditSetQuantity``), so removed lines are always sent,
  as the ledger requires.

Version: ``updated_at`` in integer milliseconds. Shopify's timestamps are whole seconds, so two
changes of one order within one second share a version and the second moves nothing (the ledger
answers ``duplicate_order``); nothing in the signed body orders them more finely.

A cancelled order (``cancelled_at`` set) is sent as its document and then an ``order_cancelled`` at
the same version (the ledger lets a cancel win at an equal version). The cancel restocked when every
SKU line's ``current_quantity`` is 0 and a restocking refund line item exists: Shopify records the
cancel's restock as refund line items of type ``cancel`` (a real ``orders/cancelled`` body: lines
at ``current_quantity`` 0 with ``refund_line_items[].restock_type: "cancel"``). Either way the
cancel agrees with the document sent before it, so stock follows the document.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.base import AdapterError

RESTOCKING = frozenset({"return", "cancel", "legacy_restock"})
"""``restock_type`` values that put the refunded units back in stock (lower-cased)."""


@dataclass(frozen=True)
class Item:
    """One line item: Shopify's id (to match refunds), SKU (None: not tracked), ordered and current."""

    line_id: str
    sku: str | None
    quantity: int
    current: int | None


@dataclass(frozen=True)
class RefundLine:
    """One refund line item: the line item it refunds, how many units, and the restock type."""

    line_id: str
    quantity: int
    restock_type: str


@dataclass(frozen=True)
class ShopifyOrder:
    """What the mapping needs of an order, whichever API it came from."""

    order_id: str
    created: float | None
    updated: float
    cancelled: bool
    items: tuple[Item, ...]
    refunds: tuple[RefundLine, ...] = ()
    skipped: tuple[int, ...] = field(default=())
    """Indices of line items without a SKU (left out of the document, named in notes)."""

    @property
    def version(self) -> int:
        return version_of(self.updated)


def version_of(seconds: float) -> int:
    """The order version for ``updated_at`` (unix seconds): integer milliseconds."""
    return round(seconds * 1000)


def doc_lines(order: ShopifyOrder, removals_restock: bool = True) -> list[dict[str, Any]]:
    """``{sku, quantity, kept}`` per line item with a SKU, in line item order (see the module docstring)."""
    back: dict[str, int] = {}
    gone: dict[str, int] = {}
    for r in order.refunds:
        into = back if r.restock_type in RESTOCKING else gone
        into[r.line_id] = into.get(r.line_id, 0) + r.quantity
    out = []
    for item in order.items:
        if item.sku is None:
            continue
        restocked, kept = back.get(item.line_id, 0), gone.get(item.line_id, 0)
        current = item.current if item.current is not None else max(0, item.quantity - restocked - kept)
        left = max(0, item.quantity - current)  # units that left the order, by refund or by edit
        held_back = min(kept, left)
        if not removals_restock:  # removed by an edit, named by no refund: assumed not restocked
            held_back += max(0, left - restocked - kept)
        out.append({"sku": item.sku, "quantity": current, "kept": held_back})
    return out


def cancel_restocked(order: ShopifyOrder) -> bool:
    """Whether the cancel put the order's units back (see the module docstring)."""
    claimed = [i for i in order.items if i.sku is not None]
    none_left = all((i.current if i.current is not None else i.quantity) == 0 for i in claimed)
    return none_left and any(r.restock_type in RESTOCKING for r in order.refunds)


def changed(order: ShopifyOrder) -> bool:
    """The order is no longer as placed: cancelled, refunded, or edited."""
    return (
        order.cancelled
        or bool(order.refunds)
        or any(i.current is not None and i.current != i.quantity for i in order.items)
    )


def reason_of(order: ShopifyOrder) -> str:
    if order.cancelled:
        return "cancel"
    return "refund" if order.refunds else "edit"


# -- reading -----------------------------------------------------------------------------------
def epoch(value: object) -> float | None:
    """Unix seconds from an ISO 8601 string (Shopify always sends an offset; a bare time is UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    except (ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) else None


def gid_tail(value: object) -> str:
    """``gid://shopify/Order/123`` -> ``123``; other strings and integers as they are."""
    text = str(value)
    return text.rsplit("/", 1)[-1] if text.startswith("gid://") else text


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive integer" if minimum > 0 else "a non-negative integer"
        raise AdapterError(f"{where} must be {kind}")
    return value


def _line_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return gid_tail(value)


def refund_lines_rest(refunds: Any) -> tuple[RefundLine, ...]:
    """``refunds[].refund_line_items[]`` of a REST order body (``[]`` when absent)."""
    if refunds is None:
        return ()
    if not isinstance(refunds, list):
        raise AdapterError("refunds must be a list")
    out: list[RefundLine] = []
    for i, refund in enumerate(refunds):
        if not isinstance(refund, dict):
            raise AdapterError(f"refunds[{i}] must be an object")
        out.extend(refund_items_rest(refund.get("refund_line_items"), f"refunds[{i}]."))
    return tuple(out)


def refund_items_rest(items: Any, where: str = "") -> list[RefundLine]:
    """``refund_line_items[]`` of a REST refund: ``{line_item_id | line_item.id, quantity, restock_type}``."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise AdapterError(f"{where}refund_line_items must be a list")
    out = []
    for j, rli in enumerate(items):
        at = f"{where}refund_line_items[{j}]"
        if not isinstance(rli, dict):
            raise AdapterError(f"{at} must be an object")
        embedded = rli.get("line_item")
        line_id = _line_id(rli.get("line_item_id"))
        if line_id is None and isinstance(embedded, dict):
            line_id = _line_id(embedded.get("id"))
        if line_id is None:
            raise AdapterError(f"{at}.line_item_id must be an integer or a string")
        restock = rli.get("restock_type")
        if not isinstance(restock, str):
            raise AdapterError(f"{at}.restock_type must be a string")
        out.append(RefundLine(line_id, _int(rli.get("quantity"), f"{at}.quantity", 0), restock.lower()))
    return out


def current_of(item: Mapping[str, Any], index: int, key: str = "current_quantity") -> int | None:
    value = item.get(key)
    return None if value is None else _int(value, f"line_items[{index}].{key}", 0)


def graphql_order(node: Any) -> ShopifyOrder | None:
    """A GraphQL ``Order`` node as the backfill query selects it (``adapters.shopify.orders_read``);
    None for a node without an id or an ``updatedAt`` (it cannot be versioned)."""
    if not isinstance(node, dict):
        return None
    order_id = node.get("legacyResourceId") or (gid_tail(node["id"]) if node.get("id") else None)
    updated = epoch(node.get("updatedAt"))
    if not order_id or updated is None:
        return None
    items: list[Item] = []
    skipped: list[int] = []
    for i, line in enumerate(_nodes(node.get("lineItems"))):
        sku, qty, current = line.get("sku"), line.get("quantity"), line.get("currentQuantity")
        if (
            type(qty) is not int
            or qty <= 0
            or (current is not None and (type(current) is not int or current < 0))
        ):
            continue
        if not isinstance(sku, str) or not sku.strip():
            skipped.append(i)
            sku = None
        items.append(Item(gid_tail(line.get("id")), sku, qty, current))
    refunds = []
    for refund in node.get("refunds") or []:
        for rli in _nodes((refund or {}).get("refundLineItems")):
            qty, restock = rli.get("quantity"), rli.get("restockType")
            line_id = _line_id((rli.get("lineItem") or {}).get("id"))
            if type(qty) is int and qty >= 0 and isinstance(restock, str) and line_id is not None:
                refunds.append(RefundLine(line_id, qty, restock.lower()))
    return ShopifyOrder(
        str(order_id),
        epoch(node.get("createdAt")),
        updated,
        node.get("cancelledAt") is not None,
        tuple(items),
        tuple(refunds),
        tuple(skipped),
    )


def _nodes(connection: Any) -> Iterable[dict[str, Any]]:
    if not isinstance(connection, dict):
        return []
    nodes = connection.get("nodes")
    if not isinstance(nodes, list):
        nodes = [e.get("node") for e in connection.get("edges") or [] if isinstance(e, dict)]
    return [n for n in nodes if isinstance(n, dict)]
