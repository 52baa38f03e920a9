"""A simulated Amazon seller account: LWA tokens, Listings Items API 2021-08-01, Orders API
v2026-01-01 ``searchOrders`` and ``getOrder``, and ORDER_CHANGE notifications (with or without
``Summary``) signed by the seller's relay.

It refuses what SP-API refuses, each rule with its source:
- a missing, unknown or expired ``x-amz-access-token``: 403 ("Access Denied, Unauthorized, Expired
  Token": every operation's 403 in the API models);
- a request over an operation's usage plan: 429 ``QuotaExceeded`` (rates and bursts from each
  operation's "Usage Plan" table in the models; settable, and named in ``x-amzn-RateLimit-Limit``);
- ``patchListingsItem`` without ``productType`` or ``patches``, or with an ``op`` outside
  add/replace/merge/delete: 400 ``InvalidInput`` (``ListingsItemPatchRequest`` requires both,
  ``PatchOperation.op`` is that enum); without ``marketplaceIds``: 400 (a required query parameter);
- ``searchListingsItems`` ``pageSize`` over 20, and no more than ``search_cap`` (1000) items paged
  through per search (``ItemSearchResults.numberOfResults``);
- ``getOrder`` for an order the seller does not have: 404; an ``includedData`` value outside the
  operation's enum: 400 (orders_2026-01-01.json);
- the Feeds API for ``JSON_LISTINGS_FEED`` (``sim.feeds``: its own rules and sources there);
- ``searchOrders`` without exactly one of ``createdAfter`` / ``lastUpdatedAfter``, or
  ``maxResultsPerPage`` outside 1..100 (the parameters' descriptions).
Simulator choices (unverified against the live API): a patch naming an unknown SKU, a productType
other than the listing's or ``PRODUCT``, or a path other than ``/attributes/fulfillment_availability``
answers 200 ``INVALID`` with an ERROR issue; an ``ACCEPTED`` patch applies at once.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.amazon.sim import relay_sender
from adapters.amazon.sim.feeds import FeedService
from adapters.amazon.sim.listings import patch_issue, patch_refusal
from adapters.amazon.sim.orders import INCLUDED_DATA, AmazonOrder, order_id_for, v2026
from adapters.amazon.sp_read import RATES
from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket, listings_from


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _errors(status: int, code: str, message: str) -> Response:
    return _json({"errors": [{"code": code, "message": message}]}, status)


class AmazonSimulator:
    """One seller account on one marketplace, served as an ASGI app at ``self.app``.

    Routes: ``POST /auth/o2/token``; ``PATCH`` and ``GET /listings/2021-08-01/items/{sellerId}/{sku}``
    (the GET answers ``summaries`` and ``fulfillmentAvailability``); ``GET
    /listings/2021-08-01/items/{sellerId}`` (``searchListingsItems``); ``GET
    /orders/2026-01-01/orders`` (``searchOrders``) and ``/orders/2026-01-01/orders/{orderId}``
    (``getOrder``); the shared ``/_sim/`` control surface, whose
    sales are Pending orders notified through the relay, plus ``POST /_sim/amazon/orders/{id}``
    ``{"status"?, "cancel"?: {sku: units}, "gateway_url"?}`` (the seller or Amazon moves an order on:
    ``move``; Canceled and partial cancels restock).
    """

    def __init__(
        self,
        *,
        seller_id: str = "A2SIMSELLER",
        marketplace_id: str = "ATVPDKIKX0DER",
        client_id: str = "amzn1.application-oa2-client.sim",
        client_secret: str = "sim-client-secret",
        refresh_token: str = "Atzr|sim-refresh",
        relay_secret: str = "amazon-relay-secret",
        token_ttl_s: float = 3600.0,
        rates: dict[str, tuple[float, float]] | None = None,
        search_cap: int = 1000,
        first_order: int = 0,
        store: SimulatedStore | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.seller_id, self.marketplace_id = seller_id, marketplace_id
        self.credentials = (client_id, client_secret, refresh_token)
        self.relay_secret, self.token_ttl_s, self.search_cap = relay_secret, token_ttl_s, search_cap
        self.store = store or SimulatedStore()
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.tokens: dict[str, float] = {}  # access token -> expiry (store clock)
        self.buckets = {
            op: TokenBucket(burst, rate) for op, (rate, burst) in {**RATES, **(rates or {})}.items()
        }
        self.orders: dict[str, AmazonOrder] = {}
        # Added to the store's order numbers in AmazonOrderIds: a gateway that outlives one simulator
        # (the conformance suite's, one per kind for every test) must never see two orders share an id.
        self.first_order = first_order
        self.patches: list[dict[str, Any]] = []  # every accepted patch body, for tests
        self.feeds = FeedService(self)  # JSON_LISTINGS_FEED (``sim.feeds``)
        items = "/listings/2021-08-01/items/{seller}"
        routes = [
            Route("/auth/o2/token", self._token, methods=["POST"]),
            Route(items + "/{sku}", self._guarded(self._patch, "patchListingsItem"), methods=["PATCH"]),
            Route(items + "/{sku}", self._guarded(self._get_item, "getListingsItem"), methods=["GET"]),
            Route(items, self._guarded(self._search_items, "searchListingsItems"), methods=["GET"]),
            Route(
                "/orders/2026-01-01/orders",
                self._guarded(self._search_orders, "searchOrders"),
                methods=["GET"],
            ),
            Route(
                "/orders/2026-01-01/orders/{order_id}",
                self._guarded(self._get_order, "getOrder"),
                methods=["GET"],
            ),
            Route("/_sim/amazon/orders/{order_id}", self._move_order, methods=["POST"]),
            *self.feeds.routes(),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost ---------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        """Listings; an item's ``product_type`` (default ``"SHIRT"``) is its productType."""
        listings = listings_from(items, lambda item: {"product_type": str(item.get("product_type", "SHIRT"))})
        self.store.seed(listings, reset)
        return {item.sku: item.ids for item in listings}

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        for op, pair in (changes.get("rates") or {}).items():
            self.buckets[op] = TokenBucket(float(pair[1]), float(pair[0]))
        if "token_ttl_s" in changes:
            self.token_ttl_s = float(changes["token_ttl_s"])
        return {"rates": {op: [b.rate, b.capacity] for op, b in self.buckets.items()}}

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300

    def error_response(self) -> Response:
        return _errors(500, "InternalFailure", "We encountered an internal error. Please try again.")

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """A sale: a Pending order and its ORDER_CHANGE, forwarded by the relay."""
        placed = AmazonOrder(
            order_id_for(self.first_order + order.order_id), list(order.lines), order.t, order.t
        )
        with self.store.lock:
            self.orders[placed.order_id] = placed
        return self.notification(placed)

    def notification(self, order: AmazonOrder, summary: bool = True) -> tuple[bytes, dict[str, str]]:
        """The order's ORDER_CHANGE, signed; ``summary`` False sends it without ``Summary``, so the
        adapter must read the order through ``getOrder`` (see ``relay_sender.order_change``)."""
        body = relay_sender.order_change(
            self.seller_id,
            order.order_id,
            order.status,
            order.items(),
            order.updated,
            marketplace_id=self.marketplace_id,
            summary=summary,
        )
        return relay_sender.signed(self.relay_secret, body)

    # -- auth and rate -----------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        """LWA: JSON (as Amazon's SDKs send) or a form body (as LWA's docs show)."""
        raw = await request.body()
        try:
            form = orjson.loads(raw) if raw.startswith(b"{") else dict((await request.form()).items())
        except orjson.JSONDecodeError:
            form = {}
        sent = (form.get("client_id"), form.get("client_secret"), form.get("refresh_token"))
        if form.get("grant_type") != "refresh_token":
            return _json({"error": "unsupported_grant_type"}, 400)
        if sent != self.credentials:
            return _json({"error": "invalid_grant", "error_description": "credentials refused"}, 400)
        token = f"Atza|{secrets.token_urlsafe(24)}"
        self.tokens[token] = self.store.clock() + self.token_ttl_s
        return _json({"access_token": token, "token_type": "bearer", "expires_in": int(self.token_ttl_s)})

    def _guarded(self, handler: Any, operation: str) -> Any:
        async def endpoint(request: Request) -> Response:
            async def inner(req: Request) -> Response:
                self.store.count(f"calls:{operation}")  # for tests: which operations were called
                token = req.headers.get("x-amz-access-token", "")
                if self.tokens.get(token, 0.0) <= self.store.clock():
                    return _errors(403, "Unauthorized", "Access to requested resource is denied.")
                if req.path_params.get("seller", self.seller_id) != self.seller_id:
                    return _errors(403, "Unauthorized", "Access to requested resource is denied.")
                bucket = self.buckets[operation]
                if not bucket.take(1):
                    self.store.count("throttled")
                    return _errors(
                        429, "QuotaExceeded", "You exceeded your quota for the requested resource."
                    )
                response: Response = await handler(req)
                response.headers["x-amzn-RateLimit-Limit"] = f"{bucket.rate:g}"
                return response

            return await with_faults(self, request, inner)

        return endpoint

    # -- listings ------------------------------------------------------------------------------------

    async def _patch(self, request: Request) -> Response:
        if self.marketplace_id not in request.query_params.get("marketplaceIds", "").split(","):
            return _errors(400, "InvalidInput", "Missing or invalid request parameters: [marketplaceIds]")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        refusal = patch_refusal(body)
        if refusal:
            return _errors(400, "InvalidInput", refusal)
        sku = request.path_params["sku"]
        issue = patch_issue(self.store.listings.get(sku), sku, body)
        answer = {
            "sku": sku,
            "status": "INVALID" if issue else "ACCEPTED",
            "submissionId": secrets.token_hex(8),
        }
        answer["issues"] = (
            [{"code": "90000900", "message": issue, "severity": "ERROR", "categories": []}] if issue else []
        )
        if not issue:
            self.patches.append(body)
            self.store.set_quantities([(sku, body["patches"][0]["value"][0]["quantity"])])
        return _json(answer)

    def _item(self, sku: str) -> dict[str, Any]:
        listing = self.store.listings[sku]
        return {
            "sku": sku,
            "summaries": [
                {
                    "marketplaceId": self.marketplace_id,
                    "productType": listing.ids.get("product_type"),
                    "status": ["BUYABLE"],
                    "createdDate": f"2026-01-01T00:00:{list(self.store.listings).index(sku) % 60:02d}Z",
                    "lastUpdatedDate": "2026-01-02T00:00:00Z",
                }
            ],
            "fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT", "quantity": listing.quantity}],
        }

    async def _get_item(self, request: Request) -> Response:
        sku = request.path_params["sku"]
        if sku not in self.store.listings:
            return _errors(404, "NOT_FOUND", f"SKU '{sku}' not found")
        return _json(self._item(sku))

    async def _search_items(self, request: Request) -> Response:
        params = request.query_params
        size = int(params.get("pageSize", "10"))
        if not 1 <= size <= 20 or "marketplaceIds" not in params:
            return _errors(400, "InvalidInput", "pageSize must be 1..20 and marketplaceIds is required")
        with self.store.lock:
            skus = list(self.store.listings)  # insertion order is creation order here
            items = [self._item(s) for s in skus]
        after = params.get("createdAfter")
        if after:
            items = [i for i in items if i["summaries"][0]["createdDate"] >= after]
        start = int(params.get("pageToken") or 0)
        window = items[: self.search_cap]
        page = window[start : start + size]
        nxt = start + size if start + size < len(window) else None
        body: dict[str, Any] = {"numberOfResults": len(items), "items": page}
        if nxt is not None:
            body["pagination"] = {"nextToken": str(nxt)}
        return _json(body)

    # -- orders --------------------------------------------------------------------------------------

    async def _search_orders(self, request: Request) -> Response:
        params = request.query_params
        created, updated = params.get("createdAfter"), params.get("lastUpdatedAfter")
        size = int(params.get("maxResultsPerPage", "100"))
        if (created is None) == (updated is None) or not 1 <= size <= 100:
            return _errors(
                400, "InvalidInput", "exactly one of createdAfter, lastUpdatedAfter; 1..100 per page"
            )
        since = relay_sender.parse_iso(created or updated or "")
        with self.store.lock:
            rows = sorted(self.orders.values(), key=lambda o: (o.updated, o.order_id))
            rows = [o for o in rows if (o.created if created else o.updated) >= since]
        start = int(params.get("paginationToken") or 0)
        fulfillment = "FULFILLMENT" in params.get("includedData", "").split(",")
        body: dict[str, Any] = {"orders": [v2026(o, fulfillment) for o in rows[start : start + size]]}
        if start + size < len(rows):
            body["pagination"] = {"nextToken": str(start + size)}
        return _json(body)

    async def _get_order(self, request: Request) -> Response:
        """``getOrder``: ``{"order": Order}``; 404 for an order the seller does not have, 400 for an
        ``includedData`` value outside the operation's enum (orders_2026-01-01.json)."""
        included = [v for v in request.query_params.get("includedData", "").split(",") if v]
        unknown = [v for v in included if v not in INCLUDED_DATA]
        if unknown:
            return _errors(400, "InvalidInput", f"Invalid includedData: {unknown[0][:40]}")
        with self.store.lock:
            order = self.orders.get(request.path_params["order_id"])
            found = None if order is None else v2026(order, "FULFILLMENT" in included)
        if found is None:
            return _errors(404, "NotFound", "The resource specified does not exist.")
        return _json({"order": found})

    async def _move_order(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"{}")
        order_id = request.path_params["order_id"]
        if order_id not in self.orders:
            return _json({"error": "no such order"}, 404)
        cancel = {str(sku): int(q) for sku, q in (body.get("cancel") or {}).items()}
        payload, headers = self.move(order_id, body.get("status"), cancel, body.get("summary", True))
        status = None
        if body.get("gateway_url"):
            async with httpx.AsyncClient(timeout=10) as client:
                status = (
                    await client.post(body["gateway_url"], content=payload, headers=headers)
                ).status_code
        order = self.orders[order_id]
        return _json({"order_id": order.order_id, "status": order.status, "delivered": status})

    def move(
        self, order_id: str, status: str | None, cancel: dict[str, int] | None = None, summary: bool = True
    ) -> tuple[bytes, dict[str, str]]:
        """The seller or Amazon moves an order on; its ORDER_CHANGE, signed by the relay, unsent.

        ``status``: the new ``OrderStatus`` (None keeps it); ``Canceled`` returns every unit still
        held to the listings (a cancelled MFN order's units are available again). ``cancel``: a
        partial cancel, SKU -> units cancelled from that SKU's items, returned to its listing; the
        notification shows the items' ``Quantity`` lowered (the adapter's reading of a partly
        cancelled item, ``notifications.line_units``, unverified). A Pending order partly cancelled
        becomes Unshipped: the seller can act only on an order whose payment is authorised.
        """
        with self.store.lock:
            order = self.orders[order_id]
            if cancel:
                lines, left = [], dict(cancel)
                for sku, q in order.lines:
                    taken = min(q, max(0, left.get(sku, 0)))
                    left[sku] = left.get(sku, 0) - taken
                    self.store.listings[sku].quantity += taken
                    lines.append((sku, q - taken))
                order.lines = lines
                if status is None and order.status in ("Pending", "PendingAvailability"):
                    status = "Unshipped"
            new = status or order.status
            if new == "Canceled" and order.status != "Canceled":
                for sku, q in order.lines:  # a cancelled MFN order's units return to the listing
                    self.store.listings[sku].quantity += q
            # Strictly later than the order's last change, so each change is a newer version
            # (TimeOfOrderChange is read to the millisecond).
            order.status, order.updated = new, max(self.store.clock(), order.updated + 0.002)
        return self.notification(order, summary)
