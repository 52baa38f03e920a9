"""A simulated marketplace speaking a generic channel's configured wire format, as strict as its config.

Built from the same tables as the channel (``from_channel``), so a conformance run configures both
alike. What it refuses, and why (the rules a real API of this shape would apply; the generic kind's
source is its configuration, MARKETPLACES.md "Relayed and generic channels"):
- a push without ``<auth_header>: <auth_scheme> <access_token>``: 401;
- a request over the rate (``rate``, a token bucket, 1 unit a request): 429 with ``Retry-After``;
- a push body that is not the ``push.body`` template (other keys, other constants, a string where
  ``"{quantity}"`` stands, no list at ``"{items}"``) or an item not the ``push.item`` template: 400;
- more items than ``batch_limit`` (``push.batch_size`` unless set): 400, nothing applied;
- a SKU or id it does not list: named in ``push.errors`` when configured (the rest applied), else 404
  and nothing applied; a quantity below 0: the same;
- a read page over ``page_limit`` items (``size_param``) or a page / cursor that is no number: 400;
  an orders read without its ``since_param``, or one not in ``since_format``: 400.
Sales are rendered at the ``inbound`` paths (``adapters.generic.sim.orders``), signed with
``signature`` and the channel's ``webhook_secret``.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.generic.inbound import inbound_spec, signature_spec
from adapters.generic.jsonpath import array_of, put
from adapters.generic.keys import CatalogSpec, InboundSpec, OrdersSpec, PushSpec, ReadSpec, SignatureSpec
from adapters.generic.orders import moment
from adapters.generic.outbound import catalog_spec, push_spec
from adapters.generic.reconcile import orders_spec
from adapters.generic.sim.orders import SimOrder, check_writable, later, order_object, webhook_body
from adapters.generic.sim.push import PushRefused, parse_push
from adapters.generic.sim.signing import sign
from adapters.sim.control import ExposeTransport, control_routes, with_faults
from adapters.sim.core import Faults, SimulatedShoppers, SimulatedStore, TokenBucket, listings_from
from adapters.sim.core import SimOrder as StoreOrder
from engine.config import ChannelConfig


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": message}, status, headers)


class GenericSimulator:
    """One account on a configured marketplace, served as an ASGI app at ``self.app``."""

    def __init__(
        self,
        *,
        inbound: InboundSpec,
        signature: SignatureSpec,
        push: PushSpec,
        catalog: CatalogSpec,
        orders: OrdersSpec | None = None,
        webhook_secret: str,
        access_token: str,
        rate: tuple[float, float] = (5.0, 5.0),
        batch_limit: int | None = None,
        page_limit: int | None = None,
        first_order: int = 0,
        store: SimulatedStore | None = None,
        faults: Faults | None = None,
    ) -> None:
        check_writable(inbound)
        for spec in (push, catalog, orders):
            if spec is not None and spec.url.startswith(("http://", "https://")):
                raise ValueError("the simulator serves relative URLs only")
        self.inbound, self.signature, self.push, self.catalog, self.orders_spec = (
            inbound,
            signature,
            push,
            catalog,
            orders,
        )
        self.secret, self.token = webhook_secret, access_token
        self.batch_limit = batch_limit or push.batch_size
        self.page_limit = page_limit or max(catalog.page_size, orders.page_size if orders else 1)
        self.first_order = first_order
        self.store = store or SimulatedStore()
        self.faults = faults or Faults()
        self.shoppers: SimulatedShoppers | None = None
        self.bucket = TokenBucket(rate[1], rate[0])
        self.orders: dict[str, SimOrder] = {}
        routes = [
            Route(push.url, self._guarded(self._push), methods=[push.method]),
            Route(catalog.url, self._guarded(self._catalog), methods=["GET"]),
            *([Route(orders.url, self._guarded(self._orders), methods=["GET"])] if orders else []),
            *control_routes(self),
        ]
        self.app = ExposeTransport(Starlette(routes=routes))

    @classmethod
    def from_channel(cls, channel: ChannelConfig, **options: Any) -> GenericSimulator:
        """A simulator of the marketplace ``channel`` describes (its tables, secret and token)."""
        inbound, signature = inbound_spec(channel), signature_spec(channel)
        push, catalog = push_spec(channel), catalog_spec(channel)
        if inbound is None or signature is None or push is None or catalog is None:
            raise ValueError("a simulated generic channel needs inbound, signature, push and catalog")
        return cls(
            inbound=inbound,
            signature=signature,
            push=push,
            catalog=catalog,
            orders=orders_spec(channel),
            webhook_secret=channel.webhook_secret.get_secret_value(),
            access_token=channel.access_token.get_secret_value(),
            **options,
        )

    # -- SimHost ---------------------------------------------------------------------------------

    def seed(self, items: list[dict[str, Any]], reset: bool = True) -> dict[str, dict[str, Any]]:
        """Listings, each with an id of its own (``L<n>``, or the item's ``ids``)."""
        base = len(self.store.listings)
        numbered = ({**item, "_n": base + i} for i, item in enumerate(items))
        listings = listings_from(numbered, lambda item: {"id": f"L{self.first_order + item['_n']}"})
        self.store.seed(listings, reset)
        return {item.sku: item.ids for item in listings}

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        if "rate" in changes:
            per_second, burst = changes["rate"]
            self.bucket = TokenBucket(float(burst), float(per_second))
        return {"rate": [self.bucket.rate, self.bucket.capacity], "batch_limit": self.batch_limit}

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300

    def error_response(self) -> Response:
        return _error(500, "internal error")

    def render_webhook(self, order: StoreOrder) -> tuple[bytes, dict[str, str]]:
        """A sale: a placed order and its signed delivery."""
        placed = SimOrder(str(self.first_order + order.order_id), order.t, order.t, "placed", [])
        placed.lines = [[sku, q, 0] for sku, q in order.lines]
        with self.store.lock:
            self.orders[placed.order_id] = placed
        return self.delivery(placed)

    def change(self, order_id: str, sku: str | None, units: int, how: str) -> tuple[bytes, dict[str, str]]:
        """The merchant acts on an order; its signed delivery, unsent. ``how``: ``edit`` (the SKU's
        line claims ``units`` now, the rest restocked), ``refund`` / ``refund_keep`` (``units`` leave
        the line, restocked or kept), ``cancel`` / ``cancel_keep`` (every claimed unit restocked, or
        none). Each change is a newer version (``later``)."""
        with self.store.lock:
            order = self.orders[order_id]
            for line in order.lines:
                if line[0] != sku:
                    continue
                gone = line[1] - units if how == "edit" else min(units, line[1])
                line[1] -= gone
                line[2] += gone if how == "refund_keep" else 0
                if how in ("edit", "refund"):
                    self.store.listings[line[0]].quantity += gone
            if how in ("cancel", "cancel_keep"):
                if how == "cancel":
                    for line in order.lines:
                        self.store.listings[line[0]].quantity += line[1]
                order.cls = "cancelled" if how == "cancel" else "cancelled_no_restock"
            elif order.cls == "placed":
                order.cls = "updated"
            order.updated = later(order.updated, self.store.clock(), self.inbound.time_format)
        return self.delivery(order)

    def delivery(self, order: SimOrder) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps(webhook_body(self.inbound, order))
        return body, sign(self.signature, self.secret, body, int(self.store.clock()))

    # -- routes ------------------------------------------------------------------------------------

    def _guarded(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            async def inner(req: Request) -> Response:
                scheme = self.push.auth_scheme
                expected = f"{scheme} {self.token}" if scheme else self.token
                if not self.token or req.headers.get(self.push.auth_header.lower()) != expected:
                    return _error(401, "unauthorized")
                if not self.bucket.take(1):
                    self.store.count("throttled")
                    wait = str(max(1, math.ceil(self.bucket.wait_for(1))))
                    return _error(429, "too many requests", {"Retry-After": wait})
                response: Response = await handler(req)
                return response

            return await with_faults(self, request, inner)

        return endpoint

    async def _push(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            items = parse_push(self.push, body, dict(request.path_params), self.batch_limit)
        except orjson.JSONDecodeError:
            return _error(400, "body is not JSON")
        except PushRefused as exc:
            return _error(400, str(exc))
        by_id = {str(item.ids.get("id")): sku for sku, item in self.store.listings.items()}
        good: list[tuple[str, int]] = []
        errors: list[tuple[str, str]] = []
        for sku, listing_id, quantity in items:
            known = sku if sku is not None else by_id.get(str(listing_id))
            listing = self.store.listings.get(known or "")
            if listing is None or (listing_id is not None and str(listing.ids.get("id")) != str(listing_id)):
                errors.append((sku or str(listing_id), "no such listing"))
            elif quantity < 0:
                errors.append((known or "", "quantity must not be negative"))
            else:
                good.append((listing.sku, quantity))
        if errors and self.push.errors is None:
            return _error(404, f"{errors[0][0]}: {errors[0][1]}")
        self.store.set_quantities(good)
        answer: dict[str, Any] = {}
        if self.push.errors is not None:
            entries = []
            for sku, message in errors:
                entry: dict[str, Any] = {}
                put(entry, self.push.error_sku, sku)
                put(entry, self.push.error_message, message)
                entries.append(entry)
            put(answer, array_of(self.push.errors), entries)
        return _json(answer)

    def _window(self, request: Request, spec: ReadSpec, rows: list[Any]) -> tuple[list[Any], int | None]:
        """The page of ``rows`` the request asks for and the next cursor; ``ValueError`` if malformed."""
        params = request.query_params
        size = int(params[spec.size_param]) if spec.size_param and spec.size_param in params else None
        size = spec.page_size if size is None else size
        if not 1 <= size <= self.page_limit:
            raise ValueError(f"page size must be 1..{self.page_limit}")
        if spec.page_param:
            start = (int(params.get(spec.page_param, spec.first_page)) - spec.first_page) * size
        elif spec.cursor_param:
            start = int(params.get(spec.cursor_param) or 0)
        else:
            return rows, None
        if start < 0:
            raise ValueError("no such page")
        return rows[start : start + size], (start + size if start + size < len(rows) else None)

    def _page_body(self, spec: ReadSpec, rows: list[Any], nxt: int | None) -> Response:
        body: dict[str, Any] = {}
        put(body, array_of(spec.items), rows)
        if spec.next_cursor and nxt is not None:
            put(body, spec.next_cursor, str(nxt))
        return _json(body)

    async def _catalog(self, request: Request) -> Response:
        spec = self.catalog
        with self.store.lock:
            rows = []
            for sku, listing in self.store.listings.items():
                row: dict[str, Any] = {}
                put(row, spec.sku, sku)
                if spec.id:
                    put(row, spec.id, listing.ids.get("id"))
                if spec.quantity:
                    put(row, spec.quantity, listing.quantity)
                rows.append(row)
        try:
            page, nxt = self._window(request, spec, rows)
        except ValueError as exc:
            return _error(400, str(exc))
        return self._page_body(spec, page, nxt)

    async def _orders(self, request: Request) -> Response:
        spec = self.orders_spec
        assert spec is not None
        since = moment(request.query_params.get(spec.since_param), spec.since_format)
        if since is None:
            return _error(400, f"{spec.since_param} is required, as {spec.since_format}")
        with self.store.lock:
            listed = sorted(self.orders.values(), key=lambda o: (o.updated, o.order_id))
            rows = [order_object(self.inbound, o) for o in listed if o.updated >= since]
        try:
            page, nxt = self._window(request, spec, rows)
        except ValueError as exc:
            return _error(400, str(exc))
        return self._page_body(spec, page, nxt)
