"""The ``/_sim/`` control surface and fault plumbing shared by every marketplace simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.sim.core import Faults, SimOrder, SimulatedShoppers, SimulatedStore
from adapters.sim.shoppers import ShopperConfig, deliver_once

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class SimHost(Protocol):
    """What a marketplace simulator gives the shared control surface."""

    store: SimulatedStore
    faults: Faults
    shoppers: SimulatedShoppers | None

    def seed(self, items: list[dict[str, Any]], reset: bool) -> dict[str, dict[str, Any]]: ...

    def render_webhook(self, order: SimOrder) -> tuple[bytes, dict[str, str]]: ...

    def accepts(self, status: int) -> bool: ...

    def settings(self, changes: dict[str, Any]) -> dict[str, Any]: ...

    def error_response(self) -> Response: ...


class ExposeTransport:
    """Outermost ASGI layer: keeps the server's own ``send`` in the scope so a route can drop the connection.

    Starlette wraps ``send`` in its middleware; only the server's original callable (uvicorn's h11
    request cycle, a bound method) leads to the socket transport.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        scope["sim.send"] = send
        await self.app(scope, receive, send)


async def drop_connection(request: Request) -> None:
    """Close the client's connection without an answer (the client sees a disconnect, not a status).

    Works on uvicorn's h11 server (``serve_in_thread`` pins it). Elsewhere there is no transport to
    reach, so this raises, which servers answer with a bare 500 instead of a reset.
    """
    cycle = getattr(request.scope.get("sim.send"), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("simulated reset: server transport not reachable")
    transport.abort()
    # Let the loop deliver connection_lost, after which uvicorn silently discards our reply.
    await asyncio.sleep(0.01)


async def with_faults(
    host: SimHost, request: Request, handle: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Run a marketplace route under the host's injected faults, counting what was injected."""
    host.store.count("requests")
    action = await host.faults.draw()
    if action == "error":
        host.store.count("errors")
        return host.error_response()
    if action == "timeout":
        host.store.count("timeouts")
        await asyncio.sleep(host.faults.timeout_hold_s)
        await drop_connection(request)
        return Response(status_code=504)
    response = await handle(request)
    if action == "reset":
        host.store.count("resets")
        await drop_connection(request)
    return response


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = orjson.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def control_routes(host: SimHost) -> list[Route]:
    """Routes under ``/_sim/``: state, seed, faults, settings, manual orders, shoppers."""

    async def state(request: Request) -> Response:
        snap = host.store.snapshot(lists=request.query_params.get("lists", "1") != "0")
        snap["faults"] = host.faults.public()
        snap["settings"] = host.settings({})
        snap["shoppers"] = host.shoppers.stats() if host.shoppers else None
        return _json(snap)

    async def seed(request: Request) -> Response:
        body = await _body(request)
        ids = host.seed(list(body.get("items", [])), bool(body.get("reset", True)))
        return _json({"ids": ids})

    async def faults(request: Request) -> Response:
        host.faults = Faults(**await _body(request))
        return _json({"faults": host.faults.public()})

    async def settings(request: Request) -> Response:
        return _json(host.settings(await _body(request)))

    async def order(request: Request) -> Response:
        body = await _body(request)
        lines = [(str(line["sku"]), int(line["quantity"])) for line in body.get("lines", [])]
        placed = host.store.try_sell(lines) if lines else None
        if placed is None:
            return _json({"error": "refused: the listing does not cover the order"}, 409)
        if body.get("gateway_url"):
            await deliver_once(host.store, host.render_webhook, placed, body["gateway_url"], host.accepts)
        else:
            host.store.mark_delivery(placed, False, None, "not sent")
        return _json({"order_id": placed.order_id, "delivered": placed.delivered, "status": placed.status})

    async def shoppers_start(request: Request) -> Response:
        if host.shoppers and host.shoppers.stats()["running"]:
            return _json({"error": "shoppers already running"}, 409)
        body = await _body(request)
        duration, max_orders = body.pop("duration_s", None), body.pop("max_orders", None)
        host.shoppers = SimulatedShoppers(
            host.store, host.render_webhook, ShopperConfig(**body), host.accepts
        )
        host.shoppers.start(duration, max_orders)
        return _json({"started": True})

    async def shoppers_stop(request: Request) -> Response:
        if host.shoppers is None:
            return _json({"error": "no shoppers"}, 404)
        await host.shoppers.stop()
        return _json(host.shoppers.stats())

    async def guarded(request: Request, handler: Callable[[Request], Awaitable[Response]]) -> Response:
        try:
            return await handler(request)
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)

    def route(path: str, handler: Callable[[Request], Awaitable[Response]], method: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler)

        return Route(path, endpoint, methods=[method])

    return [
        route("/_sim/state", state, "GET"),
        route("/_sim/seed", seed, "POST"),
        route("/_sim/faults", faults, "POST"),
        route("/_sim/settings", settings, "POST"),
        route("/_sim/orders", order, "POST"),
        route("/_sim/shoppers", shoppers_start, "POST"),
        route("/_sim/shoppers/stop", shoppers_stop, "POST"),
    ]
