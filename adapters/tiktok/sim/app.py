"""A simulated TikTok Shop: token refresh, Update Inventory, Search Products, Inventory Search,
Search Orders, Get Order Detail, and signed order notifications.

It refuses what TikTok refuses, each rule with its source: every Open API call's signature,
app key, timestamp and shop cipher (``sim.rules.request_refusal``); a missing or expired
``x-tts-access-token`` (code 105002: group 105 is credentials, EcomPHP/tiktokshop-php
src/Resource.php); over the rate: HTTP 429 (TikTok's limits are unpublished, MARKETPLACES.md: the
simulator spends one bucket per API, each 10/s burst 10 unless ``settings`` say otherwise: per API
as TikTok's developer platform enforces its limits, developers.tiktok.com/doc/tiktok-api-v2-rate-limit
"Limits for each API are set and enforced separately"; TikTok Shop's own are unverified); a token refresh with
the wrong app secret or refresh token (a non-zero ``code``: src/Auth.php checks ``code``); Update
Inventory bodies (``sim.rules.inventory_refusal``), an unknown product (404), and per SKU an id not
of that product or a warehouse not the SKU's, reported in ``data.errors[]`` with ``code`` 0
(MARKETPLACES.md: "code 0 can still carry per-SKU data.errors[]"); search ``page_size`` outside
1..100, Get Order Detail without 1..50 ``ids``.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, Listing, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket
from adapters.tiktok.api import TOKEN_HEADER
from adapters.tiktok.outbound import PER_CALL, RATE_GUESS
from adapters.tiktok.sim import rules
from adapters.tiktok.sim.orders import TikTokOrder, Unit, notification, signed

WAREHOUSE = "7068517275539719942"
APIS = ("inventory_update", "products_search", "inventory_search", "orders_search", "order_detail")
SEARCH_LIMIT = 100


def _answer(code: int = 0, message: str = "Success", data: Any = None, status: int = 200) -> Response:
    body = {"code": code, "message": message, "request_id": uuid.uuid4().hex, "data": data or {}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class TikTokSimulator:
    """One shop of one app, served as an ASGI app at ``self.app`` (routes in the module docstring,
    plus the shared ``/_sim/`` control surface, whose sales are paid orders notified signed)."""

    def __init__(
        self,
        *,
        app_key: str = "sim-app-key",
        app_secret: str = "sim-app-secret",
        refresh_token: str = "sim-refresh-token",
        shop_id: str = "7494000000000000001",
        shop_cipher: str = "ROW_sim-cipher",
        token_ttl_s: float = 7 * 86_400.0,
        per_call: int = PER_CALL,
        first_order: int = 576_000_000_000_000_000,
        store: SimulatedStore | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.app_key, self.app_secret, self.refresh_token = app_key, app_secret, refresh_token
        self.shop_id, self.shop_cipher, self.token_ttl_s, self.per_call = (
            shop_id,
            shop_cipher,
            token_ttl_s,
            per_call,
        )
        self.first_order = first_order
        self.store = store or SimulatedStore()
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.tokens: dict[str, float] = {}
        self.buckets = {api: TokenBucket(RATE_GUESS[1], RATE_GUESS[0]) for api in APIS}
        self.orders: dict[str, TikTokOrder] = {}
        self.refuse_skus: set[str] = set()
        """SKU ids the next inventory updates fail in ``data.errors[]`` (tests of per-SKU errors)."""
        self._next_id = 1_729_000_000_000_000_000 + secrets.randbelow(10**12)
        p, o = "/product/202309", "/order/202309"
        routes = [
            Route("/api/v2/token/refresh", self._token, methods=["GET"]),
            Route(
                p + "/products/{product_id}/inventory/update",
                self._api(self._update, "inventory_update"),
                methods=["POST"],
            ),
            Route(p + "/products/search", self._api(self._products, "products_search"), methods=["POST"]),
            Route(p + "/inventory/search", self._api(self._inventory, "inventory_search"), methods=["POST"]),
            Route(o + "/orders/search", self._api(self._search_orders, "orders_search"), methods=["POST"]),
            Route(o + "/orders", self._api(self._order_detail, "order_detail"), methods=["GET"]),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost ---------------------------------------------------------------------------------

    def new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        """Listings; items with the same ``product`` label share one product, others get their own."""
        products: dict[str, str] = {}
        listings = []
        for item in items:
            sku, qty = item.get("sku"), item.get("quantity", 0)
            if not isinstance(sku, str) or not sku or type(qty) is not int:
                raise ValueError(f"bad seed item {item!r}: needs a non-empty 'sku' and an integer 'quantity'")
            label = str(item.get("product") or f"own:{sku}")
            product = products.setdefault(label, self.new_id())
            ids = {"product_id": product, "sku_id": self.new_id(), "warehouse_id": WAREHOUSE}
            listings.append(Listing(sku, qty, ids))
        self.store.seed(listings, reset)
        return {x.sku: dict(x.ids) for x in listings}

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        for api, (rate, burst) in (changes.get("rates") or {}).items():
            self.buckets[api] = TokenBucket(float(burst), float(rate))
        self.per_call = int(changes.get("per_call", self.per_call))
        self.token_ttl_s = float(changes.get("token_ttl_s", self.token_ttl_s))
        rates = {api: [b.rate, b.capacity] for api, b in self.buckets.items()}
        return {"per_call": self.per_call, "rates": rates}

    def accepts(self, status: int) -> bool:
        return status == 200

    def error_response(self) -> Response:
        return _answer(36009500, "Internal error", status=500)

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """A sale: a paid order (AWAITING_SHIPMENT) and its status notification."""
        with self.store.lock:
            units = []
            for sku, q in order.lines:
                ids = self.store.listings[sku].ids
                units += [Unit(self.new_id(), sku, ids["product_id"], ids["sku_id"]) for _ in range(q)]
            now = int(self.store.clock())
            placed = TikTokOrder(str(self.first_order + order.order_id), units, now, now)
            self.orders[placed.order_id] = placed
        return self.notify(placed)

    def notify(self, order: TikTokOrder, kind: int = 1) -> tuple[bytes, dict[str, str]]:
        body = notification(kind, self.shop_id, order, self.store.clock())
        return body, signed(self.app_key, self.app_secret, body)

    def cancel_units(self, order_id: str, sku: str, n: int) -> TikTokOrder:
        """The seller cancels ``n`` units of ``sku``: they leave the order and return to the listing."""
        with self.store.lock:
            order = self.orders[order_id]
            open_units = [u for u in order.units if u.sku == sku and not u.cancelled][:n]
            for unit in open_units:
                unit.cancelled = True
                self.store.listings[sku].quantity += 1
            order.touch(self.store.clock())
            return order

    def cancel(self, order_id: str) -> TikTokOrder:
        """The whole order is cancelled: every unit still held returns (``orders.cancel_restocks``)."""
        with self.store.lock:
            order = self.orders[order_id]
            if order.status != "CANCELLED":
                for unit in order.units:
                    if not unit.cancelled:
                        self.store.listings[unit.sku].quantity += 1
                order.status = "CANCELLED"
            order.touch(self.store.clock())
            return order

    # -- auth, signature, rate ---------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        q = request.query_params
        sent = (q.get("app_key"), q.get("app_secret"), q.get("refresh_token"), q.get("grant_type"))
        if sent != (self.app_key, self.app_secret, self.refresh_token, "refresh_token"):
            return _answer(36004004, "invalid app credentials or refresh token")
        token, now = "TTP_" + secrets.token_urlsafe(24), self.store.clock()
        self.tokens[token] = now + self.token_ttl_s
        data = {
            "access_token": token,
            "access_token_expire_in": int(now + self.token_ttl_s),
            "refresh_token": self.refresh_token,
            "refresh_token_expire_in": int(now + 365 * 86_400),
        }
        return _answer(data=data)

    def _api(self, handler: Any, api: str) -> Any:
        async def endpoint(request: Request) -> Response:
            async def inner(req: Request) -> Response:
                body = await req.body()
                refusal = rules.request_refusal(
                    app_key=self.app_key,
                    app_secret=self.app_secret,
                    shop_cipher=self.shop_cipher,
                    method=req.method,
                    path=req.url.path,
                    query=req.query_params,
                    body=body,
                    content_type=req.headers.get("content-type", ""),
                    now=self.store.clock(),
                )
                if refusal is not None:
                    status, code, message = refusal
                    return _answer(code, message, status=status)
                if self.tokens.get(req.headers.get(TOKEN_HEADER, ""), 0.0) <= self.store.clock():
                    return _answer(rules.BAD_TOKEN, "access token invalid or expired", status=401)
                if not self.buckets[api].take(1):
                    self.store.count("throttled")
                    return _answer(rules.THROTTLED, "Too many requests", status=429)
                try:
                    parsed = orjson.loads(body) if body else {}
                except orjson.JSONDecodeError:
                    return _answer(rules.BAD_PARAM, "body is not JSON", status=400)
                response: Response = await handler(req, parsed)
                return response

            return await with_faults(self, request, inner)

        return endpoint

    # -- products ------------------------------------------------------------------------------------

    async def _update(self, request: Request, body: Any) -> Response:
        refusal = rules.inventory_refusal(body, self.per_call)
        if refusal:
            return _answer(rules.BAD_PARAM, refusal, status=400)
        product = request.path_params["product_id"]
        with self.store.lock:
            mine = {
                x.ids["sku_id"]: x for x in self.store.listings.values() if x.ids["product_id"] == product
            }
        if not mine:
            return _answer(rules.NO_PRODUCT, "product not found", status=404)
        errors, writes = [], []
        for sku in body["skus"]:
            listing = mine.get(sku["id"])
            rows = sku["inventory"]
            if listing is None:
                errors.append(
                    {"code": rules.NO_SKU, "message": "sku not in product", "detail": {"sku_id": sku["id"]}}
                )
            elif any(r["warehouse_id"] != listing.ids["warehouse_id"] for r in rows):
                errors.append(
                    {
                        "code": rules.NO_WAREHOUSE,
                        "message": "warehouse not found",
                        "detail": {"sku_id": sku["id"]},
                    }
                )
            elif sku["id"] in self.refuse_skus:
                errors.append({"code": 12052900, "message": "sku is locked", "detail": {"sku_id": sku["id"]}})
            else:
                writes.append((listing.sku, sum(r["quantity"] for r in rows)))
        self.store.set_quantities(writes)
        return _answer(data={"errors": errors} if errors else {})

    def _product_doc(self, product_id: str, listings: list[Listing]) -> dict[str, Any]:
        skus = [
            {
                "id": x.ids["sku_id"],
                "seller_sku": x.sku,
                "inventory": [{"warehouse_id": x.ids["warehouse_id"], "quantity": x.quantity}],
            }
            for x in listings
        ]
        return {"id": product_id, "status": "ACTIVATE", "skus": skus}

    def _by_product(self) -> dict[str, list[Listing]]:
        with self.store.lock:
            out: dict[str, list[Listing]] = {}
            for x in self.store.listings.values():
                out.setdefault(x.ids["product_id"], []).append(Listing(x.sku, x.quantity, dict(x.ids)))
            return out

    async def _products(self, request: Request, body: Any) -> Response:
        size, offset = (
            rules.page_size(request.query_params),
            _offset(request.query_params.get("page_token", "")),
        )
        if size is None or offset is None:
            return _answer(rules.BAD_PARAM, "page_size must be 1..100; page_token as given", status=400)
        grouped = sorted(self._by_product().items())
        page = [self._product_doc(pid, rows) for pid, rows in grouped[offset : offset + size]]
        more = offset + size < len(grouped)
        data = {
            "products": page,
            "total_count": len(grouped),
            "next_page_token": _token_of(offset + size) if more else "",
        }
        return _answer(data=data)

    async def _inventory(self, request: Request, body: Any) -> Response:
        ids = body.get("product_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= SEARCH_LIMIT:
            return _answer(rules.BAD_PARAM, f"product_ids must hold 1..{SEARCH_LIMIT} ids", status=400)
        grouped = self._by_product()
        rows = []
        for pid in ids:
            skus = [
                {
                    "id": x.ids["sku_id"],
                    "seller_sku": x.sku,
                    "total_available_quantity": x.quantity,
                    "warehouse_inventory": [
                        {"warehouse_id": x.ids["warehouse_id"], "available_quantity": x.quantity}
                    ],
                }
                for x in grouped.get(str(pid), [])
            ]
            if skus:
                rows.append({"product_id": str(pid), "skus": skus})
        return _answer(data={"inventory": rows})

    # -- orders --------------------------------------------------------------------------------------

    async def _search_orders(self, request: Request, body: Any) -> Response:
        q = request.query_params
        size, offset = rules.page_size(q), _offset(q.get("page_token", ""))
        field = q.get("sort_field", "create_time")
        if (
            size is None
            or offset is None
            or field not in ("create_time", "update_time")
            or not isinstance(body, dict)
        ):
            return _answer(
                rules.BAD_PARAM, "page_size 1..100, sort_field create_time|update_time", status=400
            )
        since = body.get("update_time_ge", 0)
        with self.store.lock:
            found = [o.document() for o in self.orders.values() if o.updated >= since]
        found.sort(key=lambda d: (d[field], d["id"]), reverse=q.get("sort_order", "DESC") == "DESC")
        more = offset + size < len(found)
        data = {
            "orders": found[offset : offset + size],
            "total_count": len(found),
            "next_page_token": _token_of(offset + size) if more else "",
        }
        return _answer(data=data)

    async def _order_detail(self, request: Request, body: Any) -> Response:
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 50:
            return _answer(rules.BAD_PARAM, "ids must name 1..50 orders", status=400)
        with self.store.lock:
            found = [self.orders[i].document() for i in ids if i in self.orders]
        return _answer(data={"orders": found})


def _token_of(offset: int) -> str:
    return f"pt-{offset}"


def _offset(token: str) -> int | None:
    if not token:
        return 0
    if not token.startswith("pt-") or not token[3:].isdigit():
        return None
    return int(token[3:])
