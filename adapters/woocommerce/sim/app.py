"""A simulated WooCommerce store, as strict as core: REST v3 products, variations, orders and refunds,
the stock core's functions move, and the order webhooks core fires.

Sources are WooCommerce core files (woocommerce/woocommerce, plugins/woocommerce/includes/), named at
each rule; the stock rules themselves are in ``sim.orders`` and ``sim.catalog``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, SimOrder, SimulatedShoppers, SimulatedStore, TokenBucket
from adapters.sim.webhook_sender import WebhookError, WebhookSender
from adapters.woocommerce.inbound import signature
from adapters.woocommerce.sim.catalog import DEFAULT_TZ_OFFSET_S, WooCatalog, error, page_of, parse_date
from adapters.woocommerce.sim.flows import FlowConfig, WooFlows
from adapters.woocommerce.sim.orders import FIRST_FLOW_ORDER, OrderError, WooOrder, WooOrders

API = "/wp-json/wc/v3"
MAX_WEBHOOK_FAILURES = 5
"""``WC_Webhook::failed_delivery``: more consecutive failures than this disable the webhook."""


class WooCommerceSimulator:
    """One simulated store, served as an ASGI app at ``self.app``.

    - ``POST /products/batch`` and ``/products/{id}/variations/batch``: ``update`` items
      ``{"id", "manage_stock"?, "stock_quantity"?}``, answered per item in order (unknown ids get
      ``{"id", "error": {...}}``); more than ``batch_limit`` items answer 413
      (``WC_REST_Controller::check_batch_limit``). Stock moves as ``sim.catalog`` describes
      (parent-managed variations, splits, shadow writes).
    - ``GET /products``, ``/products/{id}/variations``: pages of ``per_page`` (1..100) with
      ``X-WP-Total`` / ``X-WP-TotalPages``, ascending by id.
    - ``GET /orders``: ``modified_after`` / ``modified_before`` / ``after`` / ``before`` in site local
      time unless ``dates_are_gmt`` is true (``WC_REST_CRUD_Controller::prepare_objects_query`` picks
      ``post_modified`` or ``post_modified_gmt``; ``WP_Date_Query::build_mysql_datetime`` reads a date
      without an offset in the site's timezone and turns one with an offset into site time, which it
      then compares with whichever column was picked); ``orderby`` id / date / modified, ``order``
      (default date, desc), ``status``.
    - ``GET`` / ``PUT /orders/{id}`` (``status``, ``set_paid``), ``POST /orders`` (``line_items`` by
      ``sku``, ``status`` default pending, ``set_paid``), ``GET`` / ``POST /orders/{id}/refunds``
      (``line_items`` ``[{"id", "quantity"}]``, ``api_restock`` default true, ``reason``).
    - ``/_sim/...``: the shared control surface (``adapters.sim.control``), and ``POST /_sim/flows``
      (a ``sim.flows.FlowConfig`` plus ``duration_s`` / ``max_flows``), ``GET /_sim/flows``,
      ``POST /_sim/flows/stop``: simulated shoppers and merchant running ``sim.flows``.

    Webhooks: with ``webhook_url`` set, every order change made through the REST API fires
    ``order.created`` (``woocommerce_new_order``) or ``order.updated`` (``woocommerce_update_order``,
    ``woocommerce_order_refunded``), delivered in the background after the answer, the body rendered
    when sent (``WC_Webhook::deliver`` builds the payload then), one pending delivery per order and
    topic (``wc_webhook_execute_queue``); more than five failures in a row disable the webhook.
    Shoppers' sales are sent by the shoppers (``render_webhook``), the flows' by ``WooFlows``. Orders
    placed through the REST API or the flows are numbered from ``first_order_id``.

    Authentication is HTTP Basic or ``consumer_key``/``consumer_secret`` query parameters
    (``WC_REST_Authentication::perform_basic_authentication``; core takes both only over HTTPS, the
    simulator on its plain loopback too). ``strip_authorization`` plays a host that drops the
    ``Authorization`` header before WordPress sees it. Core has no rate limit: with
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
        tz_offset_s: int = DEFAULT_TZ_OFFSET_S,
        clock: Callable[[], float] = time.time,
        webhook_url: str | None = None,
        strip_authorization: bool = False,
        first_order_id: int = FIRST_FLOW_ORDER,
    ) -> None:
        self.consumer_key, self.consumer_secret, self.webhook_secret = (
            consumer_key,
            consumer_secret,
            webhook_secret,
        )
        self.source_url, self.webhook_id, self.batch_limit = source_url, webhook_id, batch_limit
        self.tz_offset_s, self.webhook_url, self.strip_authorization = (
            tz_offset_s,
            webhook_url,
            strip_authorization,
        )
        self.store = store or SimulatedStore()
        self.catalog = WooCatalog(self.store)
        self.book = WooOrders(self.store, self.catalog, clock, first_order_id)
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.flows: WooFlows | None = None
        self.limiter = TokenBucket(rate_limit[1], rate_limit[0]) if rate_limit else None
        self.deliveries: list[dict[str, Any]] = []
        """Every order webhook this simulator (or ``WooFlows``) sent: order, topic, version, outcome."""
        self.webhook_failures = 0
        self.webhook_disabled = False
        self._queued: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sender: WebhookSender | None = None
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
            Route(f"{API}/orders", self._wrap(self._create_order), methods=["POST"]),
            Route(f"{API}/orders/{{oid:int}}", self._wrap(self._get_order), methods=["GET"]),
            Route(f"{API}/orders/{{oid:int}}", self._wrap(self._update_order), methods=["PUT", "POST"]),
            Route(f"{API}/orders/{{oid:int}}/refunds", self._wrap(self._list_refunds), methods=["GET"]),
            Route(f"{API}/orders/{{oid:int}}/refunds", self._wrap(self._create_refund), methods=["POST"]),
            Route("/_sim/flows", self._flows_start, methods=["POST"]),
            Route("/_sim/flows", self._flows_state, methods=["GET"]),
            Route("/_sim/flows/stop", self._flows_stop, methods=["POST"]),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    # -- SimHost -------------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        if reset:
            self.book.reset()
        return self.catalog.seed(items, reset)

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        if "rate_limit" in changes:
            limit = changes["rate_limit"]
            self.limiter = TokenBucket(float(limit[1]), float(limit[0])) if limit else None
        if "batch_limit" in changes:
            self.batch_limit = int(changes["batch_limit"])
        if "webhook_url" in changes:
            self.webhook_url = changes["webhook_url"] or None
            self.webhook_failures, self.webhook_disabled, self._sender = 0, False, None
        if "strip_authorization" in changes:
            self.strip_authorization = bool(changes["strip_authorization"])
        if "tz_offset_s" in changes:
            self.tz_offset_s = int(changes["tz_offset_s"])
        limiter = [self.limiter.rate, self.limiter.capacity] if self.limiter else None
        return {
            "rate_limit": limiter,
            "batch_limit": self.batch_limit,
            "webhook_url": self.webhook_url,
            "webhook_disabled": self.webhook_disabled,
            "strip_authorization": self.strip_authorization,
            "tz_offset_s": self.tz_offset_s,
            "splits": [list(s) for s in self.catalog.splits],
        }

    def accepts(self, status: int) -> bool:
        # WC_Webhook::log_delivery: a 2xx, 301 or 302 answer is a delivery.
        return 200 <= status <= 302

    def error_response(self) -> Response:
        return _json(
            error("internal_server_error", "There has been a critical error on this website.", 500), 500
        )

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        """A shopper sale's ``order.created`` delivery: raw JSON body and headers, signature included."""
        return self.render(self.book.sale(order), "order.created")

    # -- webhooks ------------------------------------------------------------------------------------

    def order_json(self, order: WooOrder) -> dict[str, Any]:
        return self.book.order_json(order, self.tz_offset_s)

    def render(self, order: WooOrder, topic: str) -> tuple[bytes, dict[str, str]]:
        """An order webhook as ``WC_Webhook::deliver`` sends it: the REST order, signed."""
        body = orjson.dumps(self.order_json(order))
        resource, _, event = topic.partition(".")
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7.1)",
            "X-WC-Webhook-Source": self.source_url,
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            # wp_specialchars_decode( $secret, ENT_QUOTES ) is the key (WC_Webhook::generate_signature)
            "X-WC-Webhook-Signature": signature(self.webhook_secret, body),
            "X-WC-Webhook-ID": str(self.webhook_id),
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        }

    async def deliver(self, order_id: int, topic: str, sender: WebhookSender) -> dict[str, Any] | None:
        """Render ``order_id`` now and POST it; the outcome is recorded in ``deliveries``.

        None when the webhook is disabled (``WC_Webhook::failed_delivery``) or has no URL.
        """
        self._queued.discard((topic, order_id))
        if self.webhook_disabled:
            return None
        order = self.book.get(order_id)
        body, headers = self.render(order, topic)
        record: dict[str, Any] = {
            "order_id": order_id,
            "topic": topic,
            "status": order.status,
            "date_modified_gmt": orjson.loads(body)["date_modified_gmt"],
            "http": None,
            "ok": False,
            "answer": None,
        }
        try:
            status, answer = await sender.post(body, headers)
            record["http"], record["ok"] = status, self.accepts(status)
            try:
                record["answer"] = orjson.loads(answer)
            except orjson.JSONDecodeError:
                record["answer"] = answer[:200].decode("utf-8", "replace")
        except WebhookError as exc:
            record["answer"] = str(exc)
        if record["ok"]:
            self.webhook_failures = 0
        elif self.webhook_failures > MAX_WEBHOOK_FAILURES:
            self.webhook_disabled = True  # checked before counting, as failed_delivery does
        else:
            self.webhook_failures += 1
        self.deliveries.append(record)
        return record

    def _fire(self, order_id: int, topic: str) -> None:
        """Queue one background delivery (on this server's loop), unless one for it is still queued."""
        if self.webhook_url is None or self.webhook_disabled or (topic, order_id) in self._queued:
            return
        if self._sender is None:
            self._sender = WebhookSender(self.webhook_url)
        self._queued.add((topic, order_id))
        task = asyncio.get_running_loop().create_task(self.deliver(order_id, topic, self._sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- gatekeeping ---------------------------------------------------------------------------------

    def _wrap(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            gate = await self._gate(request)
            if gate is not None:
                return gate
            try:
                return await handler(request)
            except OrderError as exc:
                return _json(error(exc.code, str(exc), exc.status), exc.status)

        async def endpoint(request: Request) -> Response:
            return await with_faults(self, request, guarded)

        return endpoint

    async def _gate(self, request: Request) -> Response | None:
        """Rate limit (the host's, in front of WordPress), then consumer key and secret."""
        if self.limiter is not None and not self.limiter.take(1):
            self.store.count("throttled")
            retry = str(max(1, math.ceil(self.limiter.wait_for(1))))
            return _json(error("too_many_requests", "Too many requests.", 429), 429, {"Retry-After": retry})
        key, secret = _credentials(request, self.strip_authorization)
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
        def apply(i: int, item: dict[str, Any], qty: int | None) -> dict[str, Any] | None:
            if i not in self.catalog.simple and i not in self.catalog.parents:
                return None
            return self.catalog.update_product(i, item, qty)

        return await self._batch(request, apply, "woocommerce_rest_product_invalid_id")

    async def _batch_variations(self, request: Request) -> Response:
        pid = request.path_params["pid"]

        def apply(i: int, item: dict[str, Any], qty: int | None) -> dict[str, Any] | None:
            if (pid, i) not in self.catalog.variations:
                return None
            return self.catalog.update_variation(pid, i, item, qty)

        return await self._batch(request, apply, "woocommerce_rest_product_variation_invalid_id")

    async def _batch(
        self,
        request: Request,
        apply: Callable[[int, dict[str, Any], int | None], dict[str, Any] | None],
        invalid: str,
    ) -> Response:
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
        results = [self._update_one(item, apply, invalid) for item in updates]
        out: dict[str, Any] = {"update": results}
        for verb in ("create", "delete"):
            if body.get(verb):
                unsupported = error("woocommerce_rest_simulator", f"the simulator does not {verb}", 400)
                out[verb] = [{"id": 0, "error": unsupported} for _ in body[verb]]
        return _json(out)

    def _update_one(
        self,
        item: Any,
        apply: Callable[[int, dict[str, Any], int | None], dict[str, Any] | None],
        invalid: str,
    ) -> dict[str, Any]:
        raw_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(raw_id, int) or isinstance(raw_id, bool) or not isinstance(item, dict):
            return {
                "id": raw_id if isinstance(raw_id, int) else 0,
                "error": error(invalid, "Invalid ID.", 400),
            }
        qty = _stock_amount(item.get("stock_quantity"))
        manage = item.get("manage_stock", False)
        # the schema types manage_stock as boolean (a variation's read-only "parent" is not writable)
        if ("stock_quantity" in item and qty is None) or not isinstance(manage, bool):
            params = {"stock_quantity": "stock_quantity is not of type integer."}
            return {
                "id": raw_id,
                "error": error(
                    "rest_invalid_param", "Invalid parameter(s): stock_quantity", 400, params=params
                ),
            }
        answer = apply(raw_id, item, qty)
        if answer is None:
            return {"id": raw_id, "error": error(invalid, "Invalid ID.", 400)}
        return answer

    # -- products --------------------------------------------------------------------------------------

    async def _list_products(self, request: Request) -> Response:
        return _paged(request, [self.catalog.product_json(pid) for pid in self.catalog.product_ids()])

    async def _list_variations(self, request: Request) -> Response:
        pid = request.path_params["pid"]
        if pid not in self.catalog.parents and pid not in self.catalog.simple:
            return _json(error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404), 404)
        return _paged(request, [self.catalog.variation_json(pid, vid) for vid in self.catalog.children(pid)])

    # -- orders ----------------------------------------------------------------------------------------

    async def _list_orders(self, request: Request) -> Response:
        params = request.query_params
        gmt = _boolean(params.get("dates_are_gmt", "false"))
        if gmt is None:
            return _invalid("dates_are_gmt", "dates_are_gmt is not of type boolean.")
        bounds: dict[str, float] = {}
        for name in ("after", "before", "modified_after", "modified_before"):
            if name in params:
                try:
                    bounds[name] = self._bound(params[name], gmt)
                except ValueError:
                    return _invalid(name, "Invalid date.")
        statuses = [s for s in params.get("status", "any").split(",") if s]
        orderby, direction = params.get("orderby", "date"), params.get("order", "desc")
        if orderby not in ("date", "id", "include", "title", "slug", "modified") or direction not in (
            "asc",
            "desc",
        ):
            return _invalid("orderby", "orderby is not one of date, id, include, title, slug, modified.")
        rows = [
            o
            for o in self.book.listed()
            if ("any" in statuses or o.status in statuses)
            and o.created > bounds.get("after", -math.inf)
            and o.created < bounds.get("before", math.inf)
            and o.modified > bounds.get("modified_after", -math.inf)
            and o.modified < bounds.get("modified_before", math.inf)
        ]
        field = {"date": "created", "modified": "modified"}.get(orderby, "order_id")
        rows.sort(key=lambda o: (getattr(o, field), o.order_id), reverse=direction == "desc")
        return _paged(request, [self.order_json(o) for o in rows])

    def _bound(self, text: str, gmt: bool) -> float:
        """Unix seconds a date filter compares against the column ``dates_are_gmt`` picks.

        ``WP_Date_Query::build_mysql_datetime``: a date without an offset is taken as site time and
        one with an offset is turned into site time; either way the resulting wall-clock string is
        compared with ``post_modified_gmt`` (``gmt``) or ``post_modified``.
        """
        moment = parse_date(text, self.tz_offset_s)  # the instant the caller meant
        wall = moment + self.tz_offset_s  # its site-time wall clock, read as if it were UTC
        return wall if gmt else wall - self.tz_offset_s

    async def _get_order(self, request: Request) -> Response:
        return _json(self.order_json(self.book.get(request.path_params["oid"])))

    async def _create_order(self, request: Request) -> Response:
        body = await _object(request)
        lines = []
        for line in body.get("line_items") or []:
            sku, qty = line.get("sku") if isinstance(line, dict) else None, line.get("quantity", 1)
            if not isinstance(sku, str) or not isinstance(qty, int) or isinstance(qty, bool):
                raise OrderError(
                    "woocommerce_rest_required_product_reference", "Product ID or SKU is required."
                )
            lines.append((sku, qty))
        order = self.book.create(lines, str(body.get("status") or "pending"), body.get("set_paid") is True)
        self._fire(order.order_id, "order.created")
        return _json(self.order_json(order), 201)

    async def _update_order(self, request: Request) -> Response:
        oid, body = request.path_params["oid"], await _object(request)
        order = self.book.get(oid)
        before = (order.status, order.modified)
        if isinstance(body.get("status"), str):
            self.book.set_status(oid, body["status"])
        if body.get("set_paid") is True:
            self.book.pay(oid)
        if (order.status, order.modified) != before:
            self._fire(oid, "order.updated")
        return _json(self.order_json(order))

    async def _list_refunds(self, request: Request) -> Response:
        order = self.book.get(request.path_params["oid"])
        rows = [self.book.refund_json(order, r, self.tz_offset_s) for r in reversed(order.refunds)]
        return _paged(request, rows)

    async def _create_refund(self, request: Request) -> Response:
        oid, body = request.path_params["oid"], await _object(request)
        lines: dict[int, int] = {}
        for line in body.get("line_items") or []:
            item_id, qty = (line.get("id"), line.get("quantity")) if isinstance(line, dict) else (None, None)
            if not isinstance(item_id, int) or not isinstance(qty, int):
                raise OrderError("rest_invalid_param", "Invalid parameter(s): line_items")
            lines[item_id] = lines.get(item_id, 0) + qty
        restock = body.get("api_restock", True)
        if not isinstance(restock, bool):
            raise OrderError("rest_invalid_param", "Invalid parameter(s): api_restock")
        order = self.book.get(oid)
        refund = self.book.refund(oid, lines, restock, str(body.get("reason") or ""))
        self._fire(oid, "order.updated")  # woocommerce_order_refunded (and the order's save)
        return _json(self.book.refund_json(order, refund, self.tz_offset_s), 201)

    async def _flows_start(self, request: Request) -> Response:
        if self.flows is not None and self.flows.task is not None and not self.flows.task.done():
            return _json({"error": "flows already running"}, 409)
        try:
            body = await _object(request)
            duration, max_flows = body.pop("duration_s", None), body.pop("max_flows", None)
            self.flows = WooFlows(self, FlowConfig(**body))
        except (OrderError, TypeError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
        self.flows.start(duration, max_flows)
        return _json({"started": True})

    async def _flows_state(self, request: Request) -> Response:
        if self.flows is None:
            return _json({"error": "no flows"}, 404)
        stats = self.flows.stats
        running = self.flows.task is not None and not self.flows.task.done()
        return _json({"running": running, **asdict(stats), "deliveries": len(self.deliveries)})

    async def _flows_stop(self, request: Request) -> Response:
        if self.flows is None:
            return _json({"error": "no flows"}, 404)
        await self.flows.stop()
        return await self._flows_state(request)


def _credentials(request: Request, strip_authorization: bool) -> tuple[str | None, str | None]:
    auth = "" if strip_authorization else request.headers.get("authorization", "")
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


def _boolean(value: str) -> bool | None:
    """``rest_sanitize_boolean`` for what ``rest_is_boolean`` accepts; None otherwise (a 400)."""
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0", ""):
        return False
    return None


async def _object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise OrderError("rest_invalid_json", "Invalid JSON body passed.") from None
    if not isinstance(body, dict):
        raise OrderError("rest_invalid_json", "Invalid JSON body passed.")
    return body


def _invalid(name: str, message: str) -> Response:
    return _json(
        error("rest_invalid_param", f"Invalid parameter(s): {name}", 400, params={name: message}), 400
    )


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
