"""A simulated Walmart Marketplace seller account: the Token API, the Inventory API (one SKU, one
SKU across ship nodes, all SKUs), bulk inventory feeds with their status, ``GET /v3/orders``, and
order events signed as the seller's subscription says (``orders.Subscription``).

It refuses what Walmart refuses, each rule with its source (developer.walmart.com; MARKETPLACES.md,
Walmart):
- a token request without HTTP Basic ``client_id:client_secret`` (401) or ``grant_type=
  client_credentials`` (400) ("Get access token"); tokens live 900 s;
- a call without ``WM_SVC.NAME`` or ``WM_QOS.CORRELATION_ID`` (400: required headers of every
  Marketplace call) or without a live ``WM_SEC.ACCESS_TOKEN`` (401);
- a call over its operation's bucket: 429 with ``Retry-After`` ("Rate limiting": 429 Too Many
  Requests); every answer carries ``X-Current-Token-Count`` and ``X-Next-Replenishment-Time``
  (the token headers); feed submissions 10 an hour ("Update inventory in bulk");
- ``PUT /v3/inventory`` without ``sku``, or a body whose ``sku`` differs or whose ``quantity`` is not
  ``{"unit": "EACH", "amount": <whole number >= 0>}``: 400; an unknown SKU: 404 (Inventory API);
- ``PUT /v3/inventories/{sku}``: each node answered ``Success`` or ``Failed`` (an unknown ship node);
- ``GET /v3/inventories`` with ``limit`` outside 1..50, ``GET /v3/orders`` with ``limit`` outside
  1..200 or with neither ``createdStartDate`` nor ``lastModifiedStartDate`` (400);
- feeds: the rules in ``sim.feeds``.
Simulator choices (Walmart publishes no per-call figure for these): the per-operation rates in
``RATES`` (settable), an order's sale taking the units off ``inputQty`` at once, and the feed delay.
"""

from __future__ import annotations

import base64
import math
import secrets
from typing import Any
from urllib.parse import parse_qs, quote

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket, listings_from
from adapters.walmart.sim import feeds
from adapters.walmart.sim.inventory import InventoryRoutes
from adapters.walmart.sim.orders import Line, Subscription, WalmartOrder, parse_iso

RATES: dict[str, tuple[float, float]] = {
    # (calls per second, burst)
    "inventory_put": (5.0, 5.0),  # simulator choice, the adapter's assumed default
    "inventory_get": (20.0, 20.0),  # simulator choice
    "feeds": (10 / 3600, 10.0),  # "Update inventory in bulk": 10 feeds an hour
    "feed_status": (20.0, 20.0),  # simulator choice
    "orders": (20.0, 20.0),  # simulator choice
}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def error(status: int, code: str, description: str) -> Response:
    return _json({"errors": [{"code": code, "description": description, "severity": "ERROR"}]}, status)


