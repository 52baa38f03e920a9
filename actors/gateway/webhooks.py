"""``POST /webhooks/{channel_id}``: size cap, signature over raw bytes, normalise, durable decision.

A plain ASGI endpoint, not a Starlette handler: ``GatewayApp`` calls it directly for every
``POST /webhooks/<id>``, past Starlette's middleware, router, request and response objects, which
cost as much per request as the rest of the HTTP side (a hello-JSON app answered 5,300-5,500
requests/s through Starlette and 8,100-11,100 as plain ASGI, same server and load). The route is
still registered with Starlette, so other methods get 405 and a trailing slash its redirect.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from actors.gateway.batcher import BatcherClosed, Overloaded
from actors.gateway.body import BodyTooLarge, read_body
from actors.gateway.invalid_lines import record_invalid, with_invalid
from actors.gateway.metrics import UNKNOWN_CHANNEL
from actors.gateway.state import Gateway, InboundRoute
from actors.shard_client import ShardUnavailable
from adapters.base import AdapterError, Inbound, SignatureError, TryLater
from engine.events import WireEvent
from engine.wire import set_aside

log = logging.getLogger("skusync.gateway.webhooks")
PREFIX = "/webhooks/"
_JSON = (b"content-type", b"application/json")


class Reply(NamedTuple):
    """Status and JSON body of a webhook answer."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[bytes, bytes], ...] = ()


def reject(status: int, reason: str, **extra: Any) -> Reply:
    """``{"error": reason, ...}`` with ``status``, the shape of every error answer of the API."""
    return Reply(status, {"error": reason, **extra})


