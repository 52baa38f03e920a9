"""The gateway's ASGI app: webhook and admin routes over per-shard micro-batchers feeding the shard actors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from actors.gateway import admin, dlq, orders, reconcile
from actors.gateway.channels import ChannelActors
from actors.gateway.metrics import GatewayMetrics
from actors.gateway.shard_batchers import ShardBatchers
from actors.gateway.slashes import relative_slash_redirects
from actors.gateway.state import Gateway, InboundRoute, Shards
from actors.gateway.views import StoreViews
from actors.gateway.webhooks import WebhookEndpoint, fast_path_params, webhook
from adapters.base import adapter_for, can_push
from engine.config import Config
from engine.decisions import WireDecision
from engine.events import WireEvent
from engine.routing import ShardMap
from engine.store import Keys

log = logging.getLogger("skusync.gateway")


class GatewayApp(Starlette):
    """Starlette, except that ``POST /webhooks/<id>`` goes straight to its ASGI endpoint.

    Webhooks are nearly all of the gateway's traffic; see ``actors.gateway.webhooks`` for what
    the shortcut saves. Everything else (admin API, lifespan, other methods) goes through Starlette.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = fast_path_params(scope)
        if params is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        scope["path_params"] = params
        await webhook(scope, receive, send)


CALLS_OUT_THREADS = 8
"""Deliveries of one channel decoded at once when decoding may call the marketplace (its fetches
wait on the marketplace and its rate limit, not on our CPU)."""


def inbound_routes(config: Config) -> dict[str, InboundRoute]:
    """Channel id -> inbound adapter for every configured channel whose kind can receive webhooks.

    A channel of a kind without an inbound adapter yet is left out (its webhooks answer 404) and
    named in the log, so a typo in a kind does not pass silently.
    """
    routes: dict[str, InboundRoute] = {}
    for channel in config.channels:
        try:
            inbound = getattr(adapter_for(channel.kind), "INBOUND", None)
        except KeyError:
            inbound = None
        if inbound is None:
            log.warning(
                "channel %s: kind %s has no inbound adapter; its webhooks answer 404",
                channel.id,
                channel.kind,
            )
            continue
        workers = None
        if getattr(inbound, "calls_out", False):
            workers = ThreadPoolExecutor(CALLS_OUT_THREADS, thread_name_prefix=f"decode-{channel.id}")
        routes[channel.id] = InboundRoute(channel, inbound, workers)
    return routes


def create_app(
    config: Config,
    shard_client: Shards,
    redis: aioredis.Redis | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> GatewayApp:
    """The gateway app for ``config``, deciding through ``shard_client`` (a ``ShardClient``).

    ``redis`` serves the read-only views (audit, orders); by default a client for
    ``config.store.redis_url`` is made and closed with the app. ``extra_routes`` are mounted after
    the built-in ones. While it runs, the app sweeps abandoned ``POST /v1/orders`` orders every
    ``gateway.order_sweep_interval_s``. On shutdown it stops sweeping and taking events and waits
    for every batch in flight, so each answered request is durable and none is lost.
    """
    own_redis = redis is None
    if redis is None:
        if not config.store.redis_url:
            raise ValueError("create_app needs a Redis client or config.store.redis_url")
        redis = aioredis.Redis.from_url(config.store.redis_url)
    inbound = inbound_routes(config)
    metrics = GatewayMetrics(channels=inbound)

    async def submit(events: list[WireEvent]) -> tuple[list[WireDecision], dict[str, Any]]:
        metrics.batch(len(events))
        return await shard_client.submit_async(events)

    shard_map = ShardMap(config.engine.shards, config.engine.vshards)
    gateway = Gateway(
        config=config,
        shards=shard_client,
        batcher=ShardBatchers(
            submit,
            shard_map.shard,
            config.engine.shards,
            config.gateway.batch_max_events,
            config.gateway.batch_max_wait_ms,
            config.gateway.batch_max_inflight,
            vshard_of=shard_map.vshard,
        ),
        metrics=metrics,
        views=StoreViews(redis, Keys(config.store.key_prefix), shard_map),
        inbound=inbound,
        admin_token=config.gateway.admin_token.get_secret_value().encode(),
    )

    coordinator = orders.coordinator(gateway, redis)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(
            orders.sweep_forever(coordinator, config.gateway.order_sweep_interval_s), name="order-sweeper"
        )
        yield
        sweeper.cancel()  # every sweep step is retry-safe: the next gateway's sweeper finishes it
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await gateway.batcher.drain()
        if own_redis:
            await gateway.views.redis.aclose()

    routes: list[BaseRoute] = [
        Route("/webhooks/{channel_id}", WebhookEndpoint(), methods=["GET", "POST"]),
        *admin.routes(),
        *orders.routes(),
        *dlq.routes(),
        *reconcile.routes(),
        *extra_routes,
    ]
    app = GatewayApp(routes=routes, lifespan=lifespan)
    relative_slash_redirects(app.router)  # Starlette's own builds Location from the Host header
    app.state.gateway = gateway
    app.state.orders = coordinator
    pushed = [c.id for c in config.channels if can_push(c)]  # the others have no channel actor
    app.state.channels = ChannelActors(config.store.key_prefix, pushed)
    return app
