"""A simulated WooCommerce store: REST v3 product/variation batches, catalog and orders, signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.sim_control import ExposeTransport, control_routes, with_faults
from adapters.sim_core import Faults, Listing, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket
from adapters.woocommerce.sim_catalog import WooCatalog, error, page_of, parse_date

API = "/wp-json/wc/v3"


class WooCommerceSimulator:
    """One simulated store, served as an ASGI app at ``self.app``.

    - ``POST /wp-json/wc/v3/products/batch`` and ``/products/{id}/variations/batch``: ``update`` items
      ``{"id", "manage_stock"?, "stock_quantity"?}``, answered per item in order (unknown ids get
      ``{"id", "error": {...}}``); more than ``batch_limit`` items answer 413.
    - ``GET /products``, ``/products/{id}/variations``, ``/orders?modified_after=``: pages of
      ``per_page`` (1..100) with ``X-WP-Total`` / ``X-WP-TotalPages``, ascending by id.
    - ``/_sim/...``: the shared control surface (``adapters.sim_control``).

    Authentication is HTTP Basic (or ``consumer_key``/``consumer_secret`` query parameters) with the
    configured key pair; anything else answers 401. WooCommerce core has no rate limit: with
    ``rate_limit=(per_s, burst)`` the store answers 429 + ``Retry-After`` as a host's limiter would.
    """

    def __init__(
        self,
        *,
        consumer_key: str = "ck_simulated",
        consumer_secret: str = "cs_simulated",
        webhook_secret: str = "woocommerce-simulated-secret",
        source_url: str = "https://sim-store.example/",
        webhook_id: int = 1,
        rate_limit: tuple[float, float] | None = None,
        batch_limit: int = 100,
        faults: Faults | None = None,
        store: SimulatedStore | None = None,
    ) -> None:
        self.consumer_key, self.consumer_secret, self.webhook_secret = (
            consumer_key,
            consumer_secret,
            webhook_secret,
        )
        self.source_url, self.webhook_id, self.batch_limit = source_url, webhook_id, batch_limit
        self.store = store or SimulatedStore()
        self.catalog = WooCatalog(self.store)
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.limiter = TokenBucket(rate_limit[1], rate_limit[0]) if rate_limit else None
        routes = [
            Route(f"{API}/products/batch", self._wrap(self._batch_products), methods=["POST"]),
            Route(
                f"{API}/products/{{pid:int}}/variations/batch",
                self._wrap(self._batch_variations),
                methods=["POST"],
            ),
            Route(f"{API}/products", self._wrap(self._list_products), methods=["GET"]),
            Route(
                f"{API}/products/{{pid:int}}/variations", self._wrap(self._list_variations), methods=["GET"]
            ),
            Route(f"{API}/orders", self._wrap(self._list_orders), methods=["GET"]),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost -------------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        return self.catalog.seed(items, reset)

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        if "rate_limit" in changes:
            limit = changes["rate_limit"]
            self.limiter = TokenBucket(float(limit[1]), float(limit[0])) if limit else None
        if "batch_limit" in changes:
            self.batch_limit = int(changes["batch_limit"])
        limiter = [self.limiter.rate, self.limiter.capacity] if self.limiter else None
        return {"rate_limit": limiter, "batch_limit": self.batch_limit}

    def accepts(self, status: int) -> bool:
        # WooCommerce counts any 2xx and the 301/302 redirects as delivered.
        return 200 <= status <= 302

    def error_response(self) -> Response:
        return _json(
            error("internal_server_error", "There has been a critical error on this website.", 500), 500
        )

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """The ``order.created`` delivery: raw JSON body and WooCommerce's headers, signature included."""
        body = orjson.dumps(self.catalog.order_json(order))
        secret = html.unescape(self.webhook_secret).encode()
        signature = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7.1)",
            "X-WC-Webhook-Source": self.source_url,
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "created",
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-ID": str(self.webhook_id),
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        }

    # -- gatekeeping ---------------------------------------------------------------------------------

    def _wrap(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            return (await self._gate(request)) or await handler(request)

        async def endpoint(request: Request) -> Response:
            return await with_faults(self, request, guarded)

        return endpoint

    async def _gate(self, request: Request) -> Response | None:
        """Rate limit (the host's, in front of WordPress), then consumer key and secret."""
        if self.limiter is not None and not self.limiter.take(1):
            self.store.count("throttled")
            retry = str(max(1, math.ceil(self.limiter.wait_for(1))))
            return _json(error("too_many_requests", "Too many requests.", 429), 429, {"Retry-After": retry})
        key, secret = _credentials(request)
        if key is None:
            return _json(error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401), 401)
        if not hmac.compare_digest(key.encode(), self.consumer_key.encode()):
            return _json(error("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401), 401)
        if not hmac.compare_digest((secret or "").encode(), self.consumer_secret.encode()):
            return _json(
                error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401), 401
            )
        return None

    # -- batches -------------------------------------------------------------------------------------

    async def _batch_products(self, request: Request) -> Response:
        return await self._batch(
            request, lambda i: self.catalog.simple.get(i), "woocommerce_rest_product_invalid_id"
        )

    async def _batch_variations(self, request: Request) -> Response:
        pid = request.path_params["pid"]
        return await self._batch(
            request,
            lambda i: self.catalog.variations.get((pid, i)),
            "woocommerce_rest_product_variation_invalid_id",
        )

    async def _batch(self, request: Request, find: Callable[[int], str | None], invalid: str) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json(error("rest_invalid_json", "Invalid JSON body passed.", 400), 400)
        updates = body.get("update", []) if isinstance(body, dict) else None
        if not isinstance(updates, list):
            params = {"update": "update is not of type array."}
            return _json(error("rest_invalid_param", "Invalid parameter(s): update", 400, params=params), 400)
        total = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if total > self.batch_limit:
            message = f"Unable to accept more than {self.batch_limit} items for this request."
            return _json(error("woocommerce_rest_request_entity_too_large", message, 413), 413)
        results = [self._update_one(item, find, invalid) for item in updates]
        out: dict[str, Any] = {"update": results}
        for verb in ("create", "delete"):
            if body.get(verb):
                unsupported = error("woocommerce_rest_simulator", f"the simulator does not {verb}", 400)
                out[verb] = [{"id": 0, "error": unsupported} for _ in body[verb]]
        return _json(out)

    def _update_one(self, item: Any, find: Callable[[int], str | None], invalid: str) -> dict[str, Any]:
        raw_id = item.get("id") if isinstance(item, dict) else None
        sku = find(raw_id) if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        if sku is None:
            return {
                "id": raw_id if isinstance(raw_id, int) else 0,
                "error": error(invalid, "Invalid ID.", 400),
            }
        assert isinstance(item, dict)
        listing = self.store.listings[sku]
        qty = _stock_amount(item.get("stock_quantity"))
        bad_qty = "stock_quantity" in item and qty is None
        if bad_qty or not isinstance(item.get("manage_stock", False), bool):
            params = {"stock_quantity": "stock_quantity is not of type integer."}
            return {
                "id": raw_id,
                "error": error(
                    "rest_invalid_param", "Invalid parameter(s): stock_quantity", 400, params=params
                ),
            }
        if "manage_stock" in item:
            listing.manage_stock = item["manage_stock"]
        # WooCommerce keeps stock_quantity only for products that manage stock.
        if qty is not None and listing.manage_stock:
            self.store.set_quantities([(sku, qty)])
        return self._json_for(listing)

    def _json_for(self, listing: Listing) -> dict[str, Any]:
        pid, vid = listing.ids["product_id"], listing.ids.get("variation_id")
        return self.catalog.product_json(pid) if vid is None else self.catalog.variation_json(pid, vid)

    # -- lists ---------------------------------------------------------------------------------------

    async def _list_products(self, request: Request) -> Response:
        return _paged(request, [self.catalog.product_json(pid) for pid in self.catalog.product_ids()])

    async def _list_variations(self, request: Request) -> Response:
        pid = request.path_params["pid"]
        if pid not in self.catalog.parents and pid not in self.catalog.simple:
            return _json(error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404), 404)
        kids = sorted(vid for (p, vid) in self.catalog.variations if p == pid)
        return _paged(request, [self.catalog.variation_json(pid, vid) for vid in kids])

    async def _list_orders(self, request: Request) -> Response:
        try:
            after = (
                parse_date(request.query_params["modified_after"])
                if "modified_after" in request.query_params
                else 0.0
            )
        except ValueError:
            params = {"modified_after": "Invalid date."}
            return _json(
                error("rest_invalid_param", "Invalid parameter(s): modified_after", 400, params=params), 400
            )
        with self.store.lock:
            rows = sorted((o for o in self.store.orders if o.t > after), key=lambda o: o.order_id)
        return _paged(request, [self.catalog.order_json(o) for o in rows])


def _credentials(request: Request) -> tuple[str | None, str | None]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            key, _, secret = base64.b64decode(auth[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, None
        return key, secret
    params = request.query_params
    return params.get("consumer_key"), params.get("consumer_secret")


def _stock_amount(value: Any) -> int | None:
    """WooCommerce's ``wc_stock_amount``, minus its silent 0 for garbage: integers or integral strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _paged(request: Request, rows: list[Any]) -> Response:
    try:
        per_page = int(request.query_params.get("per_page", 10))
        page = int(request.query_params.get("page", 1))
    except ValueError:
        per_page = page = 0
    if not 1 <= per_page <= 100 or page < 1:
        params = {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}
        return _json(
            error("rest_invalid_param", "Invalid parameter(s): per_page, page", 400, params=params), 400
        )
    chunk, headers = page_of(rows, per_page, page)
    return _json(chunk, 200, headers)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)
