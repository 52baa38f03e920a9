"""A simulated Flipkart seller account: OAuth client credentials, Listings v3 inventory updates and
reads, ``shipments/filter``, and FKLOGIN-signed order notifications.

It refuses what the Seller API refuses, each rule with its source:
- a token request without HTTP Basic ``app_id:app_secret`` or ``grant_type=client_credentials``:
  401 (api-docs "Authentication": client-credentials grant of the seller's application);
- a call without a known, unexpired bearer token: 401 (each API's "401 Client unauthorized");
- ``update/inventory`` without a JSON ``Content-Type`` (a required header) or with more than 10 SKUs
  ("Max batch size allowed is 10"): 400; per SKU (the answer is a per-SKU map, "a 200 can hold
  failures"): an unknown SKU fails ("an error will be returned against the SKU"), so does a
  ``product_id`` missing or outside 13..16 characters ("Mandatory", "Length Range -> 13 to 16"), a
  ``locations[]`` entry without ``id`` or with an ``inventory`` that is not a non-negative integer
  (both "Mandatory", "Non-negative Integer") (UpdateListingsInventoryAPI);
- ``GET /shipments`` with other than exactly one of ``shipmentIds``, ``orderIds``, ``orderItemIds``
  ("only one type of query param is accepted per invocation", GetByShipmentIds) or more than 100
  ids ("Maximum 100", fk-api-platform-docs): 400;
- ``GET /listings/v3/{skuIds}`` with more than 10 SKUs: 400 ("Maximum per call: 10", GetListingsAPI);
- ``product/search`` without an integer ``batchNo`` >= 0 or a known ``internalState``: 400 (both
  "required"); 20 listings a batch (fk-api-platform-docs "Search listings and product details");
- ``shipments/filter`` without ``type`` (preDispatch, postDispatch, cancelled) or ``states``
  valid for it, or a cancelled search without ``cancellationType``: 400 (PostShipmentSearch).
Simulator choices (unverified): pushes over the rate set by ``rates`` get 429 (Flipkart publishes
no limit); ``pageSize`` is 1..20; a ``product_id`` other than the listing's or an unknown location
fails that SKU; a pushed quantity applies at once.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.flipkart.sim.shipments import Item, Shipment, cancelled, created, signed
from adapters.flipkart.sim.validate import filter_refusal, inventory_failure, matches
from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket, listings_from

PUSH = "update_inventory"
SEARCH_BATCH = 20
STATES = ("ACTIVE", "INACTIVE", "READY_FOR_ACTIVATION", "ARCHIVED", "INACTIVATED_BY_FLIPKART")


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"code": status, "error": code, "message": message}, status)


class FlipkartSimulator:
    """One seller account (one location) served as an ASGI app at ``self.app``; sales are
    ``shipment_created`` notifications signed for ``notify_url`` (the channel's ``endpoint_url``)."""

    def __init__(
        self,
        *,
        app_id: str = "fk-sim-app",
        app_secret: str = "fk-sim-secret",
        notify_url: str = "https://sync.example.com/webhooks/flipkart",
        location_id: str = "LOCSIM0001",
        encoding: str = "hex",
        token_ttl_s: float = 3600.0,
        rates: dict[str, tuple[float, float]] | None = None,
        first_shipment: int = 0,
        store: SimulatedStore | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.app_id, self.app_secret, self.notify_url = app_id, app_secret, notify_url
        self.location_id, self.encoding, self.token_ttl_s = location_id, encoding, token_ttl_s
        self.store = store or SimulatedStore()
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.tokens: dict[str, float] = {}
        rate, burst = (rates or {}).get(PUSH, (5.0, 5.0))
        self.buckets = {PUSH: TokenBucket(burst, rate)}
        self.shipments: dict[str, Shipment] = {}
        self.first_shipment = first_shipment
        self.pages: dict[str, tuple[list[str], int]] = {}  # next_token -> (shipment ids, page size)
        routes = [
            Route("/oauth-service/oauth/token", self._token, methods=["GET"]),
            Route("/sellers/listings/v3/update/inventory", self._guarded(self._push, PUSH), methods=["POST"]),
            Route("/sellers/listings/v3/product/search", self._guarded(self._search), methods=["POST"]),
            Route("/sellers/listings/v3/{skus}", self._guarded(self._details), methods=["GET"]),
            Route("/sellers/v3/shipments", self._guarded(self._shipments), methods=["GET"]),
            Route("/sellers/v3/shipments/filter", self._guarded(self._filter), methods=["POST"]),
            Route("/sellers/v3/shipments/filter", self._guarded(self._next_page), methods=["GET"]),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost ---------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        """Listings at this account's location; ``product_id`` 16 characters unless given."""
        listings = listings_from(
            items,
            lambda item: {
                "product_id": str(item.get("product_id") or "PRD" + secrets.token_hex(7).upper()[:13]),
                "location_id": self.location_id,
            },
        )
        self.store.seed(listings, reset)
        return {item.sku: item.ids for item in listings}

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        for op, pair in (changes.get("rates") or {}).items():
            self.buckets[op] = TokenBucket(float(pair[1]), float(pair[0]))
        return {"rates": {op: [b.rate, b.capacity] for op, b in self.buckets.items()}}

    def accepts(self, status: int) -> bool:
        return status == 200  # Flipkart counts a 200 as consumed (best_practices)

    def error_response(self) -> Response:
        return _error(500, "INTERNAL_SERVER_ERROR", "Internal Server Error")

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """A sale: a new shipment (APPROVED) and its ``shipment_created``, signed now."""
        n = self.first_shipment + order.order_id
        items = [Item(f"{n:012d}{k:04d}", f"OD{n:018d}", sku, q) for k, (sku, q) in enumerate(order.lines)]
        shipment = Shipment(f"SHP-{n:012d}", self.location_id, items, order.t, order.t)
        with self.store.lock:
            self.shipments[shipment.shipment_id] = shipment
        return signed(
            created(shipment), self.app_id, self.app_secret, self.notify_url, order.t, self.encoding
        )

    def cancel(self, shipment_id: str, units: dict[str, int] | None = None) -> tuple[bytes, dict[str, str]]:
        """The seller cancels ``units`` (SKU -> units; None: everything) of a shipment; the units go
        back to the listing; its ``shipment_cancelled``, signed, unsent. A partly cancelled item is
        split: the cancelled units become an item of their own with status CANCELLED (unverified)."""
        with self.store.lock:
            shipment = self.shipments[shipment_id]
            now = max(self.store.clock(), shipment.updated + 0.002)  # each change strictly later
            touched: list[tuple[Item, int]] = []
            for item in list(shipment.items):
                if item.status == "CANCELLED":
                    continue
                take = item.quantity if units is None else min(item.quantity, units.get(item.sku, 0))
                if take <= 0:
                    continue
                if units is not None:
                    units[item.sku] -= take
                self.store.listings[item.sku].quantity += take
                if take < item.quantity:
                    item.quantity -= take
                    split = Item(item.order_item_id + "C", item.order_id, item.sku, take, "CANCELLED", now)
                    shipment.items.append(split)
                    touched.append((item, take))
                else:
                    item.status, item.cancelled_at = "CANCELLED", now
                    touched.append((item, take))
            shipment.updated = now
        event = cancelled(shipment, touched, now)
        return signed(event, self.app_id, self.app_secret, self.notify_url, now, self.encoding)

    # -- auth and rate -----------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.app_id}:{self.app_secret}".encode()).decode()
        if request.headers.get("authorization", "") != f"Basic {expected}":
            return _json({"error": "unauthorized", "error_description": "Bad credentials"}, 401)
        if request.query_params.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        token = secrets.token_hex(16)
        self.tokens[token] = self.store.clock() + self.token_ttl_s
        body = {"access_token": token, "token_type": "bearer", "expires_in": int(self.token_ttl_s)}
        return _json(body | {"scope": request.query_params.get("scope", "Seller_Api")})

    def _guarded(self, handler: Any, operation: str | None = None) -> Any:
        async def endpoint(request: Request) -> Response:
            async def inner(req: Request) -> Response:
                token = req.headers.get("authorization", "").removeprefix("Bearer ")
                if self.tokens.get(token, 0.0) <= self.store.clock():
                    return _error(401, "UNAUTHORIZED", "Client unauthorized")
                if operation is not None and not self.buckets[operation].take(1):
                    self.store.count("throttled")
                    return _error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
                response: Response = await handler(req)
                return response

            return await with_faults(self, request, inner)

        return endpoint

    # -- listings ------------------------------------------------------------------------------------

    async def _push(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(400, "BAD_REQUEST", "Content-Type must be application/json")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not body:
            return _error(400, "BAD_REQUEST", "the payload is a map of SKU to update inventory request")
        if len(body) > 10:
            return _error(400, "BAD_REQUEST", "Max batch size allowed is 10")
        answer: dict[str, Any] = {}
        written: list[tuple[str, int]] = []
        with self.store.lock:
            for sku, entry in body.items():
                why = inventory_failure(self.store.listings.get(sku), entry)
                if why:
                    answer[sku] = {"status": "FAILURE", "errors": [{"severity": "ERROR", "description": why}]}
                else:
                    answer[sku] = {"status": "SUCCESS"}
                    written.append((sku, entry["locations"][0]["inventory"]))
        self.store.set_quantities(written)
        return _json(answer)

    def _listing(self, sku: str) -> dict[str, Any]:
        listing = self.store.listings[sku]
        return {
            "product_id": listing.ids["product_id"],
            "listing_status": "ACTIVE",
            "locations": [
                {"id": listing.ids["location_id"], "status": "ENABLED", "inventory": listing.quantity}
            ],
        }

    async def _details(self, request: Request) -> Response:
        skus = [s for s in request.path_params["skus"].split(",") if s]
        if not 1 <= len(skus) <= 10:
            return _error(400, "BAD_REQUEST", "sku-ids: comma-separated, Maximum per call: 10")
        with self.store.lock:
            available = {s: self._listing(s) for s in skus if s in self.store.listings}
        return _json({"available": available, "unavailable": [s for s in skus if s not in available]})

    async def _search(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"{}")
        batch, state = body.get("batchNo"), body.get("internalState")
        if type(batch) is not int or batch < 0 or state not in STATES:
            return _error(400, "BAD_REQUEST", "batchNo (integer) and internalState are required")
        with self.store.lock:
            skus = list(self.store.listings) if state == "ACTIVE" else []
            rows = [
                {"sku": s, "productId": self.store.listings[s].ids["product_id"], "status": state}
                for s in skus[batch * SEARCH_BATCH : (batch + 1) * SEARCH_BATCH]
            ]
        return _json({"totalListingsCount": len(skus), "listingData": rows})

    # -- shipments -----------------------------------------------------------------------------------

    async def _shipments(self, request: Request) -> Response:
        named = [k for k in ("shipmentIds", "orderIds", "orderItemIds") if k in request.query_params]
        if named != ["shipmentIds"]:
            # one of the three per invocation (GetByShipmentIds); the simulator serves shipmentIds only
            return _error(400, "BAD_REQUEST", "exactly one of shipmentIds, orderIds, orderItemIds")
        ids = [i for i in request.query_params["shipmentIds"].split(",") if i]
        if not 1 <= len(ids) <= 100:
            return _error(400, "BAD_REQUEST", "Maximum 100 shipment ids allowed per request")
        with self.store.lock:
            found = [self.shipments[i].listed() for i in ids if i in self.shipments]
        return _json({"shipments": found})

    async def _filter(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"{}")
        refusal = filter_refusal(body)
        if refusal:
            return _error(400, "BAD_REQUEST", refusal)
        wanted = body["filter"]
        with self.store.lock:
            rows = sorted(self.shipments.values(), key=lambda s: (s.updated, s.shipment_id))
            found = [s.shipment_id for s in rows if matches(s, wanted)]
        size = int((body.get("pagination") or {}).get("pageSize") or SEARCH_BATCH)
        return self._page(found, size)

    async def _next_page(self, request: Request) -> Response:
        token = request.query_params.get("next_token", "")
        if token not in self.pages:
            return _error(400, "BAD_REQUEST", "unknown next_token")
        found, size = self.pages.pop(token)
        return self._page(found, size)

    def _page(self, found: list[str], size: int) -> Response:
        with self.store.lock:
            page = [self.shipments[s].listed() for s in found[:size]]
        body: dict[str, Any] = {"shipments": page, "hasMore": len(found) > size}
        if len(found) > size:
            token = secrets.token_hex(8)
            self.pages[token] = (found[size:], size)
            body["nextPageUrl"] = f"/v3/shipments/filter?next_token={token}"
        return _json(body)