async def webhook(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one marketplace delivery (ASGI); see ``answer`` for the status codes.

    Every answer is recorded in the per-channel counters and latency histogram; ids that name no
    configured channel are recorded as ``unknown`` so that URLs cannot create label values.
    """
    gw: Gateway = scope["app"].state.gateway
    started = time.perf_counter()
    route = gw.inbound.get(scope["path_params"]["channel_id"])
    try:
        reply = reject(404, "unknown channel") if route is None else await answer(gw, route, scope, receive)
    except ClientDisconnect:
        return  # nobody to answer, and nothing was submitted
    except Exception:  # answer 500 rather than drop the connection; the sender will retry
        log.exception("webhook failed")
        reply = reject(500, "internal error", retry=True)
    label = route.channel.id if route is not None else UNKNOWN_CHANNEL
    gw.metrics.webhook(label, reply.status, time.perf_counter() - started)
    await respond(send, reply)


async def respond(send: Send, reply: Reply) -> None:
    body = orjson.dumps(reply.body)
    headers = [_JSON, (b"content-length", str(len(body)).encode()), *reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def challenge(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /webhooks/{channel_id}``: a kind's endpoint-validation challenge (eBay's
    ``challenge_code``), answered by its inbound adapter's optional ``challenge(channel, query)``
    (a JSON object, or None when the query is no challenge: 400). Kinds without one answer 405 as
    before; the answer changes no state."""
    gw: Gateway = scope["app"].state.gateway
    route = gw.inbound.get(scope["path_params"]["channel_id"])
    answer = getattr(route.adapter, "challenge", None) if route is not None else None
    if route is None:
        reply = reject(404, "unknown channel")
    elif answer is None:
        reply = Reply(405, {"error": "method not allowed"}, ((b"allow", b"POST"),))
    else:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            found = answer(route.channel, query)
            reply = reject(400, "no challenge in the query") if found is None else Reply(200, found)
        except AdapterError as exc:
            reply = reject(400, exc.reason)
    await respond(send, reply)


async def answer(gw: Gateway, route: InboundRoute, scope: Scope, receive: Receive) -> Reply:
    """413 over the size cap, 401 bad signature, 400 malformed, 503 shards unavailable or
    overloaded (a shard's backlog at ``gateway.max_pending_events``; with ``Retry-After``), else 200.

    Malformed means the delivery cannot be read (not JSON, no order id, a bad order id) or has no
    line that can be decided. Bad lines beside good ones do not refuse it: the good ones are
    decided and the bad ones answered ``invalid`` (``actors.gateway.invalid_lines``).

    Only the 200 path submits anything: every error is decided before the shards see an event, so
    none changes state. The 200 answer carries the decisions of the delivery's events, which the
    shards made durable before answering; a duplicate delivery gets the first delivery's decisions
    because the ledger replays them for a repeated idempotency key. A 503 may follow a batch that
    was in fact committed: the sender's retry then gets the committed answer.
    """
    channel = route.channel
    # ASGI header names arrive lower-cased; the adapters rely on that
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    limit = gw.config.gateway.max_body_bytes
    try:
        body = await read_body(headers.get("content-length"), receive, limit)
    except BodyTooLarge:
        return reject(413, f"body over {limit} bytes")
    if getattr(route.adapter, "calls_out", False):
        # An adapter that may call its marketplace while it decodes (eBay: a signing key or an
        # order it has not seen) runs on a worker thread: a slow marketplace must never stall the
        # event loop every other channel's webhooks share; on the channel's own threads
        # (``InboundRoute.workers``), so it cannot hold another channel's deliveries either.
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(route.workers, decode, route, headers, body)
    else:
        decoded = decode(route, headers, body)
    if isinstance(decoded, Reply):
        return decoded
    inbound = decoded
    events, flagged = set_aside(scope_keys(channel.id, inbound.events))
    try:
        gw.batcher.admit(events, gw.config.gateway.max_pending_events)  # no await before decide's queueing
        decisions = await gw.decide(events) if events else []
    except Overloaded as exc:
        gw.metrics.refused("webhook")
        return Reply(503, {"error": str(exc), "retry": True}, ((b"retry-after", b"%d" % exc.retry_after_s),))
    except (BatcherClosed, ShardUnavailable) as exc:
        return reject(503, str(exc), retry=True)
    if any(flagged):
        views = gw.views
        await record_invalid(views.redis, views.keys, gw.config.engine.idempotency_ttl_s, events, flagged)
        decisions = [with_invalid(d, bad) for d, bad in zip(decisions, flagged, strict=True)]
    return Reply(200, {"decisions": decisions, "note": inbound.note})


def decode(route: InboundRoute, headers: dict[str, str], body: bytes) -> Inbound | Reply:
    """Signature over the raw bytes first (401), then the events (400); nothing changes state."""
    try:
        route.adapter.verify(route.channel, headers, body)
    except SignatureError as exc:
        return reject(401, exc.reason)
    try:
        return route.adapter.normalise(route.channel, headers, body)
    except AdapterError as exc:
        return reject(400, exc.reason)
    except TryLater as exc:
        # A read the decision needs was throttled (Amazon's getOrder): nothing was decided, so
        # the sender's redelivery is safe; 503 + Retry-After says "again later", not "broken".
        log.warning("channel %s: delivery deferred: %s", route.channel.id, exc.reason)
        seconds = b"%d" % max(1, math.ceil(exc.retry_after_s))
        return Reply(503, {"error": exc.reason, "retry": True}, ((b"retry-after", seconds),))


def scope_keys(channel_id: str, events: list[WireEvent]) -> list[WireEvent]:
    """Prefix every idempotency key with the channel id.

    Adapters derive keys from what the marketplace sends (``shopify:<event id>``), which is unique
    per shop, not across the shops one deployment serves: two Shopify stores may send the same event
    id. Channel ids contain no ``:`` (``engine.events.ChannelId``), so the prefix cannot be forged.
    """
    return [{**ev, "key": f"{channel_id}:{ev['key']}"} for ev in events]


class WebhookEndpoint:
    """``webhook`` (and ``challenge`` for GET) as the endpoint of a Starlette ``Route`` (an instance,
    so the route passes the ASGI scope instead of wrapping it as a ``Request -> Response`` function)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in ("GET", "HEAD"):
            await challenge(scope, receive, send)
        else:
            await webhook(scope, receive, send)


def fast_path_params(scope: Scope) -> dict[str, str] | None:
    """``{"channel_id": ...}`` for a ``POST /webhooks/<id>`` the router would send to ``webhook``."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):  # served under a prefix: route on what follows it
        path = path[len(root) :]
    if not path.startswith(PREFIX):
        return None
    channel_id = path[len(PREFIX) :]
    if not channel_id or "/" in channel_id:
        return None
    return {"channel_id": channel_id}
