"""The simulated WooCommerce store's orders and the stock core moves for them.

Each rule below is a function of WooCommerce core (woocommerce/woocommerce, plugins/woocommerce/includes/),
applied to the simulator's own stock (the ``SimulatedStore`` listings) exactly as core applies it:

- status hooks (``WC_Order::status_transition`` fires ``woocommerce_order_status_<new>``):
  ``wc_maybe_reduce_stock_levels`` on processing, on-hold and completed (and on
  ``woocommerce_payment_complete``), once per order (the ``stock_reduced`` flag), through
  ``wc_reduce_stock_levels``, which skips items already carrying a truthy ``_reduced_stock`` and
  products not managing stock, takes the item quantity (stock may go below zero: core does not check it
  when payment arrives) and records ``_reduced_stock``; ``wc_maybe_increase_stock_levels`` on cancelled
  and pending, only if the flag is set, through ``wc_increase_stock_levels``, which returns each truthy
  ``_reduced_stock`` and deletes it, then clears the flag (all wc-stock-functions.php). Nothing runs
  on failed or refunded.
- refunds (``wc_create_refund``, wc-order-functions.php): a refund object with negative item
  quantities and ``_refunded_item_id``; with ``restock_items`` (REST ``api_restock``, default true in
  ``WC_REST_Order_Refunds_Controller``) ``wc_restock_refunded_items`` returns each refunded quantity of
  an item whose ``_reduced_stock`` is truthy, lowers that meta by it and adds it to
  ``_restock_refunded_items``; a refund that leaves nothing to refund sets the status to refunded
  (``woocommerce_order_fully_refunded``); then ``date_modified`` is set and the order saved.
- dates (``WC_Data::save`` through the data store): every change stamps ``date_modified``, to the
  second.

PHP truthiness matters: ``_reduced_stock`` of ``"0"`` (a fully restocked item) is falsy, so a later
cancel skips the item and a later reduction takes its whole quantity again, as core does.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.sim.core import SimOrder, SimulatedStore
from adapters.woocommerce.sim.catalog import WooCatalog, wc_date

REDUCED_STOCK = "_reduced_stock"
RESTOCKED = "_restock_refunded_items"
REDUCING = ("processing", "on-hold", "completed")
RESTORING = ("cancelled", "pending")
STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
)
"""``wc_get_order_statuses`` without the ``wc-`` prefix (checkout-draft: the block checkout's drafts)."""
FIRST_FLOW_ORDER = 5_000_001
"""Orders placed through the REST API or the flows get ids from here; shopper sales keep the store's."""


class OrderError(ValueError):
    """A request core refuses: ``code`` and ``status`` become the WP REST error."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


@dataclass
class WooItem:
    item_id: int
    sku: str
    product_id: int
    variation_id: int
    quantity: int
    meta: dict[str, int] = field(default_factory=dict)
    refunded: int = 0


@dataclass
class WooRefund:
    refund_id: int
    created: int
    reason: str
    lines: dict[int, int]
    """item id -> quantity refunded."""


@dataclass
class WooOrder:
    order_id: int
    status: str
    created: int
    modified: int
    items: list[WooItem]
    stock_reduced: bool = False
    refunds: list[WooRefund] = field(default_factory=list)
    paid: int | None = None


class WooOrders:
    """The order book. Thread-safe: its own lock, then the store's (never the other way round).

    Shopper sales (``SimulatedStore.try_sell`` took their stock at checkout, as a paid checkout's
    ``woocommerce_payment_complete`` does) join the book on first sight as processing orders whose
    items carry ``_reduced_stock``. ``clock`` stamps dates (tests pass one that steps, so that
    successive changes fall in different seconds without waiting).
    """

    def __init__(
        self,
        store: SimulatedStore,
        catalog: WooCatalog,
        clock: Callable[[], float],
        first_order_id: int = FIRST_FLOW_ORDER,
    ) -> None:
        self.store, self.catalog, self.clock = store, catalog, clock
        self.lock = threading.RLock()
        self.orders: dict[int, WooOrder] = {}
        self._next_order = first_order_id
        self._next_item = 1
        self._next_refund = 9_000_001
        self._mirrored = 0

    def reset(self) -> None:
        with self.lock:
            self.orders.clear()
            self._mirrored = 0

    def _now(self) -> int:
        return math.floor(self.clock())

    # -- shopper sales ---------------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring every shopper sale the book has not seen into it."""
        with self.lock:
            with self.store.lock:
                new = self.store.orders[self._mirrored :]
                self._mirrored = len(self.store.orders)
            for sale in new:
                self._adopt(sale)

    def sale(self, sale: SimOrder) -> WooOrder:
        """The book's order for a shopper sale."""
        with self.lock:
            found = self.orders.get(sale.order_id)
            if found is None:
                self.sync()
                found = self.orders.get(sale.order_id) or self._adopt(sale)
            return found

    def _adopt(self, sale: SimOrder) -> WooOrder:
        t = math.floor(sale.t)
        items = [self._item(sku, qty) for sku, qty in sale.lines]
        with self.store.lock:
            for item in items:
                listing = self.store.listings.get(item.sku)
                if listing is not None and listing.manage_stock:
                    item.meta[REDUCED_STOCK] = item.quantity
        order = WooOrder(sale.order_id, "processing", t, t, items, stock_reduced=True, paid=t)
        self.orders[sale.order_id] = order
        return order

    def _item(self, sku: str, quantity: int) -> WooItem:
        pid, vid = self.catalog.line_ids(sku)
        self._next_item += 1
        return WooItem(self._next_item, sku, pid, vid, quantity)

    # -- core's order operations ---------------------------------------------------------------------

    def get(self, order_id: int) -> WooOrder:
        with self.lock:
            self.sync()
            order = self.orders.get(order_id)
            if order is None:
                raise OrderError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
            return order

    def create(
        self, lines: list[tuple[str, int]], status: str = "pending", set_paid: bool = False
    ) -> WooOrder:
        """A checkout or ``POST /orders``: the order starts ``status`` (pending: nothing reduced);
        ``set_paid`` then completes payment (``WC_Order::payment_complete``: processing, and the
        ``woocommerce_payment_complete`` hook reduces stock)."""
        if not lines or any(q <= 0 for _, q in lines):
            raise OrderError("woocommerce_rest_invalid_line_items", "Line items need a positive quantity.")
        if status not in STATUSES:
            raise OrderError("rest_invalid_param", "Invalid parameter(s): status")
        with self.lock:
            unknown = [sku for sku, _ in lines if sku not in self.store.listings]
            if unknown:
                raise OrderError("woocommerce_rest_invalid_product_id", f"Unknown SKU {unknown[0]}.")
            now = self._now()
            order = WooOrder(self._next_order, "pending", now, now, [self._item(s, q) for s, q in lines])
            self._next_order += 1
            self.orders[order.order_id] = order
            if status != "pending":
                self._transition(order, status)
            if set_paid:
                self.pay(order.order_id)
            return order

    def pay(self, order_id: int) -> WooOrder:
        """``WC_Order::payment_complete``: paid, processing, and stock reduced (once)."""
        with self.lock:
            order = self.get(order_id)
            order.paid = self._now()
            self.set_status(order_id, "processing")
            self._maybe_reduce(order)  # the woocommerce_payment_complete hook
            return order

    def set_status(self, order_id: int, status: str) -> WooOrder:
        """``WC_Order::set_status`` + ``save``: the status hooks run; the date moves. Same status: no-op."""
        if status not in STATUSES:
            raise OrderError("rest_invalid_param", "Invalid parameter(s): status")
        with self.lock:
            order = self.get(order_id)
            if order.status != status:
                order.modified = max(order.modified, self._now())
                self._transition(order, status)
            return order

    def _transition(self, order: WooOrder, status: str) -> None:
        order.status = status
        if status in REDUCING:
            self._maybe_reduce(order)
        elif status in RESTORING:
            self._maybe_increase(order)

    def refund(
        self, order_id: int, lines: dict[int, int], restock: bool = True, reason: str = ""
    ) -> WooRefund:
        """``wc_create_refund``: a refund of ``lines`` (item id -> quantity), restocking when asked."""
        with self.lock:
            order = self.get(order_id)
            items = {item.item_id: item for item in order.items}
            for item_id, qty in lines.items():
                item = items.get(item_id)
                if item is None or qty <= 0 or qty > item.quantity - item.refunded:
                    raise OrderError(
                        "woocommerce_rest_cannot_create_order_refund", "Invalid refund quantity.", 500
                    )
            self._next_refund += 1
            refund = WooRefund(self._next_refund, self._now(), reason, dict(lines))
            order.refunds.append(refund)
            for item_id, qty in lines.items():
                items[item_id].refunded += qty
            if restock:
                self._restock(order, lines)
            if all(item.refunded >= item.quantity for item in order.items) and order.status != "refunded":
                self._transition(order, "refunded")  # woocommerce_order_fully_refunded
            order.modified = max(order.modified, self._now())
            return refund

    # -- stock -----------------------------------------------------------------------------------------

    def _maybe_reduce(self, order: WooOrder) -> None:
        """``wc_maybe_reduce_stock_levels`` / ``wc_reduce_stock_levels``."""
        if order.stock_reduced:
            return
        with self.store.lock:
            for item in order.items:
                listing = self.store.listings.get(item.sku)
                if item.meta.get(REDUCED_STOCK) or listing is None or not listing.manage_stock:
                    continue
                listing.quantity -= item.quantity
                item.meta[REDUCED_STOCK] = item.quantity
        order.stock_reduced = True

    def _maybe_increase(self, order: WooOrder) -> None:
        """``wc_maybe_increase_stock_levels`` / ``wc_increase_stock_levels``."""
        if not order.stock_reduced:
            return
        with self.store.lock:
            for item in order.items:
                reduced = item.meta.get(REDUCED_STOCK)
                listing = self.store.listings.get(item.sku)
                if not reduced or listing is None or not listing.manage_stock:
                    continue
                listing.quantity += reduced
                del item.meta[REDUCED_STOCK]
        order.stock_reduced = False

    def _restock(self, order: WooOrder, lines: dict[int, int]) -> None:
        """``wc_restock_refunded_items``."""
        with self.store.lock:
            for item in order.items:
                qty = lines.get(item.item_id)
                reduced = item.meta.get(REDUCED_STOCK)
                listing = self.store.listings.get(item.sku)
                if not reduced or not qty or listing is None or not listing.manage_stock:
                    continue
                listing.quantity += qty
                item.meta[REDUCED_STOCK] = reduced - qty
                item.meta[RESTOCKED] = item.meta.get(RESTOCKED, 0) + qty

    # -- REST shapes -----------------------------------------------------------------------------------

    def order_json(self, order: WooOrder, tz_offset_s: int) -> dict[str, Any]:
        """The REST v3 order (also every order webhook's body), dates local and ``_gmt``."""
        with self.lock:
            lines = [
                {
                    "id": item.item_id,
                    "name": item.sku,
                    "product_id": item.product_id,
                    "variation_id": item.variation_id,
                    "quantity": item.quantity,
                    "tax_class": "",
                    "subtotal": "0.00",
                    "total": "0.00",
                    "meta_data": [
                        {
                            "id": item.item_id * 10 + n,
                            "key": key,
                            "value": str(value),
                            "display_key": key,
                            "display_value": str(value),
                        }
                        for n, (key, value) in enumerate(sorted(item.meta.items()))
                    ],
                    "sku": item.sku,
                    "price": 0,
                }
                for item in order.items
            ]
            dates = {
                "date_created": wc_date(order.created, tz_offset_s),
                "date_created_gmt": wc_date(order.created),
                "date_modified": wc_date(order.modified, tz_offset_s),
                "date_modified_gmt": wc_date(order.modified),
                "date_paid": None if order.paid is None else wc_date(order.paid, tz_offset_s),
                "date_paid_gmt": None if order.paid is None else wc_date(order.paid),
            }
            return {
                "id": order.order_id,
                "parent_id": 0,
                "status": order.status,
                "currency": "USD",
                "version": "9.4.0",
                **dates,
                "total": "0.00",
                "line_items": lines,
                "refunds": [  # WC_Order::get_refunds: newest first
                    {"id": r.refund_id, "reason": r.reason, "total": "-0.00"} for r in reversed(order.refunds)
                ],
            }

    def refund_json(self, order: WooOrder, refund: WooRefund, tz_offset_s: int) -> dict[str, Any]:
        """``GET /orders/{id}/refunds`` rows: items with negative quantities and ``_refunded_item_id``."""
        items = {item.item_id: item for item in order.items}
        return {
            "id": refund.refund_id,
            "date_created": wc_date(refund.created, tz_offset_s),
            "date_created_gmt": wc_date(refund.created),
            "amount": "0.00",
            "reason": refund.reason,
            "refunded_by": 1,
            "refunded_payment": False,
            "meta_data": [],
            "line_items": [
                {
                    "id": refund.refund_id * 100 + n,
                    "name": items[item_id].sku,
                    "product_id": items[item_id].product_id,
                    "variation_id": items[item_id].variation_id,
                    "quantity": -qty,
                    "sku": items[item_id].sku,
                    "meta_data": [{"id": 0, "key": "_refunded_item_id", "value": str(item_id)}],
                }
                for n, (item_id, qty) in enumerate(refund.lines.items())
            ],
        }

    def listed(self) -> list[WooOrder]:
        """Every order, shopper sales included."""
        with self.lock:
            self.sync()
            return list(self.orders.values())
