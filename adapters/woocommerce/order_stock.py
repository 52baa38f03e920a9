"""What WooCommerce core holds out of stock for an order, read from its REST v3 order: a versioned document.

Core's stock functions, which the mapping follows (woocommerce/woocommerce, plugins/woocommerce/includes/):

- ``wc_maybe_reduce_stock_levels`` (wc-stock-functions.php), hooked on ``woocommerce_payment_complete``
  and ``woocommerce_order_status_{completed,processing,on-hold}``: once per order (the data store's
  ``stock_reduced`` flag, ``_order_stock_reduced``) ``wc_reduce_stock_levels`` takes each line item's
  quantity and records it on the item as ``_reduced_stock``.
- ``wc_maybe_increase_stock_levels`` (same file), hooked on ``woocommerce_order_status_{cancelled,pending}``:
  when the flag is set, ``wc_increase_stock_levels`` gives back each item's ``_reduced_stock`` (whatever
  refunds left of it) and deletes the meta; the flag is cleared. So ``pending`` never takes anything, and
  going back to pending returns what the order held.
- Nothing is hooked on ``failed`` (a prior reduction stays; a failed order paid later reaches processing
  and is reduced then) nor on ``refunded`` (``wc_order_fully_refunded``, wc-order-functions.php, only
  records a refund of the remaining amount, without items and without restocking).
- ``wc_create_refund`` (wc-order-functions.php) restocks only with ``restock_items`` (REST
  ``POST /orders/{id}/refunds`` ``api_restock``; the admin's "Restock refunded items" box):
  ``wc_restock_refunded_items`` returns the refunded quantity of each item whose stock was reduced,
  lowers its ``_reduced_stock`` by it and adds it to ``_restock_refunded_items``; then the order's
  ``date_modified`` is set and the order saved, which fires ``order.updated`` with no status change.
- ``wc_maybe_adjust_line_item_product_stock`` (admin/wc-admin-functions.php): editing the quantity of
  an item of a reduced order moves stock by the difference and keeps ``_reduced_stock`` in step.

What the REST order (the webhook payload is the REST v3 order, ``WC_Webhook::build_payload``) tells:
every line item's ``meta_data`` lists all of the item's meta, ``_reduced_stock`` and
``_restock_refunded_items`` included (``WC_REST_Orders_V2_Controller::get_order_item_data`` returns
``$item->get_data()``; these keys are not internal meta of the item data store). ``quantity`` stays what
was ordered; refunds appear only as ``refunds[] = {id, reason, total}``. Refunded quantities per item are
only in ``GET /orders/{id}/refunds`` (negative ``quantity`` and ``_refunded_item_id``), and no refund says
whether it restocked (``api_restock`` is a write-only request field). The stock held is nonetheless fully
told by ``_reduced_stock``, so neither webhook nor backfill needs the refunds endpoint (see ``held_units``).

Why ``kept`` is always 0: the ledger's ``kept`` counts units that left an order without going back to
stock, which a cancel then keeps out. In core no such units exist: a refund without restock leaves
``_reduced_stock`` untouched, and a later cancel or return to pending gives all of it back
(``wc_increase_stock_levels``). So every line is sent as ``quantity = units held``, ``kept = 0``, and a
cancel returns everything, as core does.

The version is ``date_modified_gmt`` in milliseconds; core keeps it to the second, so two changes of one
order within the same second carry one version, and the ledger decides the second as ``duplicate_order``
(moves nothing) whichever path brings it. WooCommerce's own delivery queue coalesces deliveries of one
order (``wc_webhook_execute_queue`` schedules one per order and webhook while one is pending, and
``build_payload`` renders the order when it is sent), which makes that rare, not impossible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.base import AdapterError
from adapters.order_payload import build_event, line_quantity, order_id_of, sku_items
from engine.events import OrderCancelled, OrderPlaced, OrderUpdated, WireEvent

REDUCING = ("processing", "on-hold", "completed")
"""Statuses whose hook reduces stock once per order (``wc_maybe_reduce_stock_levels``)."""
RESTORING = ("pending", "cancelled")
"""Statuses whose hook gives back what the order holds (``wc_maybe_increase_stock_levels``)."""
REDUCED_STOCK = "_reduced_stock"
RESTOCKED = "_restock_refunded_items"


@dataclass(frozen=True)
class OrderDoc:
    """One REST order reduced to what master needs: per SKU, the units core holds out of stock.

    ``held`` names only SKUs whose holding is known (see ``held_units``); a SKU it leaves out keeps,
    in the ledger, what an earlier version said. ``skus`` is every SKU on the order.
    """

    order_id: str
    status: str
    version: int
    at: float
    created_ms: int | None
    held: dict[str, int]
    skus: tuple[str, ...]
    skipped: tuple[int, ...]

    @property
    def first(self) -> bool:
        """The order's first version (created and not modified since): an ``order_placed``."""
        return self.created_ms == self.version


