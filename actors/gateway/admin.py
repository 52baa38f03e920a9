"""The admin API of INTERFACE.md: bearer-token routes over the shards and the store's views."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import math
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from actors.gateway import redis_history
from actors.gateway.batcher import BatcherClosed
from actors.gateway.body import BodyTooLarge
from actors.gateway.channels import channels_of
from actors.gateway.drift_metrics import render_drift
from actors.gateway.health_probe import health_cache_of
from actors.gateway.metrics import CONTENT_TYPE
from actors.gateway.parsing import Invalid, body_model, build, event_key, limit_param, sku_param
from actors.gateway.state import error, gateway_of, json_response
from actors.gateway.views import STATUSES, _Candidate, audit_entry, order_status
from actors.shard_client import ShardUnavailable
from engine.decisions import WireDecision
from engine.events import OrderCancelled, StockAdjusted, StockSet
from engine.history import versions
from engine.history.migrations import connect
from engine.history.pages import AuditFilter, BadCursor, HistoryBehind, HistoryPages, OrderCandidate
from engine.store.reconcile_store import ReconcileStore
from engine.wire import STOCK_CAP

Handler = Callable[[Request], Awaitable[Response]]


class SetStock(BaseModel):
    """Body of ``PUT /v1/skus/{sku}/stock``."""

    model_config = ConfigDict(extra="forbid")
    quantity: StrictInt = Field(ge=0, le=10**12)


class Adjust(BaseModel):
    """Body of ``POST /v1/skus/{sku}/adjust``."""

    model_config = ConfigDict(extra="forbid")
    delta: StrictInt = Field(ge=-(10**12), le=10**12)
    reason: str = Field("adjust", min_length=1, max_length=200)


def authorized(request: Request, token: bytes) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; an empty token admits no one."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(presented.strip().encode(), token)


def admin(handler: Handler) -> Handler:
    """Require the admin token, and turn refusals into their status with ``{"error": reason}``."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        if not authorized(request, gateway_of(request).admin_token):
            return json_response(
                401, {"error": "missing or wrong admin token"}, headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            return await handler(request)
        except Invalid as exc:
            return error(exc.status, exc.reason, **exc.extra)
        except BodyTooLarge:
            return error(413, "body too large")
        except ClientDisconnect:  # e.g. the body deadline closed it: nothing was submitted
            return error(400, "the client left before its body was complete")
        except (BatcherClosed, ShardUnavailable) as exc:
            return error(503, str(exc), retry=True)

    return guarded


async def decide_one(request: Request, event: BaseModel) -> WireDecision:
    """Decide one admin event; a reused key with a different request is a 422."""
    decision = (await gateway_of(request).decide([event.model_dump(mode="json")]))[0]
    if decision["outcome"] == "conflict":
        raise Invalid(422, "Idempotency-Key was used for a different request")
    return decision


def stock_answer(decision: WireDecision) -> dict[str, Any]:
    """The answer to a set or an adjustment: the SKU's quantity after it, and how it was decided."""
    line = decision["lines"][0]
    return {
        "sku": line["sku"],
        "available": line["available"],
        "version": line["version"],
        "delta": line["delta"],
        "outcome": line["outcome"],
        "event_id": decision["key"],
    }


# -- handlers -----------------------------------------------------------------------------------
async def healthz(request: Request) -> Response:
    """200 ``{"status": "ok"}`` when every shard answered and the supervisor (once seen) reported
    every actor answering, at the last refresh; else 503 with a reason. No token (load balancers);
    answered from ``actors.gateway.health_cache``, so calls cost the actors nothing."""
    status, body = await health_cache_of(request.app).answer()
    return json_response(status, body, headers={"Cache-Control": "no-store"})


@admin
async def metrics(request: Request) -> Response:
    """Prometheus text format: this gateway's counters, then the last drift report per channel."""
    gateway = gateway_of(request)
    views = gateway.views
    reports = await ReconcileStore(views.redis, views.keys, views.shard_map).reports()
    return Response(gateway.metrics.render() + render_drift(reports), media_type=CONTENT_TYPE)


@admin
async def get_sku(request: Request) -> Response:
    """A SKU's master record and what each channel lists (a channel actor that is down or slow
    shows ``{"error": "unavailable"}``; its listing is asked with a short timeout)."""
    sku = sku_param(request.path_params["sku"])
    rec = await gateway_of(request).shards.get_async(sku)
    if rec is None:
        raise Invalid(404, "unknown sku", sku=sku)
    return json_response(200, {**rec, "channels": await channels_of(request).sku_status(sku)})


@admin
async def set_stock(request: Request) -> Response:
    """Absolute set (a stock take), audited like every change."""
    sku = sku_param(request.path_params["sku"])
    body = await body_model(request, SetStock)
    event = build(StockSet, {"key": event_key(request), "sku": sku, "quantity": body.quantity})
    return json_response(200, stock_answer(await decide_one(request, event)))


@admin
async def adjust_stock(request: Request) -> Response:
    """Relative change with a reason; 409 when it would take the SKU below zero or on hand past the
    10^12 cap that ``PUT`` enforces (nothing changes)."""
    sku = sku_param(request.path_params["sku"])
    body = await body_model(request, Adjust)
    fields = {"key": event_key(request), "sku": sku, "delta": body.delta, "reason": body.reason}
    decision = await decide_one(request, build(StockAdjusted, fields))
    if decision["outcome"] == "rejected":
        line = decision["lines"][0]
        if line["outcome"] == "over_cap":
            raise Invalid(409, "over_cap", sku=sku, cap=STOCK_CAP, available=line["available"])
        raise Invalid(409, "insufficient_stock", sku=sku, available=line["available"])
    return json_response(200, stock_answer(decision))


@admin
async def cancel_order(request: Request) -> Response:
    """Return an order's accepted units; 404 if no shard knows the order.

    The cancel event must name the order's SKUs (they route it), so they are read from the order's
    records first. Without an ``Idempotency-Key`` the key is derived from the order, so a retried
    cancel replays the first answer.
    """
    channel, order_id = request.path_params["channel"], request.path_params["order_id"]
    records = await gateway_of(request).views.order_records(channel, order_id)
    skus = list(dict.fromkeys(ln["sku"] for r in records for ln in r.get("lines", ())))
    status = order_status(records)
    if status is None or not skus:
        raise Invalid(404, "unknown order", channel=channel, order_id=order_id)
    if any(r.get("status") == "reserved" for r in records):
        # POST /v1/orders has not finished this order: a cancel now would strand its held units
        raise Invalid(409, "order not decided yet, retry shortly", channel=channel, order_id=order_id)
    key = event_key(request, default=f"cancel/{channel}/{order_id}")
    event = build(OrderCancelled, {"key": key, "channel": channel, "order_id": order_id, "skus": skus})
    decision = await decide_one(request, event)
    returned = [
        {"sku": ln["sku"], "units": ln["delta"], "available": ln["available"]}
        for ln in decision["lines"]
        if ln["outcome"] == "returned"
    ]
    return json_response(
        200,
        {
            "channel": channel,
            "order_id": order_id,
            "outcome": decision["outcome"],
            "returned": returned,
            "returned_units": sum(r["units"] for r in returned),
            "event_id": decision["key"],
        },
    )


@admin
async def list_orders(request: Request) -> Response:
    """``GET /v1/orders?channel=&status=&since=&limit=&cursor=``: every channel's orders, newest
    activity first, paged (``next_cursor``); ``since`` filters by newest activity.

    With ``[history] postgres_url``: through PostgreSQL and the tail Redis has not handed over
    yet (``engine.history.pages``); lines and status come from the order records while Redis
    keeps them, then from the order's versions, which every order shows (``versions``:
    ``engine.history.versions``). Without: from the streams (``redis_orders``).
    """
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        raise Invalid(422, f"status must be one of {', '.join(STATUSES)}")
    gateway = gateway_of(request)
    channel, limit = q.get("channel") or None, limit_param(request)
    if gateway.config.history.postgres_url is None:
        return await redis_orders(request, channel, status, limit)

    async def resolve(cands: list[OrderCandidate]) -> list[dict[str, Any]]:
        batch = {(c.channel, c.order_id): _Candidate(c.channel, c.order_id, c.at or 0.0) for c in cands}
        for c in cands:
            batch[(c.channel, c.order_id)].vshards.update(v for v in c.vshards if v >= 0)
        live = {(v["channel"], v["order_id"]): v for v in await gateway.views._resolve(batch, None)}
        out = []
        for c in cands:
            # a record past its retention window is gone from Redis: its versions still say it all
            known = versions.view(c.channel, c.order_id, c.versions, c.at)
            shown = versions.choose(live.get((c.channel, c.order_id)), known)
            if shown is not None and (status is None or shown["status"] == status):
                out.append({**shown, "versions": c.versions})
        return out

    async with history_of(request) as pages:
        since, cursor = since_param(request), cursor_param(request)
        orders, cursor = await pages.orders(channel, since, limit, cursor, resolve)
    return json_response(200, {"orders": orders, "next_cursor": cursor})


async def redis_orders(request: Request, channel: str | None, status: str | None, limit: int) -> Response:
    """``GET /v1/orders`` without ``postgres_url``: paged from the streams by a bounded scan
    (``actors.gateway.redis_history``); lines and status come from the order records."""
    views = gateway_of(request).views

    async def resolve(cands: list[redis_history.Candidate]) -> list[dict[str, Any]]:
        batch = {
            (c.channel, c.order_id): _Candidate(c.channel, c.order_id, c.at, set(c.vshards)) for c in cands
        }
        return await views._resolve(batch, status)

    pages = redis_history.RedisHistory(views.redis, views.keys, views.shard_map)
    since, cursor = since_param(request), cursor_param(request)
    try:
        orders, cursor = await pages.orders(channel, since, limit, cursor, resolve)
    except (BadCursor, redis_history.TooDeep) as exc:
        raise Invalid(422, str(exc)) from None
    return json_response(200, {"orders": orders, "next_cursor": cursor})


@admin
async def audit(request: Request) -> Response:
    """``GET /v1/audit?sku=&order_id=&channel=&since=&limit=&cursor=``: decided changes, newest
    first, paged (``next_cursor``); ``since`` is the entry's time in unix seconds.

    With ``[history] postgres_url`` through PostgreSQL and the unarchived Redis tail; without, from
    the Redis streams by a bounded scan (``actors.gateway.redis_history``: a page may come back
    short, with a cursor, when a rare filter made the scan reach its bound).
    """
    raw_sku = request.query_params.get("sku") or None
    sku = sku_param(raw_sku) if raw_sku is not None else None
    gateway = gateway_of(request)
    q = request.query_params
    flt = AuditFilter(sku, q.get("order_id") or None, q.get("channel") or None, since_param(request))
    if gateway.config.history.postgres_url is None:
        views = gateway.views
        pages = redis_history.RedisHistory(views.redis, views.keys, views.shard_map)
        try:
            found, cursor = await pages.audit(flt, limit_param(request), cursor_param(request))
        except BadCursor as exc:
            raise Invalid(422, str(exc)) from None
        shown = [audit_entry(f"{e.ms}-{e.seq}", e.doc) for e in found]
        return json_response(200, {"entries": shown, "next_cursor": cursor})
    async with history_of(request) as pages:
        entries, cursor = await pages.audit(flt, limit_param(request), cursor_param(request))
    shown = [audit_entry(f"{e.ms}-{e.seq}", e.doc) for e in entries]
    return json_response(200, {"entries": shown, "next_cursor": cursor})


def since_param(request: Request) -> float | None:
    """``?since=``: unix seconds (a finite number)."""
    raw = request.query_params.get("since")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise Invalid(422, "since must be a time in unix seconds")
    return value


def cursor_param(request: Request) -> str | None:
    raw = request.query_params.get("cursor") or None
    if raw is not None and len(raw) > 200:
        raise Invalid(422, "cursor is not one this server made")
    return raw


class _History:
    """The app's one PostgreSQL connection for history reads, made on first use.

    One connection serves every read in turn (admin listings are rare and short); a failure drops
    it and answers 503 with Retry-After, and the next read connects again. Nothing here names the
    URL: it is a secret (``[history] postgres_url``).
    """

    def __init__(self) -> None:
        self.pages: HistoryPages | None = None
        self.lock = asyncio.Lock()


@contextlib.asynccontextmanager
async def history_of(request: Request) -> Any:
    gateway = gateway_of(request)
    state: _History | None = getattr(request.app.state, "history", None)
    if state is None:
        state = request.app.state.history = _History()
    async with state.lock:
        try:
            if state.pages is None or state.pages.conn.closed:
                conn = await connect(gateway.config.history.url() or "")
                views, vshards = gateway.views, gateway.config.engine.vshards
                state.pages = HistoryPages(conn, views.redis, views.keys, vshards)
            yield state.pages
        except BadCursor as exc:
            raise Invalid(422, str(exc)) from None
        except HistoryBehind as exc:
            raise Invalid(503, f"history: {exc}; retry shortly", retry=True) from None
        except psycopg.Error as exc:
            if state.pages is not None:
                with contextlib.suppress(Exception):
                    await state.pages.conn.close()
            state.pages = None
            why = f"history store unavailable ({type(exc).__name__})"
            raise Invalid(503, why, retry=True) from None


def routes() -> list[Route]:
    """The admin API's routes.

    ``POST /v1/orders`` is in ``actors.gateway.orders``, the dead-letter routes in
    ``actors.gateway.dlq``; ``create_app`` mounts them next to these.
    """
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/v1/skus/{sku}", get_sku, methods=["GET"]),
        Route("/v1/skus/{sku}/stock", set_stock, methods=["PUT"]),
        Route("/v1/skus/{sku}/adjust", adjust_stock, methods=["POST"]),
        Route("/v1/orders", list_orders, methods=["GET"]),
        Route("/v1/orders/{channel}/{order_id}/cancel", cancel_order, methods=["POST"]),
        Route("/v1/audit", audit, methods=["GET"]),
    ]
