"""The simulated shop's orders after checkout: edits, cancels, refunds, their webhooks, and the GraphQL reads.

``ShopOrderBook`` keeps, per order sold by the shoppers (``SimulatedStore.orders``), what Shopify keeps:
line items with ``quantity`` and ``current_quantity``, refunds with their refund line items and
``restock_type``, ``cancelled_at`` and ``updated_at``. A merchant action changes that state, moves
the shop's own listed inventory exactly as the action restocks, and returns the webhooks Shopify
fires for it. Every rule names its source (shopify.dev unless said otherwise):

- ``orderEditSetQuantity``: "Setting the quantity to zero effectively removes the line item from the
  order. The item still exists as a data structure with zero quantity. When decreasing quantities,
  you can optionally restock the removed items to inventory by setting the restock parameter to
  true." An edit lowers ``current_quantity`` ("excluding refunded and removed units", GraphQL
  ``LineItem.currentQuantity``) and creates no refund; the ``orders/edited`` body carries
  ``order_edit.line_items.removals[{id, delta}]`` only (webhook topic reference), so whether the
  units were restocked is in no payload.
- ``orderCancel(restock:)``: "Whether to restock the inventory committed to the order". The cancel
  refunds every remaining unit as refund line items of type ``cancel`` when it restocks (a real
  ``orders/cancelled`` body: ``current_quantity`` 0, ``refund_line_items[].restock_type:
  "cancel"``), else ``no_restock`` (*unverified*: no such body was found; the shape mirrors the
  restocking one).
- ``refundCreate`` / REST refunds: ``RefundLineItemRestockType`` ``CANCEL`` ("restocking unfulfilled
  line items"), ``RETURN`` ("line items that were fulfilled"), ``NO_RESTOCK`` ("not restocked");
  ``legacy_restock`` is "not accepted when creating new refunds", so the simulator refuses it.
  A refund lowers ``current_quantity`` by its units.
- Webhooks: an edit fires ``orders/edited`` and ``orders/updated``; a cancel ``orders/cancelled``,
  ``orders/updated`` and, for its refund, ``refunds/create``; a refund ``refunds/create`` and
  ``orders/updated`` ("Occurs whenever an order is updated"; integrators observe it for refunds too).
  One action's deliveries share an ``X-Shopify-Event-Id`` (MARKETPLACES.md, Shopify: "shared by all
  deliveries of one merchant action"), each has its own ``X-Shopify-Webhook-Id``, and a retry sends
  the original payload again (webhook retry changelog, 2024-09).
- ``updated_at`` has whole seconds. Two changes of one order inside one second would share it (and
  our mapping would take the second as a duplicate, see ``adapters.shopify.order_doc``); the
  simulated shop moves a change to the next second instead so that its runs stay exact.

The GraphQL side (``OrdersGraphQL``) answers the three root fields the backfill reads: ``orders``
(``first`` 1..250, ``after``, ``query: "updated_at:>='T'"`` or ``>``, ``sortKey: UPDATED_AT``),
``order(id:)`` (``lineItems(first, after)``, ``refunds(first)``) and ``refund(id:)``
(``refundLineItems(first, after)``). Without ``read_all_orders`` only orders created in the last 60
days are visible ("Only the last 60 days' worth of orders from a store are accessible from the Order
object by default", GraphQL ``Order``). Costs follow ``adapters.shopify.orders_read`` (the published
model: object 1, connection 2 plus its objects), charged up front at the requested cost with the
difference to the actual cost refunded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import random
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from adapters.shopify.orders_read import (
    node_cost,
    order_lines_cost,
    order_refunds_cost,
    page_cost,
    refund_lines_cost,
)
from adapters.sim.webhook_sender import WebhookError, WebhookSender

if TYPE_CHECKING:
    from adapters.shopify.sim.app import ShopifySimulator
    from adapters.shopify.sim.graphql import ShopifyGraphQL
    from adapters.sim.core import SimOrder

ORDER_WINDOW_S = 60 * 86400
"""Orders older than this are invisible without the ``read_all_orders`` scope."""
RESTOCK_TYPES = ("cancel", "return", "no_restock")
"""Restock types a new refund may carry (``legacy_restock`` is not accepted on new refunds)."""

_ARG = re.compile(r"(\w+)\s*:\s*(\$\w+|\"(?:[^\"\\]|\\.)*\"|-?\d+|null|[A-Z_]+)")
_ROOTS = {
    "orders": re.compile(r"\borders\s*\(([^)]*)\)"),
    "order": re.compile(r"\border\s*\(([^)]*)\)"),
    "refund": re.compile(r"\brefund\s*\(([^)]*)\)"),
}
_NESTED = {
    name: re.compile(rf"\b{name}\s*\(([^)]*)\)") for name in ("lineItems", "refunds", "refundLineItems")
}
_SINCE = re.compile(r"^\s*updated_at\s*:\s*(>=|>)\s*'?([^']+?)'?\s*$")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def iso_z(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LineItem:
    id: int
    sku: str
    quantity: int
    current: int
    variant_id: Any = None
    product_id: Any = None


@dataclass
class RefundLine:
    id: int
    line_item_id: int
    quantity: int
    restock_type: str


@dataclass
class Refund:
    id: int
    created: int
    lines: list[RefundLine]


@dataclass
class ShopOrder:
    """One order as the shop keeps it (times in unix seconds; ``updated`` whole seconds)."""

    id: int
    created: float
    updated: int
    line_items: list[LineItem]
    refunds: list[Refund] = field(default_factory=list)
    cancelled: int | None = None
    create_delivery: Delivery | None = None


@dataclass
class Delivery:
    """One webhook delivery: its topic, the order it is about, its raw body and headers; and once
    attempted, whether the gateway took it (``delivered``), its status and decisions."""

    topic: str
    order_id: int
    body: bytes
    headers: dict[str, str]
    delivered: bool | None = None
    status: int | None = None
    error: str = ""
    decisions: list[dict[str, Any]] = field(default_factory=list)


class SimError(ValueError):
    """A merchant action Shopify would refuse (HTTP 409 on the control surface)."""


class ShopOrderBook:
    """The shop's order state, guarded by the store's lock (see the module docstring)."""

    def __init__(self, sim: ShopifySimulator, clock: Callable[[], float] | None = None) -> None:
        self.sim = sim
        self.store = sim.store
        self.clock = clock or sim.store.clock
        self.orders: dict[int, ShopOrder] = {}
        self.refunds: dict[int, tuple[int, Refund]] = {}
        self.deliveries: list[Delivery] = []
        self._next_id = 1

    # -- state -----------------------------------------------------------------------------------
    def _new_id(self) -> int:
        n, self._next_id = self._next_id, self._next_id + 1
        return 9_000_000 + n

    def state(self, order: SimOrder) -> ShopOrder:
        """The shop's record of ``order``, made on first use (caller holds ``store.lock``)."""
        found = self.orders.get(order.order_id)
        if found is None:
            items = []
            for i, (sku, qty) in enumerate(order.lines):
                ids = self.store.listings[sku].ids if sku in self.store.listings else {}
                item_id = order.order_id * 1000 + i
                items.append(LineItem(item_id, sku, qty, qty, ids.get("variant_id"), ids.get("product_id")))
            found = self.orders[order.order_id] = ShopOrder(order.order_id, order.t, int(order.t), items)
        return found

    def _find(self, order_id: int) -> ShopOrder:
        for order in self.store.orders:
            if order.order_id == order_id:
                return self.state(order)
        raise KeyError(f"no order {order_id}")

    def all_states(self) -> list[ShopOrder]:
        with self.store.lock:
            return [self.state(o) for o in self.store.orders]

    def backdate(self, order_id: int, seconds: float) -> None:
        """Move an order's creation (and last update) ``seconds`` into the past (for tests)."""
        with self.store.lock:
            order = self._find(order_id)
            order.created -= seconds
            order.updated = int(order.updated - seconds)

    def _touch(self, order: ShopOrder) -> int:
        """Stamp a change: ``updated_at`` moves to now, or to the next second if now is not later."""
        order.updated = max(int(self.clock()), order.updated + 1)
        return order.updated

    def _restock(self, sku: str, units: int) -> None:
        """Units going back to the shop's inventory at its (single) location."""
        if units > 0 and sku in self.store.listings:
            self.store.listings[sku].quantity += units

    def _line(self, order: ShopOrder, sku: str, at_least: int) -> LineItem:
        for item in order.line_items:
            if item.sku == sku and item.current >= at_least:
                return item
        raise SimError(f"order {order.id} has no line of {sku} with {at_least} units left")

    # -- merchant actions ------------------------------------------------------------------------
    def edit(self, order_id: int, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        """``orderEditSetQuantity`` lowering the line of ``sku`` to ``quantity`` (0 removes it)."""
        with self.store.lock:
            order = self._find(order_id)
            if order.cancelled is not None:
                raise SimError(f"order {order_id} is cancelled")
            item = self._line(order, sku, 1)
            if not 0 <= quantity < item.current:
                raise SimError(f"an edit must lower the line below {item.current}, got {quantity}")
            delta = item.current - quantity
            item.current = quantity
            if restock:
                self._restock(sku, delta)
            at = self._touch(order)
            edit: dict[str, Any] = {
                "order_edit": {
                    "id": self._new_id(),
                    "app_id": None,
                    "created_at": iso(at),
                    "notify_customer": False,
                    "order_id": order.id,
                    "staff_note": "",
                    "user_id": None,
                    "line_items": {"additions": [], "removals": [{"id": item.id, "delta": delta}]},
                    "discounts": {"line_item": {"additions": [], "removals": []}},
                    "shipping_lines": {"additions": [], "removals": []},
                }
            }
            return self._fire(order, at, [("orders/edited", edit), ("orders/updated", self.rest_json(order))])

    def cancel(self, order_id: int, restock: bool) -> list[Delivery]:
        """``orderCancel(restock:)``: every remaining unit is refunded, restocked or not."""
        return self.cancel_many([order_id], restock)

    def cancel_many(self, order_ids: list[int], restock: bool) -> list[Delivery]:
        """One merchant action cancelling several orders (the admin's bulk cancel): each order's
        webhooks as for ``cancel``, all under one ``X-Shopify-Event-Id``."""
        event_id = uuid.uuid4().hex
        out: list[Delivery] = []
        with self.store.lock:
            orders = [self._find(order_id) for order_id in order_ids]
            if len({o.id for o in orders}) != len(orders) or any(o.cancelled is not None for o in orders):
                raise SimError("each order must be named once and not be cancelled yet")
            kind = "cancel" if restock else "no_restock"
            for order in orders:
                lines = [(item, item.current) for item in order.line_items if item.current > 0]
                at = self._touch(order)
                refund = self._refund(order, lines, kind, at) if lines else None
                order.cancelled = at
                topics: list[tuple[str, Any]] = [
                    ("orders/cancelled", self.rest_json(order)),
                    ("orders/updated", self.rest_json(order)),
                ]
                if refund is not None:
                    topics.append(("refunds/create", self.refund_json(order, refund)))
                out.extend(self._fire(order, at, topics, event_id))
        return out

    def refund(self, order_id: int, lines: Iterable[tuple[str, int]], restock_type: str) -> list[Delivery]:
        """A refund of ``lines`` (sku, units), ``restock_type`` ``cancel``, ``return`` or ``no_restock``."""
        if restock_type not in RESTOCK_TYPES:
            raise SimError(f"restock_type must be one of {', '.join(RESTOCK_TYPES)}, got {restock_type!r}")
        with self.store.lock:
            order = self._find(order_id)
            picked = []
            for sku, units in lines:
                if units <= 0:
                    raise SimError("a refund line needs a positive quantity")
                picked.append((self._line(order, sku, units), units))
            if not picked:
                raise SimError("a refund needs at least one line")
            at = self._touch(order)
            refund = self._refund(order, picked, restock_type, at)
            topics = [
                ("refunds/create", self.refund_json(order, refund)),
                ("orders/updated", self.rest_json(order)),
            ]
            return self._fire(order, at, topics)

    def _refund(self, order: ShopOrder, lines: list[tuple[LineItem, int]], kind: str, at: int) -> Refund:
        refund = Refund(self._new_id(), at, [])
        for item, units in lines:
            item.current -= units
            refund.lines.append(RefundLine(self._new_id(), item.id, units, kind))
            if kind != "no_restock":
                self._restock(item.sku, units)
        order.refunds.append(refund)
        self.refunds[refund.id] = (order.id, refund)
        return refund

    # -- webhooks --------------------------------------------------------------------------------
    def create_delivery(self, sim_order: SimOrder) -> Delivery:
        """The ``orders/create`` delivery of an order: rendered once, so a retry sends the original."""
        with self.store.lock:
            order = self.state(sim_order)
            if order.create_delivery is None:
                body, headers = self.render(
                    "orders/create", self.rest_json(order), uuid.uuid4().hex, sim_order.t
                )
                order.create_delivery = Delivery("orders/create", order.id, body, headers)
            return order.create_delivery

    def _fire(
        self, order: ShopOrder, at: float, topics: list[tuple[str, Any]], event_id: str | None = None
    ) -> list[Delivery]:
        event_id = event_id or uuid.uuid4().hex  # one merchant action: one event id across its topics
        out = []
        for topic, payload in topics:
            body, headers = self.render(topic, payload, event_id, at)
            out.append(Delivery(topic, order.id, body, headers))
        self.deliveries.extend(out)
        return out

    def render(self, topic: str, payload: Any, event_id: str, at: float) -> tuple[bytes, dict[str, str]]:
        """Raw body and Shopify's headers for one delivery, signed with the shop's webhook secret."""
        body = orjson.dumps(payload)
        digest = hmac.new(self.sim.webhook_secret.encode(), body, hashlib.sha256).digest()
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": self.sim.shop_domain,
            "X-Shopify-API-Version": self.sim.api_version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z"),
        }

    # -- REST shapes -----------------------------------------------------------------------------
    def rest_json(self, order: ShopOrder) -> dict[str, Any]:
        """The REST order resource as it stands (the order webhooks' body)."""
        refunded = sum(r.quantity for refund in order.refunds for r in refund.lines)
        ordered = sum(item.quantity for item in order.line_items)
        if order.cancelled is not None:
            financial = "refunded" if refunded else "voided"
        else:
            financial = (
                "refunded"
                if refunded and refunded == ordered
                else "partially_refunded"
                if refunded
                else "paid"
            )
        return {
            "id": order.id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order.id}",
            "name": f"#{order.id}",
            "order_number": order.id,
            "created_at": iso(order.created),
            "updated_at": iso(order.updated),
            "processed_at": iso(order.created),
            "cancelled_at": None if order.cancelled is None else iso(order.cancelled),
            "cancel_reason": None if order.cancelled is None else "other",
            "financial_status": financial,
            "fulfillment_status": None,
            "currency": "USD",
            "test": False,
            "line_items": [self._item_json(item) for item in order.line_items],
            "refunds": [self.refund_json(order, refund) for refund in order.refunds],
        }

    def _item_json(self, item: LineItem) -> dict[str, Any]:
        return {
            "id": item.id,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{item.id}",
            "variant_id": item.variant_id,
            "product_id": item.product_id,
            "sku": item.sku,
            "quantity": item.quantity,
            "current_quantity": item.current,
            "fulfillable_quantity": item.current,
            "fulfillment_status": None,
            "title": item.sku,
            "name": item.sku,
        }

    def refund_json(self, order: ShopOrder, refund: Refund) -> dict[str, Any]:
        """The REST refund resource (also the ``refunds/create`` body)."""
        items = {item.id: item for item in order.line_items}
        return {
            "id": refund.id,
            "admin_graphql_api_id": f"gid://shopify/Refund/{refund.id}",
            "order_id": order.id,
            "created_at": iso(refund.created),
            "processed_at": iso(refund.created),
            "note": None,
            "restock": any(r.restock_type != "no_restock" for r in refund.lines),
            "refund_line_items": [
                {
                    "id": r.id,
                    "line_item_id": r.line_item_id,
                    "location_id": None if r.restock_type == "no_restock" else self.sim.location_id,
                    "quantity": r.quantity,
                    "restock_type": r.restock_type,
                    "line_item": self._item_json(items[r.line_item_id]),
                }
                for r in refund.lines
            ],
            "transactions": [],
            "order_adjustments": [],
        }

    # -- GraphQL shapes --------------------------------------------------------------------------
    def visible(self, order: ShopOrder) -> bool:
        return self.sim.read_all_orders or order.created >= self.clock() - ORDER_WINDOW_S