def held_units(status: str, item: Mapping[str, Any]) -> int | None:
    """Units core holds out of stock for one line item at this status; ``None``: the payload cannot tell.

    - ``pending``, ``cancelled``: 0 (``wc_maybe_increase_stock_levels``; read from the status, not the
      meta, so a listing read while core is still restoring cannot resurrect what it returns);
    - else ``_reduced_stock`` when the item has it: core's own tally of what it took for the item,
      lowered by restocking refunds and moved by item edits;
    - ``processing``, ``on-hold``, ``completed`` without the meta: the quantity less
      ``_restock_refunded_items`` (core reduces the whole quantity when the order reaches them; an item
      whose product did not manage stock in WooCommerce has no meta, and master still counts its sale);
    - ``failed``, ``refunded`` and other statuses without the meta: unknown (no stock function runs on
      them; the ledger keeps what an earlier version said).
    """
    if status in RESTORING:
        return 0
    reduced = meta_int(item, REDUCED_STOCK)
    if reduced is not None:
        return max(0, reduced)
    if status in REDUCING:
        quantity = item.get("quantity")
        if isinstance(quantity, int) and not isinstance(quantity, bool):
            return max(0, quantity - (meta_int(item, RESTOCKED) or 0))
    return None


def meta_int(item: Mapping[str, Any], key: str) -> int | None:
    """An integer item meta value (``wc_stock_amount`` of it), or None when absent or not a number.

    Item meta reaches the REST API as strings (``"2"``); the last entry of a key wins, as
    ``get_meta($key, true)`` reads it.
    """
    found: Any = None
    meta = item.get("meta_data")
    for entry in meta if isinstance(meta, list) else []:
        if isinstance(entry, dict) and entry.get("key") == key:
            found = entry.get("value")
    if isinstance(found, bool):
        return None
    if isinstance(found, int):
        return found
    if isinstance(found, float) and found.is_integer():
        return int(found)
    if isinstance(found, str):
        try:
            number = float(found.strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() else None
    return None


def version_ms(order: Mapping[str, Any], field: str = "date_modified_gmt") -> int:
    """``date_modified_gmt`` (UTC, no offset, to the second) in milliseconds; AdapterError if unusable."""
    value = order.get(field)
    if not isinstance(value, str) or not value.strip():
        raise AdapterError(f"{field} must be a non-empty string")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise AdapterError(f"{field} must be an ISO 8601 date") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        ms = round(moment.timestamp() * 1000)
    except (OverflowError, OSError):
        raise AdapterError(f"{field} is out of range") from None
    if ms < 0:
        raise AdapterError(f"{field} is before 1970")
    return ms


def order_doc(order: dict[str, Any]) -> OrderDoc:
    """Read one REST v3 order (webhook payload or listed order); AdapterError with a reason if malformed."""
    order_id = order_id_of(order)
    status = order.get("status")
    if not isinstance(status, str) or not status:
        raise AdapterError("status must be a non-empty string")
    version = version_ms(order)
    try:
        created: int | None = version_ms(order, "date_created_gmt")
    except AdapterError:
        created = None
    items, skipped = sku_items(order)
    held: dict[str, int] = {}
    unknown: set[str] = set()
    for index, sku, item in items:
        line_quantity(item, index)  # validated even where the holding comes from the meta
        units = held_units(status, item)
        if units is None:
            unknown.add(sku)
        else:
            held[sku] = held.get(sku, 0) + units
    for sku in unknown:  # a SKU on two items, one of them unknown: its sum is unknown
        held.pop(sku, None)
    skus = tuple(dict.fromkeys(sku for _, sku, _ in items))
    return OrderDoc(order_id, status, version, version / 1000, created, held, skus, tuple(skipped))


def doc_events(channel_id: str, doc: OrderDoc, key: str) -> tuple[list[WireEvent], str]:
    """The events that tell the ledger ``doc``, all under ``key``; and a note when there are none.

    ``cancelled`` -> ``order_cancelled`` (with ``version``, restocking: every line holds 0 afterwards,
    as after ``wc_increase_stock_levels``; at an equal version the ledger lets the cancel win);
    otherwise an ``order_placed`` (first version) or ``order_updated`` naming the SKUs whose holding is
    known, ``pending`` included (all 0: nothing taken, or everything given back).
    """
    common = {"key": key, "channel": channel_id, "order_id": doc.order_id, "at": doc.at}
    if not doc.skus:
        return [], "no sku lines"
    if doc.status == "cancelled":
        event = build_event(OrderCancelled, skus=list(doc.skus), version=doc.version, restock=True, **common)
        return [event], ""
    if not doc.held:
        return [], f"{doc.status}: no stock change (core runs no stock function on it, no reduction shown)"
    lines = [{"sku": sku, "quantity": units, "kept": 0} for sku, units in doc.held.items()]
    if doc.first:
        return [build_event(OrderPlaced, version=doc.version, lines=lines, **common)], ""
    reason = doc.status[:100]
    return [build_event(OrderUpdated, version=doc.version, lines=lines, reason=reason, **common)], ""
