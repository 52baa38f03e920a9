"""``POST /v1/orders``: the seller's all-or-nothing orders, and the sweeper finishing abandoned ones."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import redis.asyncio as aioredis
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.gateway.admin import admin
from actors.gateway.batcher import Overloaded
from actors.gateway.parsing import KEY_PREFIX, Invalid, body_model
from actors.gateway.state import Gateway, gateway_of, json_response
from engine.events import ChannelId, path_safe
from engine.store import Keys
from engine.two_phase import TwoPhaseOrders

log = logging.getLogger("skusync.gateway.orders")

SWEEP_BATCH = 100
"""Orders one sweep round finishes before it looks again (bounds one round's Redis reads)."""


Ident = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(path_safe)]
"""A SKU or order id as ``engine.events`` takes it, and a JSON string (no number coerced)."""


class OrderLineIn(BaseModel):
    """One line of ``POST /v1/orders``: a SKU and a positive whole number of units."""

    model_config = ConfigDict(extra="forbid")
    sku: Ident
    quantity: StrictInt = Field(gt=0, le=1_000_000)


class PlaceOrder(BaseModel):
    """Body of ``POST /v1/orders``."""

    model_config = ConfigDict(extra="forbid")
    channel: ChannelId
    order_id: Ident
    lines: list[OrderLineIn] = Field(min_length=1, max_length=1000)


def coordinator(gateway: Gateway, redis: aioredis.Redis) -> TwoPhaseOrders:
    """The app's ``TwoPhaseOrders``: its steps go through the shards' micro-batchers like any admin event."""
    keys = Keys(gateway.config.store.key_prefix)
    return TwoPhaseOrders(
        redis,
        keys,
        gateway.decide,
        hold_s=gateway.config.gateway.order_hold_s,
        answer_ttl_s=gateway.config.engine.idempotency_ttl_s,
    )


def orders_of(request: Request) -> TwoPhaseOrders:
    """The coordinator of the app serving ``request`` (set by ``create_app``)."""
    orders: TwoPhaseOrders = request.app.state.orders
    return orders


def order_key(request: Request) -> str:
    """The required ``Idempotency-Key``, prefixed like every admin key so no webhook key can match it."""
    sent = request.headers.get("idempotency-key", "").strip()
    if not sent:
        raise Invalid(400, "the Idempotency-Key header is required")
    if len(sent) > 200:
        raise Invalid(422, "Idempotency-Key must be at most 200 characters")
    return KEY_PREFIX + sent


async def claim_key(orders: TwoPhaseOrders, key: str, channel: str) -> bool:
    """Bind ``key`` to ``channel`` on first use; False if it was first used for another channel.

    The coordinator scopes its transactions by channel, so without this the same key sent with a
    different ``channel`` would place a second order instead of being refused as a different body.
    The binding lasts as long as the order's answer is kept (``TwoPhaseOrders.answer_ttl_s``).
    """
    name = f"{orders.keys.prefix}:orderkey:{key}"
    pipe = orders.r.pipeline(transaction=True)
    pipe.set(name, channel, nx=True, ex=orders.answer_ttl_s)
    pipe.get(name)
    _, owner = await pipe.execute()
    return bool(owner is not None and owner.decode() == channel)


@admin
async def place_order(request: Request) -> Response:
    """Take every line or none (201, or 409 ``insufficient_stock`` naming the SKU); replays by key.

    Another key for an order id that already exists (placed here or by a marketplace's webhook)
    is 409 ``order_exists`` and changes nothing; that answer replays by key like any other. The
    channel must be configured (422 ``unknown_channel`` otherwise): an order on a channel nobody
    configured would take stock that no channel's reconciliation or view accounts for.

    The reserve, decide, commit/release steps may each be retried: every event's key derives from
    the order's key, and the decision is written once (``engine.two_phase``). A gateway dying
    between them leaves the order to the sweeper, which releases it unless commit was decided.
    """
    key = order_key(request)
    body = await body_model(request, PlaceOrder)
    if gateway_of(request).config.channel(body.channel) is None:
        detail = "no channel with this id is configured"
        raise Invalid(422, "unknown_channel", channel=body.channel, detail=detail)
    gateway = gateway_of(request)
    try:  # refused before anything is written; past here every step of the order is taken
        gateway.batcher.admit_skus((ln.sku for ln in body.lines), gateway.config.gateway.max_pending_events)
    except Overloaded as exc:
        gateway.metrics.refused("orders")
        headers = {"Retry-After": str(exc.retry_after_s)}
        return json_response(503, {"error": str(exc), "retry": True}, headers=headers)
    orders = orders_of(request)
    if not await claim_key(orders, key, body.channel):
        raise Invalid(422, "idempotency_key_reused", detail="same key, different order")
    lines = [line.model_dump() for line in body.lines]
    answer = await orders.place(key, body.channel, body.order_id, lines)
    return json_response(answer.status, answer.body)


async def sweep_forever(orders: TwoPhaseOrders, interval_s: float) -> None:
    """Every ``interval_s``, finish the orders whose hold expired (until cancelled).

    Safe on every gateway at once: the decision is taken with ``HSETNX`` and each step's event key
    derives from the order, so two sweepers (or a sweeper and a late coordinator) agree and no unit
    moves twice. A failing round (Redis or a shard down) is logged and tried again next interval.
    """
    while True:
        try:
            finished = SWEEP_BATCH
            while finished >= SWEEP_BATCH:  # a full round: more may be due, go on without waiting
                finished = await orders.sweep(SWEEP_BATCH)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("order sweep failed; retrying in %.1f s", interval_s)
        await asyncio.sleep(interval_s)


def routes() -> list[Route]:
    """``POST /v1/orders`` (``GET /v1/orders``, the orders view, is in ``admin``)."""
    return [Route("/v1/orders", place_order, methods=["POST"])]
