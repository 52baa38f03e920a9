"""A simulated eBay seller account: OAuth, the Notification API's public keys, the Inventory API's
bulk quantity update and reads, the Fulfillment API's orders, and signed ORDER_CONFIRMATIONs.

It refuses what eBay refuses, each rule with its source:
- a token request without the app's Basic credentials (401 ``invalid_client``) or with a wrong
  refresh token (400 ``invalid_grant``): developer.ebay.com oauth-refresh-token-request and
  oauth-client-credentials-grant (form body, ``Authorization: Basic``);
- an API call without a live bearer token: 401 (every method's "401 Access denied"); Inventory and
  Fulfillment calls with an application token: 401 too (they need a user token's sell scopes);
- over the rate: 429 (eBay's quotas are per API and day, MARKETPLACES.md; the simulator spends
  them as a bucket refilled at quota/86400 per second, burst one second's worth for the Inventory
  API and a minute's for Fulfillment's smaller quota: a simulator choice, settable);
- ``bulkUpdatePriceQuantity``: the rules in ``sim.bulk``;
- the Trading API (``/ws/api.dll``): the rules in ``sim.trading``; its listings are not inventory
  items (getInventoryItems does not list them, getOffers and bulkUpdatePriceQuantity do not know
  their SKUs), and its calls spend a daily quota of their own (``trading``, 5,000 calls a day);
- ``getInventoryItems`` ``limit`` outside 1..200, ``getOrders`` ``limit`` outside 1..200 or a
  ``filter`` that is not a ``lastmodifieddate`` range: 400 (the methods' parameter descriptions).
Notifications are signed with the simulator's own key, served by ``getPublicKey`` under its kid
(unknown kid: 404); ``notify.validate_endpoint`` plays eBay's endpoint validation.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.ebay.outbound import DAILY_QUOTA
from adapters.ebay.sim import bulk, notify, trading
from adapters.ebay.sim.orders import EbayOrder, modified_range, order_id_for
from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket, listings_from

FULFILLMENT_QUOTA = 100_000


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _errors(status: int, error_id: int, message: str) -> Response:
    return _json({"errors": [{"errorId": error_id, "domain": "API_SIM", "message": message}]}, status)


class EbaySimulator:
    """One seller account, served as an ASGI app at ``self.app`` (routes in the module docstring,
    plus the shared ``/_sim/`` control surface, whose sales are paid orders notified signed)."""

    def __init__(
        self,
        *,
        client_id: str = "sim-client-id",
        client_secret: str = "sim-client-secret",
        refresh_token: str = "v^1.1#sim-refresh",
        token_ttl_s: float = 7200.0,
        per_call: int = 1,
        store: SimulatedStore | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.credentials = (client_id, client_secret)
        self.refresh_token, self.token_ttl_s, self.per_call = refresh_token, token_ttl_s, per_call
        self.store = store or SimulatedStore()
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.signer = notify.Signer()
        self.user_tokens: dict[str, float] = {}
        self.app_tokens: dict[str, float] = {}
        inventory_rate, fulfillment_rate = DAILY_QUOTA / 86_400, FULFILLMENT_QUOTA / 86_400
        self.buckets = {
            "inventory": TokenBucket(inventory_rate, inventory_rate),
            "fulfillment": TokenBucket(fulfillment_rate * 60, fulfillment_rate),
            "trading": trading.budget(),
        }
        self.trading = trading.TradingListings(self.store)
        self.orders: dict[str, EbayOrder] = {}
        self.revisions: dict[str, deque[float]] = {}
        self.updates: list[dict[str, Any]] = []  # every bulk call's body, for tests
        self._next_listing = 110_000_000_000 + secrets.randbelow(10**9)
        inv, ful = "/sell/inventory/v1", "/sell/fulfillment/v1/order"
        routes = [
            Route("/identity/v1/oauth2/token", self._token, methods=["POST"]),
            Route("/commerce/notification/v1/public_key/{kid}", self._public_key, methods=["GET"]),
            Route(f"{inv}/bulk_update_price_quantity", self._user(self._bulk, "inventory"), methods=["POST"]),
            Route(f"{inv}/inventory_item", self._user(self._items, "inventory"), methods=["GET"]),
            Route(f"{inv}/offer", self._user(self._offers, "inventory"), methods=["GET"]),
            Route(ful, self._user(self._get_orders, "fulfillment"), methods=["GET"]),
            Route(ful + "/{order_id}", self._user(self._get_order, "fulfillment"), methods=["GET"]),
            Route("/ws/api.dll", self._trading, methods=["POST"]),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost ---------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        """Listings, each an inventory item with one published offer and its listing."""

        def ids(item: Any) -> dict[str, Any]:
            self._next_listing += 1
            return {"offers": [f"O{self._next_listing}"], "listings": [str(self._next_listing)]}

        listings = listings_from(items, ids)
        if reset:
            self.trading.total.clear()
        self.store.seed(listings, reset)
        return {item.sku: item.ids for item in listings}

    def seed_trading(self, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Listings made outside the Inventory API, added: ``{"sku", "quantity", "item_id"?,
        "ebay_sku"?}`` (with ``ebay_sku`` the listing is tracked by SKU)."""

        def next_id() -> str:
            self._next_listing += 1
            return str(self._next_listing)

        return self.trading.seed(items, next_id)

    @staticmethod
    def inventory_item(listing: Any) -> bool:
        return listing is not None and "trading" not in listing.ids

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        for api, pair in (changes.get("rates") or {}).items():
            self.buckets[api] = TokenBucket(float(pair[1]), float(pair[0]))
        self.per_call = int(changes.get("per_call", self.per_call))
        self.token_ttl_s = float(changes.get("token_ttl_s", self.token_ttl_s))
        return {
            "per_call": self.per_call,
            "rates": {k: [b.rate, b.capacity] for k, b in self.buckets.items()},
        }

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300

    def error_response(self) -> Response:
        return _errors(500, 25001, "A system error has occurred.")

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """A sale: a paid order and its ORDER_CONFIRMATION."""
        with self.store.lock:
            lines = [(sku, self.store.listings[sku].ids["listings"][0], q) for sku, q in order.lines]
            placed = EbayOrder(order_id_for(order.order_id), lines, order.t, order.t)
            self.orders[placed.order_id] = placed
        return self.notification(placed)

    def notification(
        self, order: EbayOrder, notification_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        lines = [(order.line_id(n), listing, q) for n, (_, listing, q) in enumerate(order.lines)]
        body = notify.order_confirmation(order.order_id, lines, order.created, notification_id)
        return notify.signed(self.signer, body)

    def cancel(self, order_id: str) -> None:
        """The seller cancels: the units go back to the listings (taken as eBay's behaviour)."""
        with self.store.lock:
            order = self.orders[order_id]
            if not order.cancelled:
                for sku, _, q in order.lines:
                    self.store.listings[sku].quantity += q
            order.cancelled, order.updated = True, max(self.store.clock(), order.updated + 0.001)

    # -- auth and rate -----------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        basic = request.headers.get("authorization", "").removeprefix("Basic ")
        try:
            sent = tuple(base64.b64decode(basic).decode().split(":", 1))
        except ValueError:
            sent = ()
        if sent != self.credentials:
            return _json(
                {"error": "invalid_client", "error_description": "client authentication failed"}, 401
            )
        form = dict(parse_qsl((await request.body()).decode()))  # x-www-form-urlencoded
        now = self.store.clock()
        if form.get("grant_type") == "client_credentials":
            tokens = self.app_tokens
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") != self.refresh_token:
                return _json(
                    {"error": "invalid_grant", "error_description": "the refresh token is invalid"}, 400
                )
            tokens = self.user_tokens
        else:
            return _json({"error": "unsupported_grant_type"}, 400)
        token = f"v^1.1#i^1#{uuid.uuid4().hex}"
        tokens[token] = now + self.token_ttl_s
        return _json(
            {"access_token": token, "expires_in": int(self.token_ttl_s), "token_type": "User Access Token"}
        )

    def _bearer(self, request: Request, *pools: dict[str, float]) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return any(pool.get(token, 0.0) > self.store.clock() for pool in pools)

    def _user(self, handler: Any, api: str) -> Any:
        async def endpoint(request: Request) -> Response:
            async def inner(req: Request) -> Response:
                if not self._bearer(req, self.user_tokens):
                    return _errors(401, 1001, "Invalid access token")
                if not self.buckets[api].take(1):
                    self.store.count("throttled")
                    return _errors(429, 2001, "Too many requests. The request limit has been reached.")
                response: Response = await handler(req)
                return response

            return await with_faults(self, request, inner)

        return endpoint

    async def _trading(self, request: Request) -> Response:
        return await with_faults(self, request, lambda req: trading.handle(self, req))

    async def _public_key(self, request: Request) -> Response:
        if not self._bearer(request, self.app_tokens, self.user_tokens):
            return _errors(401, 1001, "Invalid access token")
        if request.path_params["kid"] != self.signer.kid:
            return _errors(404, 195000, "Resource not found: the public key id is unknown")
        return _json(self.signer.answer())

    # -- inventory ---------------------------------------------------------------------------------

    async def _bulk(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        refusal = bulk.call_refusal(body, self.per_call)
        if refusal:
            return _errors(400, bulk.TOO_MANY, refusal)
        self.updates.append(body)
        responses, now = [], self.store.clock()
        for item in body["requests"]:
            listing = self.store.listings.get(item["sku"])
            listing = listing if self.inventory_item(listing) else None
            quantity, errors = bulk.item_outcome(listing, item)
            if listing is not None and not errors:
                day = self.revisions.setdefault(listing.ids["listings"][0], deque())
                while day and day[0] <= now - 86_400:
                    day.popleft()
                if len(day) >= bulk.REVISION_LIMIT:
                    errors = [{"errorId": bulk.REVISIONS, "message": "listing revised 250 times today"}]
                else:
                    day.append(now)
                    self.store.set_quantities([(item["sku"], int(quantity or 0))])
            for offer in item.get("offers") or [{}]:
                responses.append(
                    {
                        "statusCode": 400 if errors else 200,
                        "sku": item["sku"],
                        "offerId": offer.get("offerId"),
                        "errors": errors,
                        "warnings": [],
                    }
                )
        failed = any(r["statusCode"] != 200 for r in responses)
        return _json({"responses": responses}, 207 if failed else 200)

    async def _items(self, request: Request) -> Response:
        limit, offset = (
            int(request.query_params.get("limit", "25")),
            int(request.query_params.get("offset", "0")),
        )
        if not 1 <= limit <= 200 or offset < 0:
            return _errors(400, 25709, "limit must be 1..200 and offset non-negative")
        with self.store.lock:
            rows = [x for x in self.store.listings.values() if self.inventory_item(x)]
        page = [
            {"sku": x.sku, "availability": {"shipToLocationAvailability": {"quantity": x.quantity}}}
            for x in rows[offset : offset + limit]
        ]
        return _json({"total": len(rows), "limit": limit, "offset": offset, "inventoryItems": page})

    async def _offers(self, request: Request) -> Response:
        sku = request.query_params.get("sku", "")
        listing = self.store.listings.get(sku)
        if listing is None or not self.inventory_item(listing):
            return _errors(404 if sku else 400, 25713, "This Offer is not available.")
        offers = [
            {
                "offerId": offer,
                "sku": sku,
                "marketplaceId": "EBAY_US",
                "format": "FIXED_PRICE",
                "availableQuantity": listing.quantity,
                "status": "PUBLISHED",
                "listing": {"listingId": lid, "listingStatus": "ACTIVE"},
            }
            for offer, lid in zip(listing.ids["offers"], listing.ids["listings"], strict=True)
        ]
        return _json({"total": len(offers), "offers": offers})

    # -- orders ------------------------------------------------------------------------------------

    async def _get_orders(self, request: Request) -> Response:
        params = request.query_params
        limit, offset = int(params.get("limit", "50")), int(params.get("offset", "0"))
        window = modified_range(params.get("filter", ""))
        if window is None or not 1 <= limit <= 200 or offset < 0:
            return _errors(400, 30700, "filter must be lastmodifieddate:[from..to]; limit 1..200")
        start, end = window
        with self.store.lock:
            rows = sorted(self.orders.values(), key=lambda o: (o.created, o.order_id))
            rows = [o for o in rows if o.updated >= start and (end is None or o.updated <= end)]
        page = [o.document() for o in rows[offset : offset + limit]]
        return _json({"total": len(rows), "limit": limit, "offset": offset, "orders": page})

    async def _get_order(self, request: Request) -> Response:
        order = self.orders.get(request.path_params["order_id"])
        if order is None:
            return _errors(404, 32100, "Order not found")
        return _json(order.document())
