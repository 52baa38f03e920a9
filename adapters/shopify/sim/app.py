"""A simulated Shopify shop: Admin GraphQL inventory, catalog and orders, signed order webhooks."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.shopify.outbound import mutation_cost
from adapters.shopify.sim.graphql import ShopifyGraphQL
from adapters.shopify.sim.inventory import Locations, served_version
from adapters.shopify.sim.orders import (
    MerchantConfig,
    OrdersGraphQL,
    ShopOrderBook,
    SimError,
    SimulatedMerchants,
    deliver,
)
from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket, listings_from

VERSION_RE = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def iso(t: float) -> str:
    """Shopify's timestamp form; the simulated shop's timezone is UTC."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> float:
    # An unencoded "+" in a query string arrives as a space.
    return datetime.fromisoformat(text.replace(" ", "+").replace("Z", "+00:00")).timestamp()


class ShopifySimulator:
    """One simulated shop, served as an ASGI app at ``self.app``.

    - ``POST /admin/api/{version}/graphql.json`` (header ``X-Shopify-Access-Token``): the
      ``inventorySetQuantities`` mutation and the ``productVariants`` query (see ``sim.graphql``),
      charged against a cost bucket of ``maximum_available`` points restored at ``restore_rate``/s
      (a mutation costs 10 + ``mutation_cost_per_quantity`` per quantity, 0 as published);
      an over-budget call answers ``errors[{message: "Throttled"}]`` with HTTP ``throttle_status``.
      Every answer carries ``extensions.cost.throttleStatus``.
    - the ``orders`` connection, ``order(id:)`` and ``refund(id:)`` (``adapters.shopify.sim.orders``),
      with the 60-day window unless ``read_all_orders``.
    - ``GET /admin/api/{version}/orders.json``: refused with 403 unless ``legacy_rest_orders`` (an app
      from before the rule): "Starting April 1 2025, all new public apps submitted to the App Store
      after this date must only use GraphQL" (shopify.dev changelog, 2024-10-01). Shopify enforces
      that at app review; the refusal here (its status included) is the simulator's way of keeping
      our adapter off REST. With ``legacy_rest_orders`` it serves the REST order list, ascending by
      id, behind REST's request bucket (``rest_bucket`` = (size, leak/s), answering 429 +
      ``Retry-After`` and ``X-Shopify-Shop-Api-Call-Limit``), paged by ``since_id``.
    - ``/_sim/...``: the shared control surface (``adapters.sim.control``), plus merchant actions on
      orders: ``POST /_sim/orders/{id}/edit`` ``{sku, quantity, restock}``, ``.../cancel``
      ``{restock}``, ``.../refund`` ``{lines: [{sku, quantity}], restock_type}`` (each with an
      optional ``gateway_url``: without one the webhooks are recorded as dropped), ``GET
      /_sim/orders/{id}`` (the REST order and its deliveries), ``POST /_sim/bulk/cancel``
      ``{order_ids, restock}`` (one action over several orders, one event id), ``POST /_sim/merchants``
      (``MerchantConfig`` fields and ``max_actions``) and ``POST /_sim/merchants/stop``.

    A wrong token answers 401; an unknown API version 404; a body without a ``query`` 400.

    Inventory as Shopify 2026-04+ keeps it (``sim.graphql``, ``sim.inventory``): two locations,
    ``location_id`` (the listings shoppers buy from and pushes set) and ``other_locations``, each
    with its own quantities (a seed item's ``locations``: ``{location gid: quantity}`` stocks it
    there); GraphQL answers carry ``X-Shopify-API-Version`` with the version served, which for a
    retired version is the oldest supported one.
    """

    def __init__(
        self,
        *,
        access_token: str = "shpat_simulated",
        webhook_secret: str = "shopify-simulated-secret",
        shop_domain: str = "sim-shop.myshopify.com",
        location_id: str = "gid://shopify/Location/1",
        api_version: str = "2025-01",
        maximum_available: float = 1000.0,
        restore_rate: float = 100.0,
        rest_bucket: tuple[float, float] = (40.0, 2.0),
        throttle_status: int = 200,
        mutation_cost_per_quantity: float = 0.0,
        faults: Faults | None = None,
        store: SimulatedStore | None = None,
        legacy_rest_orders: bool = False,
        read_all_orders: bool = False,
        other_locations: tuple[str, ...] = ("gid://shopify/Location/2",),
        partial_writes: bool = False,
    ) -> None:
        self.access_token, self.webhook_secret, self.shop_domain = access_token, webhook_secret, shop_domain
        self.location_id, self.api_version, self.throttle_status = location_id, api_version, throttle_status
        self.store = store or SimulatedStore()
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.bucket = TokenBucket(maximum_available, restore_rate)
        self.rest = TokenBucket(*rest_bucket)
        self._by_item: dict[str, str] = {}
        self._next_id = 1
        self.mutation_cost_per_quantity = mutation_cost_per_quantity
        self.locations = Locations(self.store, location_id, other_locations)
        self.graphql = ShopifyGraphQL(
            self.store,
            self.bucket,
            location_id,
            lambda: self._by_item,
            mutation_cost=lambda n: mutation_cost(n, self.mutation_cost_per_quantity),
            locations=self.locations,
            partial_writes=partial_writes,
        )
        self.legacy_rest_orders, self.read_all_orders = legacy_rest_orders, read_all_orders
        self.book = ShopOrderBook(self)
        self.graphql.orders = OrdersGraphQL(self.book, self.graphql)
        self.merchants: SimulatedMerchants | None = None
        routes = [
            Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"]),
            Route("/admin/api/{version}/orders.json", self._orders, methods=["GET"]),
            *self._order_routes(),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost -------------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        """Set the catalog; items lacking ``ids`` get variant, product and inventory item ids here.

        An item's ``locations`` (``{location gid: quantity}``) stocks it at the other locations too."""
        listings = listings_from(items, self._assign_ids)
        if reset:
            self.locations.clear()
        self.store.seed(listings, reset)
        for item in items:
            if item.get("locations"):
                self.locations.seed(str(item["sku"]), item["locations"])
        self._by_item = {item.ids["inventory_item_id"]: item.sku for item in self.store.listings.values()}
        return {item.sku: item.ids for item in listings}

    def _assign_ids(self, item: Any) -> dict[str, Any]:
        n, self._next_id = self._next_id, self._next_id + 1
        return {
            "variant_id": n,
            "product_id": n,
            "inventory_item_id": f"gid://shopify/InventoryItem/{n}",
            "location_id": self.location_id,
        }

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        if "restore_rate" in changes:
            self.bucket.rate = float(changes["restore_rate"])
        if "maximum_available" in changes:
            self.bucket.capacity = float(changes["maximum_available"])
        if "throttle_status" in changes:
            self.throttle_status = int(changes["throttle_status"])
        if "mutation_cost_per_quantity" in changes:
            self.mutation_cost_per_quantity = float(changes["mutation_cost_per_quantity"])
        return {
            "restore_rate": self.bucket.rate,
            "maximum_available": self.bucket.capacity,
            "throttle_status": self.throttle_status,
            "mutation_cost_per_quantity": self.mutation_cost_per_quantity,
            "rest_bucket": [self.rest.capacity, self.rest.rate],
        }

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300

    def error_response(self) -> Response:
        return _json({"errors": "Internal Server Error"}, 500)

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        """The REST order resource as it stands now (edits, refunds, cancel included)."""
        with self.store.lock:
            return self.book.rest_json(self.book.state(order))

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """The ``orders/create`` delivery: raw JSON body and Shopify's headers, HMAC included.

        Rendered once per order, so a retry sends the original payload with the same event and
        webhook ids. ``X-Shopify-Triggered-At`` is when the sale happened, not when this delivery is
        sent: a late delivery or a retry keeps it.
        """
        delivery = self.book.create_delivery(order)
        return delivery.body, dict(delivery.headers)

    # -- marketplace routes --------------------------------------------------------------------------

    def _gate(self, request: Request) -> Response | None:
        """Shopify's checks before any work: API version, then the access token."""
        if not VERSION_RE.match(request.path_params["version"]):
            return _json({"errors": "Not Found"}, 404)
        token = request.headers.get("x-shopify-access-token", "")
        if not hmac.compare_digest(token.encode(), self.access_token.encode()):
            return _json({"errors": BAD_TOKEN}, 401)
        return None

    async def _graphql(self, request: Request) -> Response:
        return await with_faults(self, request, self._graphql_inner)

    async def _graphql_inner(self, request: Request) -> Response:
        if (refusal := self._gate(request)) is not None:
            return refusal
        served = served_version(request.path_params["version"])
        if served is None:
            return _json({"errors": "Not Found"}, 404)
        response = await self._graphql_served(request)
        # Shopify names the version it answered with (shopify.dev "About Shopify API versioning":
        # "X-Shopify-API-Version" confirms the version used; a retired one falls forward).
        response.headers["X-Shopify-API-Version"] = served
        return response

    async def _graphql_served(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        query = body.get("query") if isinstance(body, dict) else None
        variables = body.get("variables") if isinstance(body, dict) else None
        if not isinstance(query, str) or not isinstance(variables, dict | None):
            return _json({"errors": {"query": "Required parameter missing or invalid"}}, 400)
        answer = self.graphql.execute(query, variables or {})
        throttled = any(e.get("message") == "Throttled" for e in answer.get("errors", []))
        return _json(answer, self.throttle_status if throttled else 200)

    async def _orders(self, request: Request) -> Response:
        return await with_faults(self, request, self._orders_inner)

    async def _orders_inner(self, request: Request) -> Response:
        if (refusal := self._gate(request)) is not None:
            return refusal
        if not self.legacy_rest_orders:
            message = (
                "REST Admin API orders are closed to this app: starting April 1 2025, new public apps "
                "must only use the GraphQL Admin API (use the orders connection)"
            )
            return _json({"errors": message}, 403)
        if not self.rest.take(1):
            self.store.count("throttled")
            retry = f"{max(1.0, self.rest.wait_for(1)):.1f}"
            message = (
                f"Exceeded {self.rest.rate:g} calls per second for api client. "
                "Reduce request rates to resume uninterrupted service."
            )
            return _json({"errors": message}, 429, {"Retry-After": retry, **self._call_limit()})
        params = request.query_params
        try:
            since = parse_iso(params["updated_at_min"]) if "updated_at_min" in params else 0.0
            since_id = int(params.get("since_id", 0))
            limit = min(250, max(1, int(params.get("limit", 50))))
        except ValueError as exc:
            return _json({"errors": {"query": str(exc)}}, 400)
        with self.store.lock:
            states = [self.book.state(o) for o in self.store.orders]
            rows = sorted(
                (o for o in states if o.updated >= since and o.id > since_id and self.book.visible(o)),
                key=lambda o: o.id,
            )
            orders = [self.book.rest_json(o) for o in rows[:limit]]
        return _json({"orders": orders}, 200, self._call_limit())

    # -- merchant actions ----------------------------------------------------------------------------

    def _order_routes(self) -> list[Route]:
        async def act(request: Request) -> Response:
            try:
                body = orjson.loads(await request.body() or b"{}")
                order_id, action = int(request.path_params["order_id"]), request.path_params["action"]
                if action == "edit":
                    restock = bool(body.get("restock", True))
                    sent = self.book.edit(order_id, str(body["sku"]), int(body["quantity"]), restock)
                elif action == "cancel":
                    sent = self.book.cancel(order_id, bool(body.get("restock", True)))
                elif action == "refund":
                    lines = [(str(x["sku"]), int(x["quantity"])) for x in body.get("lines", [])]
                    sent = self.book.refund(order_id, lines, str(body.get("restock_type", "")))
                else:
                    return _json({"error": f"no action {action}"}, 404)
            except KeyError as exc:
                return _json({"error": f"unknown {exc}"}, 404 if "order" in str(exc) else 400)
            except SimError as exc:
                return _json({"error": str(exc)}, 409)
            except (ValueError, TypeError, AttributeError) as exc:
                return _json({"error": f"{type(exc).__name__}: {exc}"}, 400)
            await deliver(sent, body.get("gateway_url"), self.accepts)
            return _json({"deliveries": [_delivery(d) for d in sent]})

        async def bulk_cancel(request: Request) -> Response:
            try:
                body = orjson.loads(await request.body() or b"{}")
                ids = [int(x) for x in body["order_ids"]]
                sent = self.book.cancel_many(ids, bool(body.get("restock", True)))
            except KeyError as exc:
                return _json({"error": f"unknown {exc}"}, 404 if "order " in str(exc) else 400)
            except SimError as exc:
                return _json({"error": str(exc)}, 409)
            except (ValueError, TypeError) as exc:
                return _json({"error": f"{type(exc).__name__}: {exc}"}, 400)
            await deliver(sent, body.get("gateway_url"), self.accepts)
            return _json({"deliveries": [_delivery(d) for d in sent]})

        async def show(request: Request) -> Response:
            order_id = int(request.path_params["order_id"])
            with self.store.lock:
                found = next((o for o in self.store.orders if o.order_id == order_id), None)
                if found is None:
                    return _json({"error": f"no order {order_id}"}, 404)
                order = self.book.rest_json(self.book.state(found))
                sent = [_delivery(d) for d in self.book.deliveries if d.order_id == order_id]
            return _json({"order": order, "deliveries": sent})

        async def merchants(request: Request) -> Response:
            if self.merchants is not None and self.merchants.stats()["running"]:
                return _json({"error": "merchants already running"}, 409)
            body = orjson.loads(await request.body() or b"{}")
            max_actions = body.pop("max_actions", None)
            self.merchants = SimulatedMerchants(self.book, MerchantConfig(**body), self.accepts)
            self.merchants.start(max_actions)
            return _json({"started": True})

        async def merchants_stop(request: Request) -> Response:
            if self.merchants is None:
                return _json({"error": "no merchants"}, 404)
            await self.merchants.stop()
            return _json(self.merchants.stats())

        return [
            Route("/_sim/orders/{order_id:int}", show, methods=["GET"]),
            Route("/_sim/orders/{order_id:int}/{action}", act, methods=["POST"]),
            Route("/_sim/bulk/cancel", bulk_cancel, methods=["POST"]),
            Route("/_sim/merchants", merchants, methods=["POST"]),
            Route("/_sim/merchants/stop", merchants_stop, methods=["POST"]),
        ]

    def _call_limit(self) -> dict[str, str]:
        used = round(self.rest.capacity - self.rest.available())
        return {"X-Shopify-Shop-Api-Call-Limit": f"{used}/{self.rest.capacity:g}"}


def _delivery(d: Any) -> dict[str, Any]:
    return {
        "topic": d.topic,
        "event_id": d.headers.get("X-Shopify-Event-Id"),
        "delivered": d.delivered,
        "status": d.status,
        "error": d.error,
        "decisions": d.decisions,
    }


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)
