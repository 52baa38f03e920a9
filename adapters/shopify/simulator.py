"""A simulated Shopify shop: Admin GraphQL inventory and catalog, REST orders, signed order webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.shopify.outbound import mutation_cost
from adapters.shopify.sim_graphql import ShopifyGraphQL
from adapters.sim_control import ExposeTransport, control_routes, with_faults
from adapters.sim_core import Faults, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket, listings_from

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
      ``inventorySetQuantities`` mutation and the ``productVariants`` query (see ``sim_graphql``),
      charged against a cost bucket of ``maximum_available`` points restored at ``restore_rate``/s
      (a mutation costs 10 + ``mutation_cost_per_quantity`` per quantity, 0 as published);
      an over-budget call answers ``errors[{message: "Throttled"}]`` with HTTP ``throttle_status``.
      Every answer carries ``extensions.cost.throttleStatus``.
    - ``GET /admin/api/{version}/orders.json?status=any&updated_at_min=&since_id=&limit=``: the REST
      order list, ascending by id, behind REST's request bucket (``rest_bucket`` = (size, leak/s),
      answering 429 + ``Retry-After`` and ``X-Shopify-Shop-Api-Call-Limit``). Pagination is by
      ``since_id``; Shopify's ``page_info`` Link headers are not simulated.
    - ``/_sim/...``: the shared control surface (``adapters.sim_control``).

    A wrong token answers 401; an unknown API version 404; a body without a ``query`` 400.
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
        self.graphql = ShopifyGraphQL(
            self.store,
            self.bucket,
            location_id,
            lambda: self._by_item,
            mutation_cost=lambda n: mutation_cost(n, self.mutation_cost_per_quantity),
        )
        routes = [
            Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"]),
            Route("/admin/api/{version}/orders.json", self._orders, methods=["GET"]),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost -------------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        """Set the catalog; items lacking ``ids`` get variant, product and inventory item ids here."""
        listings = listings_from(items, self._assign_ids)
        self.store.seed(listings, reset)
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
        """The REST order resource (also the ``orders/create`` webhook body)."""
        at = iso(order.t)
        lines = []
        for i, (sku, qty) in enumerate(order.lines):
            ids = self.store.listings[sku].ids if sku in self.store.listings else {}
            line_id = order.order_id * 1000 + i
            lines.append(
                {
                    "id": line_id,
                    "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
                    "variant_id": ids.get("variant_id"),
                    "product_id": ids.get("product_id"),
                    "sku": sku,
                    "quantity": qty,
                    "title": sku,
                }
            )
        return {
            "id": order.order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order.order_id}",
            "name": f"#{order.order_id}",
            "order_number": order.order_id,
            "created_at": at,
            "updated_at": at,
            "processed_at": at,
            "cancelled_at": None,
            "financial_status": "paid",
            "fulfillment_status": None,
            "currency": "USD",
            "test": False,
            "line_items": lines,
        }

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """The ``orders/create`` delivery: raw JSON body and Shopify's headers, HMAC included."""
        body = orjson.dumps(self.order_json(order))
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).digest()
        # Shopify stamps when the event was triggered (the sale), not when this delivery is sent:
        # a late delivery or a retry keeps it, and the channels' source guard relies on that.
        now = datetime.fromtimestamp(order.t, UTC).isoformat().replace("+00:00", "Z")
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": now,
        }

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
            rows = sorted(
                (o for o in self.store.orders if o.t >= since and o.order_id > since_id),
                key=lambda o: o.order_id,
            )
        orders = [self.order_json(o) for o in rows[:limit]]
        return _json({"orders": orders}, 200, self._call_limit())

    def _call_limit(self) -> dict[str, str]:
        used = round(self.rest.capacity - self.rest.available())
        return {"X-Shopify-Shop-Api-Call-Limit": f"{used}/{self.rest.capacity:g}"}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)