@dataclass
class _Page:
    nodes: list[Any]
    more: bool


class OrdersGraphQL:
    """Answers ``orders``, ``order(id:)`` and ``refund(id:)`` for ``ShopifyGraphQL`` (module docstring)."""

    def __init__(self, book: ShopOrderBook, graphql: ShopifyGraphQL) -> None:
        self.book, self.graphql = book, graphql

    def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
        """The answer, or None when the query asks none of these root fields."""
        for root, pattern in _ROOTS.items():
            found = pattern.search(query)
            if found is not None:
                args = _args(found.group(1), variables)
                nested = {
                    name: _args(m.group(1), variables)
                    for name, p in _NESTED.items()
                    if (m := p.search(query))
                }
                if isinstance(args, str) or any(isinstance(a, str) for a in nested.values()):
                    bad = (
                        args
                        if isinstance(args, str)
                        else next(a for a in nested.values() if isinstance(a, str))
                    )
                    return self._error(bad)
                handler = {"orders": self._orders, "order": self._order, "refund": self._refund}[root]
                return handler(args, nested)  # type: ignore[arg-type]
        return None

    def _error(self, message: str, code: str = "argumentLiteralsIncompatible") -> dict[str, Any]:
        return self.graphql._answer({"errors": [{"message": message, "extensions": {"code": code}}]}, None)

    # -- orders ----------------------------------------------------------------------------------
    def _orders(self, args: dict[str, Any], nested: dict[str, dict[str, Any]]) -> dict[str, Any]:
        if not _count(args.get("first")):
            return self._error("orders needs `first` between 1 and 250")
        first = int(args["first"])
        if args.get("sortKey", "UPDATED_AT") != "UPDATED_AT":
            return self._error("the simulator sorts orders by UPDATED_AT only")
        since = _since(args.get("query"))
        if since is None:
            return self._error("the simulator filters orders by `updated_at:>='<ISO 8601>'` only")
        lines, refunds, refund_lines = (nested.get(n, {}).get("first", 0) for n in _NESTED)
        if not all(_count(n) or n == 0 for n in (lines, refunds, refund_lines)):
            return self._error("nested `first` arguments must be between 1 and 250")
        cut = _decode(args.get("after"))
        if cut is None:
            return self._error("Invalid cursor for current pagination")
        after: tuple[int, int] = cut
        requested = page_cost(first, lines, refunds, refund_lines)
        if (refusal := self.graphql._charge(requested)) is not None:
            return refusal
        op, stamp = since
        with self.book.store.lock:
            rows = sorted(
                ((o.updated * 1000, o.id, o) for o in (self.book.state(s) for s in self.book.store.orders)),
                key=lambda r: (r[0], r[1]),
            )
            rows = [
                r
                for r in rows
                if self.book.visible(r[2]) and (r[0] >= stamp * 1000 if op == ">=" else r[0] > stamp * 1000)
            ]
            later = [r for r in rows if (r[0], r[1]) > after]
            page = later[:first]
            nodes = [self._node(o, lines, refunds, refund_lines) for _, _, o in page]
        edges = [{"cursor": _cursor(v, i), "node": n} for (v, i, _), n in zip(page, nodes, strict=True)]
        info = {"hasNextPage": len(later) > first, "endCursor": edges[-1]["cursor"] if edges else None}
        actual = 2 + sum(_node_actual(n) for n in nodes)
        self.graphql.bucket.refund(requested - actual)
        data = {"orders": {"edges": edges, "nodes": nodes, "pageInfo": info}}
        return self.graphql._answer({"data": data}, requested, actual)

    def _node(self, order: ShopOrder, lines: int, refunds: int, refund_lines: int) -> dict[str, Any]:
        node: dict[str, Any] = {
            "id": f"gid://shopify/Order/{order.id}",
            "legacyResourceId": str(order.id),
            "createdAt": iso_z(order.created),
            "updatedAt": iso_z(order.updated),
            "cancelledAt": None if order.cancelled is None else iso_z(order.cancelled),
        }
        if lines:
            node["lineItems"] = self._line_page(order, lines, None)
        if refunds:
            node["refunds"] = [self._refund_node(r, refund_lines) for r in order.refunds[:refunds]]
        return node

    def _line_page(self, order: ShopOrder, first: int, after: Any) -> dict[str, Any]:
        start = 0 if after is None else int(after) + 1
        chosen = order.line_items[start : start + first]
        return {
            "nodes": [
                {
                    "id": f"gid://shopify/LineItem/{item.id}",
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "currentQuantity": item.current,
                }
                for item in chosen
            ],
            "pageInfo": {
                "hasNextPage": start + first < len(order.line_items),
                "endCursor": str(start + len(chosen) - 1) if chosen else None,
            },
        }

    def _refund_node(self, refund: Refund, first: int, after: Any = None) -> dict[str, Any]:
        node: dict[str, Any] = {"id": f"gid://shopify/Refund/{refund.id}", "createdAt": iso_z(refund.created)}
        if first:
            start = 0 if after is None else int(after) + 1
            chosen = refund.lines[start : start + first]
            node["refundLineItems"] = {
                "nodes": [
                    {
                        "quantity": r.quantity,
                        "restockType": r.restock_type.upper(),
                        "lineItem": {"id": f"gid://shopify/LineItem/{r.line_item_id}"},
                    }
                    for r in chosen
                ],
                "pageInfo": {
                    "hasNextPage": start + first < len(refund.lines),
                    "endCursor": str(start + len(chosen) - 1) if chosen else None,
                },
            }
        return node

    # -- order(id:) and refund(id:) --------------------------------------------------------------
    def _order(self, args: dict[str, Any], nested: dict[str, dict[str, Any]]) -> dict[str, Any]:
        order_id = _gid(args.get("id"), "Order")
        line_args, refund_args = nested.get("lineItems"), nested.get("refunds")
        requested = 1.0
        if line_args is not None:
            if not _count(line_args.get("first")):
                return self._error("lineItems needs `first` between 1 and 250")
            requested += order_lines_cost(line_args["first"]) - 1
        if refund_args is not None:
            if not _count(refund_args.get("first")):
                return self._error("refunds needs `first` between 1 and 250")
            requested += order_refunds_cost(refund_args["first"]) - 1
        if (refusal := self.graphql._charge(requested)) is not None:
            return refusal
        with self.book.store.lock:
            order = next((self.book.state(o) for o in self.book.store.orders if o.order_id == order_id), None)
            node: dict[str, Any] | None
            if order is None or not self.book.visible(order):
                node = None
            else:
                node = {"id": f"gid://shopify/Order/{order.id}"}
                if line_args is not None:
                    node["lineItems"] = self._line_page(order, line_args["first"], line_args.get("after"))
                if refund_args is not None:
                    node["refunds"] = [self._refund_node(r, 0) for r in order.refunds[: refund_args["first"]]]
        actual = 1 + (len(node["lineItems"]["nodes"]) + 2 if node and "lineItems" in node else 0)
        actual += len(node.get("refunds", [])) if node else 0
        self.graphql.bucket.refund(max(0.0, requested - actual))
        return self.graphql._answer({"data": {"order": node}}, requested, actual)

    def _refund(self, args: dict[str, Any], nested: dict[str, dict[str, Any]]) -> dict[str, Any]:
        refund_id = _gid(args.get("id"), "Refund")
        line_args = nested.get("refundLineItems") or {"first": 0}
        if not _count(line_args.get("first")):
            return self._error("refundLineItems needs `first` between 1 and 250")
        requested = refund_lines_cost(line_args["first"])
        if (refusal := self.graphql._charge(requested)) is not None:
            return refusal
        with self.book.store.lock:
            found = self.book.refunds.get(refund_id) if refund_id is not None else None
            node = (
                None
                if found is None
                else self._refund_node(found[1], line_args["first"], line_args.get("after"))
            )
        actual = 1 + (2 + 2 * len(node["refundLineItems"]["nodes"]) if node else 0)
        self.graphql.bucket.refund(max(0.0, requested - actual))
        return self.graphql._answer({"data": {"refund": node}}, requested, actual)