class WalmartSimulator(InventoryRoutes):
    """One seller account, served as an ASGI app at ``self.app`` (routes in the module docstring,
    plus the shared ``/_sim/`` control surface, whose sales are notified as ``PO_CREATED``)."""

    def __init__(
        self,
        *,
        client_id: str = "walmart-sim-client",
        client_secret: str = "walmart-sim-secret",
        subscription: Subscription | None = None,
        ship_node: str = "10001",
        token_ttl_s: float = 900.0,
        rates: dict[str, tuple[float, float]] | None = None,
        feed_delay_s: float = 0.2,
        feed_max_items: int = 10_000,
        first_order: int = 0,
        store: SimulatedStore | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.credentials = (client_id, client_secret)
        self.subscription = subscription or Subscription()
        self.ship_node, self.token_ttl_s = ship_node, token_ttl_s
        self.feed_delay_s, self.feed_max_items = feed_delay_s, feed_max_items
        self.store = store or SimulatedStore()
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.tokens: dict[str, float] = {}
        self.buckets = {
            op: TokenBucket(burst, rate) for op, (rate, burst) in {**RATES, **(rates or {})}.items()
        }
        self.orders: dict[str, WalmartOrder] = {}
        self.feeds: dict[str, feeds.Feed] = {}
        self.first_order = first_order
        routes = [
            Route("/v3/token", self._token, methods=["POST"]),
            Route("/v3/inventory", self._guarded(self.put_one, "inventory_put"), methods=["PUT"]),
            Route("/v3/inventory", self._guarded(self.get_one, "inventory_get"), methods=["GET"]),
            Route("/v3/inventories/{sku}", self._guarded(self.put_nodes, "inventory_put"), methods=["PUT"]),
            Route("/v3/inventories", self._guarded(self.get_all, "inventory_get"), methods=["GET"]),
            Route("/v3/feeds", self._guarded(self.submit_feed, "feeds"), methods=["POST"]),
            Route("/v3/feeds/{feed_id}", self._guarded(self.feed_status, "feed_status"), methods=["GET"]),
            Route("/v3/orders", self._guarded(self._get_orders, "orders"), methods=["GET"]),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost ---------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        listings = listings_from(items, lambda item: {"nodes": [self.ship_node]})
        self.store.seed(listings, reset)
        return {item.sku: item.ids for item in listings}

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        for op, pair in (changes.get("rates") or {}).items():
            self.buckets[op] = TokenBucket(float(pair[1]), float(pair[0]))
        if "feed_delay_s" in changes:
            self.feed_delay_s = float(changes["feed_delay_s"])
        return {"rates": {op: [b.rate, b.capacity] for op, b in self.buckets.items()}}

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300

    def error_response(self) -> Response:
        return error(500, "INTERNAL_SERVER_ERROR", "Internal server error")

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """A sale: a new purchase order and its ``PO_CREATED`` event, signed."""
        po = self.po_for(order)
        lines = [Line(n + 1, sku, q, changed=order.t) for n, (sku, q) in enumerate(order.lines)]
        placed = WalmartOrder(po, lines, order.t, order.t)
        with self.store.lock:
            self.orders[po] = placed
        return self.subscription.signed(placed.event("PO_CREATED"))

    def po_for(self, order: SimOrder) -> str:
        """A purchase order id: 13 digits, from the simulator's base (ids never repeat across tests)."""
        return f"{1_000_000_000_000 + self.first_order + order.order_id}"

    def cancel_lines(
        self, po: str, numbers: list[int] | None = None, sub: str = "PO_LINE_AUTOCANCELLED"
    ) -> tuple[bytes, dict[str, str]]:
        """Walmart cancels lines (all when ``numbers`` is None): their units return to the listings;
        the ``ORDER_UPDATES`` event (``sub``), signed. ``INTENT_TO_CANCEL`` changes nothing."""
        with self.store.lock:
            order = self.orders[po]
            if sub != "INTENT_TO_CANCEL":
                # strictly later than the last change: the event's eventTime is the order's version
                order.updated = max(self.store.clock(), order.updated + 0.002)
                for line in order.lines:
                    if (numbers is None or line.number in numbers) and not line.cancelled:
                        line.cancelled, line.changed = True, order.updated
                        self.store.listings[line.sku].quantity += line.quantity
        return self.subscription.signed(order.event("ORDER_UPDATES", sub))

    # -- auth and rate -----------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        sent = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        if not secrets.compare_digest(sent.encode(), expected.encode()):
            return error(401, "UNAUTHORIZED.GMP_GATEWAY_API", "Unauthorized")
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return error(
                400, "INVALID_REQUEST_CONTENT.GMP_GATEWAY_API", "grant_type must be client_credentials"
            )
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.store.clock() + self.token_ttl_s
        return _json({"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_ttl_s)})

    def _guarded(self, handler: Any, operation: str) -> Any:
        async def endpoint(request: Request) -> Response:
            async def inner(req: Request) -> Response:
                for name in ("wm_svc.name", "wm_qos.correlation_id"):
                    if not req.headers.get(name):
                        return error(400, "MISSING_REQUEST_HEADER", f"{name.upper()} header is required")
                if self.tokens.get(req.headers.get("wm_sec.access_token", ""), 0.0) <= self.store.clock():
                    return error(401, "UNAUTHORIZED.GMP_GATEWAY_API", "Unauthorized")
                bucket = self.buckets[operation]
                if not bucket.take(1):
                    self.store.count("throttled")
                    wait = max(1, math.ceil(bucket.wait_for(1)))
                    refused = error(429, "REQUEST_THRESHOLD_VIOLATED", "Too Many Requests")
                    refused.headers["Retry-After"] = str(wait)
                    return self._token_headers(refused, bucket)
                self._process_feeds()
                return self._token_headers(await handler(req), bucket)

            return await with_faults(self, request, inner)

        return endpoint

    def _token_headers(self, response: Response, bucket: TokenBucket) -> Response:
        response.headers["X-Current-Token-Count"] = str(int(bucket.available()))
        refill = self.store.clock() + bucket.wait_for(bucket.capacity)
        response.headers["X-Next-Replenishment-Time"] = str(round(refill * 1000))
        return response

    # -- orders --------------------------------------------------------------------------------------

    async def _get_orders(self, request: Request) -> Response:
        params = request.query_params
        since_text = params.get("lastModifiedStartDate") or params.get("createdStartDate")
        try:
            size, start = int(params.get("limit", "100")), int(params.get("soIndex", "0"))
            since = parse_iso(since_text or "")
        except ValueError:
            size, since = 0, 0.0
        if not 1 <= size <= 200 or not since_text:
            return error(400, "INVALID_REQUEST_PARAM", "limit 1..200 and a start date are required")
        by_modified = "lastModifiedStartDate" in params
        with self.store.lock:
            rows = sorted(self.orders.values(), key=lambda o: (o.updated, o.po))
            rows = [o for o in rows if (o.updated if by_modified else o.created) >= since]
            page = [o.listed() for o in rows[start : start + size]]
        meta: dict[str, Any] = {"totalCount": len(rows), "limit": size}
        if start + size < len(rows):
            name = "lastModifiedStartDate" if by_modified else "createdStartDate"
            nxt = f"?limit={size}&hasMoreElements=true&soIndex={start + size}"
            meta["nextCursor"] = f"{nxt}&{name}={quote(since_text, safe='')}"
        return _json({"list": {"meta": meta, "elements": {"order": page}}})
