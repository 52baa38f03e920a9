"""A simulated Etsy shop: OAuth refresh, listings and their inventories, shop receipts, signed webhooks.

It refuses what Etsy refuses, each rule with its source:
- a token request that is not ``grant_type=refresh_token`` with this app's ``client_id`` and the
  seller's refresh token: 400 ``invalid_grant`` (developers.etsy.com essentials/authentication);
- an API call without this app's ``x-api-key`` or without a live bearer token: 401 (same page:
  every request carries ``x-api-key``; scoped endpoints ``Authorization: Bearer``);
- over the rate: 429 with ``retry-after`` (developers.etsy.com rate limits: per app, 10/s and
  10,000 a day, a sliding 24 h window); every answer carries ``x-limit-per-second``,
  ``x-remaining-this-second``, ``x-limit-per-day``, ``x-remaining-today`` (same page);
- ``updateListingInventory``: ``sim.rules``; the write REPLACES the inventory (products left out
  are gone, MARKETPLACES.md, Etsy); an unknown listing: 404;
- ``getListingsByShop`` / ``getShopReceipts`` ``limit`` outside 1..100 or another shop: 400 / 403
  (the reference's parameter ranges; a token is the seller's own shop only).
Prices are kept in cents and served as money objects ``{amount, divisor, currency_code}``; a
``seller_edit`` changes a listing's price behind our back, as the seller in Etsy's UI would.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.etsy import signature
from adapters.etsy.sim import rules
from adapters.etsy.sim.shop import EtsyShop
from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


class EtsySimulator:
    """One seller's shop served as an ASGI app at ``self.app`` (routes in the module docstring, plus
    the shared ``/_sim/`` control surface, whose sales are paid receipts notified by ``order.paid``)."""

    def __init__(
        self,
        *,
        client_id: str = "sim-keystring",
        refresh_token: str = "sim-refresh",
        webhook_secret: str | None = None,
        shop_id: int = 40_000_001,
        per_second: float = 10.0,
        per_day: int = 10_000,
        token_ttl_s: float = 3600.0,
        store: SimulatedStore | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.client_id, self.refresh_token, self.token_ttl_s = client_id, refresh_token, token_ttl_s
        self.webhook_secret = webhook_secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.store = store or SimulatedStore()
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.shop = EtsyShop(self.store, shop_id)
        self.tokens: dict[str, float] = {}
        self.second = TokenBucket(per_second, per_second)
        self.per_day, self.day = per_day, deque[float]()
        base, shop = "/v3/application", f"/v3/application/shops/{shop_id}"
        routes = [
            Route("/v3/public/oauth/token", self._token, methods=["POST"]),
            Route(
                base + "/listings/{listing_id:int}/inventory", self._api(self._get_inventory), methods=["GET"]
            ),
            Route(
                base + "/listings/{listing_id:int}/inventory", self._api(self._put_inventory), methods=["PUT"]
            ),
            Route(base + "/shops/{shop:int}/listings", self._api(self._listings), methods=["GET"]),
            Route(base + "/shops/{shop:int}/receipts", self._api(self._receipts), methods=["GET"]),
            Route(shop + "/receipts/{receipt_id:int}", self._api(self._receipt), methods=["GET"]),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost ---------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        return self.shop.seed(items, reset)

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        if "per_second" in changes or "burst" in changes:
            rate = float(changes.get("per_second", self.second.rate))
            self.second = TokenBucket(float(changes.get("burst", rate)), rate)
        self.per_day = int(changes.get("per_day", self.per_day))
        self.token_ttl_s = float(changes.get("token_ttl_s", self.token_ttl_s))
        return {"per_second": self.second.rate, "burst": self.second.capacity, "per_day": self.per_day}

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300

    def error_response(self) -> Response:
        return _error(500, "Internal server error")

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """A sale: a paid receipt and its ``order.paid`` delivery."""
        receipt = self.shop.receipt_for(order)
        return self.delivery("order.paid", receipt["receipt_id"])

    def delivery(self, event: str, receipt_id: int, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed delivery of ``event`` for the receipt (Standard Webhooks, MARKETPLACES.md)."""
        sid = self.shop.shop_id
        body = orjson.dumps(
            {
                "event_type": event,
                "resource_url": f"https://openapi.etsy.com/v3/application/shops/{sid}/receipts/{receipt_id}",
                "shop_id": sid,
            }
        )
        msg_id, stamp = f"msg_{secrets.token_hex(12)}", int(time.time() if at is None else at)
        key = signature.key_bytes(self.webhook_secret)
        headers = {
            "content-type": "application/json",
            signature.ID: msg_id,
            signature.TIMESTAMP: str(stamp),
            signature.SIGNATURE: signature.sign(key, msg_id, stamp, body),
        }
        return body, headers

    # -- auth and rate ---------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))  # x-www-form-urlencoded
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != self.client_id:
            return _json({"error": "invalid_grant", "error_description": "client or grant is invalid"}, 400)
        if form.get("refresh_token") != self.refresh_token:
            return _json({"error": "invalid_grant", "error_description": "refresh token is invalid"}, 400)
        token = f"{self.shop.shop_id}.{secrets.token_urlsafe(24)}"
        self.tokens[token] = self.store.clock() + self.token_ttl_s
        return _json(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": int(self.token_ttl_s),
                "refresh_token": self.refresh_token,
            }
        )

    def _limits(self) -> dict[str, str]:
        now = self.store.clock()
        while self.day and self.day[0] <= now - 86_400:
            self.day.popleft()
        return {
            "x-limit-per-second": str(int(self.second.capacity)),
            "x-remaining-this-second": str(int(self.second.available())),
            "x-limit-per-day": str(self.per_day),
            "x-remaining-today": str(max(0, self.per_day - len(self.day))),
        }

    def _api(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            async def inner(req: Request) -> Response:
                key = req.headers.get("x-api-key", "").split(":", 1)[0]
                token = req.headers.get("authorization", "").removeprefix("Bearer ")
                if key != self.client_id or self.tokens.get(token, 0.0) <= self.store.clock():
                    return _error(401, "invalid_token")
                over_day = len(self.day) >= self.per_day and self._limits()["x-remaining-today"] == "0"
                if over_day or not self.second.take(1):
                    self.store.count("throttled")
                    wait = max(1, round(self.second.wait_for(1)))
                    return _json(
                        {"error": "Too many requests"}, 429, {"retry-after": str(wait), **self._limits()}
                    )
                self.day.append(self.store.clock())
                response: Response = await handler(req)
                response.headers.update(self._limits())
                return response

            return await with_faults(self, request, inner)

        return endpoint

    # -- listings --------------------------------------------------------------------------------

    async def _get_inventory(self, request: Request) -> Response:
        found = self.shop.inventory(request.path_params["listing_id"])
        return _json(found) if found is not None else _error(404, "Listing not found")

    async def _put_inventory(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(400, "Content-Type must be application/json")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "body is not JSON")
        listing = request.path_params["listing_id"]
        if self.shop.inventory(listing) is None:
            return _error(404, "Listing not found")
        refusal = rules.inventory_refusal(body)
        if refusal:
            return _error(400, refusal)
        self.shop.replace(listing, body)
        return _json(self.shop.inventory(listing))

    async def _listings(self, request: Request) -> Response:
        if request.path_params["shop"] != self.shop.shop_id:
            return _error(403, "not your shop")
        limit, offset = (
            int(request.query_params.get("limit", "25")),
            int(request.query_params.get("offset", "0")),
        )
        if not 1 <= limit <= 100 or offset < 0 or request.query_params.get("state", "active") != "active":
            return _error(400, "limit must be 1..100, offset >= 0, state active")
        rows = self.shop.listing_rows()
        return _json({"count": len(rows), "results": rows[offset : offset + limit]})

    # -- receipts --------------------------------------------------------------------------------

    async def _receipts(self, request: Request) -> Response:
        if request.path_params["shop"] != self.shop.shop_id:
            return _error(403, "not your shop")
        params = request.query_params
        limit, offset = int(params.get("limit", "25")), int(params.get("offset", "0"))
        since = params.get("min_last_modified", "0")
        if not 1 <= limit <= 100 or offset < 0 or not since.isdigit():
            return _error(400, "limit must be 1..100, offset >= 0, min_last_modified epoch seconds")
        rows = self.shop.receipts_since(int(since))
        return _json({"count": len(rows), "results": rows[offset : offset + limit]})

    async def _receipt(self, request: Request) -> Response:
        found = self.shop.receipt(request.path_params["receipt_id"])
        return _json(found) if found is not None else _error(404, "Receipt not found")