def _node_actual(node: dict[str, Any]) -> float:
    """What an order node cost by the objects it returned (same model as ``node_cost``)."""
    lines = len((node.get("lineItems") or {}).get("nodes") or [])
    refunds = node.get("refunds") or []
    refund_lines = [len((r.get("refundLineItems") or {}).get("nodes") or []) for r in refunds]
    cost = node_cost(lines, 0, 0) - (0 if "lineItems" in node else 2)
    return cost + sum(1 + 2 + 2 * n for n in refund_lines)


def _args(text: str, variables: dict[str, Any]) -> dict[str, Any] | str:
    out: dict[str, Any] = {}
    for name, raw in _ARG.findall(text):
        if raw.startswith("$"):
            out[name] = variables.get(raw[1:])
        elif raw.isupper() or raw.replace("_", "").isupper():
            out[name] = raw
        else:
            try:
                out[name] = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return f"cannot read argument {name}"
    return out


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 250


def _since(query: Any) -> tuple[str, float] | None:
    if query in (None, ""):
        return (">=", 0.0)
    match = _SINCE.match(query) if isinstance(query, str) else None
    if match is None:
        return None
    try:
        moment = datetime.fromisoformat(match.group(2).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return match.group(1), moment.timestamp()


def _cursor(version_ms: int, order_id: int) -> str:
    return base64.b64encode(orjson.dumps({"last_id": order_id, "last_value": version_ms})).decode()


def _decode(cursor: Any) -> tuple[int, int] | None:
    if cursor is None:
        return (-1, -1)
    try:
        raw = orjson.loads(base64.b64decode(str(cursor), validate=True))
        return int(raw["last_value"]), int(raw["last_id"])
    except (ValueError, KeyError, TypeError):
        return None


def _gid(value: Any, kind: str) -> int | None:
    prefix = f"gid://shopify/{kind}/"
    if isinstance(value, str) and value.startswith(prefix) and value[len(prefix) :].isdigit():
        return int(value[len(prefix) :])
    return None


# -- sending -------------------------------------------------------------------------------------
async def send(deliveries: list[Delivery], sender: WebhookSender, accepts: Callable[[int], bool]) -> None:
    """POST each delivery in order (a cancel's document before its refund), recording the outcome."""
    for delivery in deliveries:
        try:
            status, answer = await sender.post(delivery.body, delivery.headers)
        except WebhookError as exc:
            delivery.delivered, delivery.error = False, str(exc)
            continue
        delivery.delivered, delivery.status = accepts(status), status
        if delivery.delivered:
            with contextlib.suppress(ValueError, AttributeError):
                found = orjson.loads(answer).get("decisions")
                delivery.decisions = found if isinstance(found, list) else []
        else:
            delivery.error = answer[:200].decode("utf-8", "replace")


async def deliver(deliveries: list[Delivery], url: str | None, accepts: Callable[[int], bool]) -> None:
    """Send ``deliveries`` to ``url`` now; without a URL they are recorded as dropped."""
    if not url:
        for delivery in deliveries:
            delivery.delivered, delivery.error = False, "dropped"
        return
    sender = WebhookSender(url, 5.0, max_connections=4)
    try:
        await send(deliveries, sender, accepts)
    finally:
        await sender.aclose()


@dataclass
class MerchantConfig:
    """How simulated merchants act after checkout: ``rate_per_s`` actions, picked by ``weights``."""

    rate_per_s: float = 2.0
    seed: int = 0
    gateway_url: str | None = None
    drop_rate: float = 0.0
    """Share of actions whose webhooks are all lost in transit (backfill must repair them)."""
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "lower": 1.0,
            "remove": 1.0,
            "cancel_restock": 1.0,
            "cancel_no_restock": 1.0,
            "refund_restock": 1.0,
            "refund_no_restock": 1.0,
        }
    )


class SimulatedMerchants:
    """Merchants editing, cancelling and refunding the shop's orders on a Poisson schedule.

    Each action picks an order that still holds units and applies one of ``MerchantConfig.weights``'s
    actions to it (see ``ShopOrderBook``); its webhooks go to ``gateway_url`` unless dropped.
    ``actions`` records ``(action, order id, deliveries)``.
    """

    def __init__(self, book: ShopOrderBook, config: MerchantConfig, accepts: Callable[[int], bool]) -> None:
        self.book, self.config, self.accepts = book, config, accepts
        self.rng = random.Random(config.seed)
        self.actions: list[tuple[str, int, list[Delivery]]] = []
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self, max_actions: int | None = None) -> asyncio.Task[None]:
        self.task = asyncio.get_running_loop().create_task(self.run(max_actions))
        return self.task

    async def stop(self) -> None:
        self._stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def stats(self) -> dict[str, Any]:
        return {
            "running": self.task is not None and not self.task.done(),
            "actions": len(self.actions),
            "by_action": {
                name: sum(1 for a, _, _ in self.actions if a == name) for name in self.config.weights
            },
        }

    async def run(self, max_actions: int | None = None) -> None:
        sender = None if not self.config.gateway_url else WebhookSender(self.config.gateway_url, 5.0, 4)
        try:
            while not self._stop.is_set() and (max_actions is None or len(self.actions) < max_actions):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.rng.expovariate(self.config.rate_per_s))
                    break
                acted = self.act_once()
                if acted is None:
                    continue
                deliveries = acted[2]
                if sender is None or self.rng.random() < self.config.drop_rate:
                    for d in deliveries:
                        d.delivered, d.error = False, "dropped"
                else:
                    await send(deliveries, sender, self.accepts)
        finally:
            if sender is not None:
                await sender.aclose()

    def act_once(self) -> tuple[str, int, list[Delivery]] | None:
        """Apply one randomly chosen action to a random open order; None when none applies."""
        with self.book.store.lock:
            candidates = [
                s
                for s in (self.book.state(o) for o in self.book.store.orders)
                if s.cancelled is None and any(i.current > 0 for i in s.line_items)
            ]
        if not candidates:
            return None
        order = self.rng.choice(candidates)
        names = list(self.config.weights)
        name = self.rng.choices(names, [self.config.weights[n] for n in names])[0]
        item = self.rng.choice([i for i in order.line_items if i.current > 0])
        try:
            if name == "lower":
                deliveries = self.book.edit(order.id, item.sku, self.rng.randrange(item.current), True)
            elif name == "remove":
                deliveries = self.book.edit(order.id, item.sku, 0, True)
            elif name in ("cancel_restock", "cancel_no_restock"):
                deliveries = self.book.cancel(order.id, name == "cancel_restock")
            else:
                units = self.rng.randint(1, item.current)
                kind = "cancel" if name == "refund_restock" else "no_restock"
                deliveries = self.book.refund(order.id, [(item.sku, units)], kind)
        except SimError:  # raced another action on the same order
            return None
        acted = (name, order.id, deliveries)
        self.actions.append(acted)
        return acted
