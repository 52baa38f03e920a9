"""``POST /webhooks/{channel_id}``: size cap, signature over raw bytes, normalise, durable decision."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from actors.gateway.batcher import BatcherClosed
from actors.gateway.metrics import UNKNOWN_CHANNEL
from actors.gateway.state import Gateway, InboundRoute, error, gateway_of, json_response
from actors.shard_client import ShardUnavailable
from adapters.base import AdapterError, SignatureError
from engine.events import WireEvent


class BodyTooLarge(Exception):
    """The request body is over ``max_body_bytes``."""


async def webhook(request: Request) -> Response:
    """Answer one marketplace delivery; see ``answer`` for the status codes.

    Every answer is recorded in the per-channel counters and latency histogram; ids that name no
    configured channel are recorded as ``unknown`` so that URLs cannot create label values.
    """
    gw = gateway_of(request)
    started = time.perf_counter()
    route = gw.inbound.get(request.path_params["channel_id"])
    if route is None:
        response = error(404, "unknown channel")
    else:
        response = await answer(gw, route, request)
    label = route.channel.id if route is not None else UNKNOWN_CHANNEL
    gw.metrics.webhook(label, response.status_code, time.perf_counter() - started)
    return response


async def answer(gw: Gateway, route: InboundRoute, request: Request) -> Response:
    """413 over the size cap, 401 bad signature, 400 malformed, 503 shards unavailable, else 200.

    Only the 200 path submits anything: every error is decided before the shards see an event, so
    none changes state. The 200 answer carries the decisions of the delivery's events, which the
    shards made durable before answering; a duplicate delivery gets the first delivery's decisions
    because the ledger replays them for a repeated idempotency key. A 503 may follow a batch that
    was in fact committed: the sender's retry then gets the committed answer.
    """
    channel = route.channel
    try:
        body = await read_capped(request, gw.config.gateway.max_body_bytes)
    except BodyTooLarge:
        return error(413, f"body over {gw.config.gateway.max_body_bytes} bytes")
    # ASGI header names arrive lower-cased; the adapters rely on that
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
    try:
        route.adapter.verify(channel, headers, body)
    except SignatureError as exc:
        return error(401, exc.reason)
    try:
        inbound = route.adapter.normalise(channel, headers, body)
    except AdapterError as exc:
        return error(400, exc.reason)
    try:
        decisions = await gw.decide(scope_keys(channel.id, inbound.events)) if inbound.events else []
    except (BatcherClosed, ShardUnavailable) as exc:
        return error(503, str(exc), retry=True)
    return json_response(200, {"decisions": decisions, "note": inbound.note})


def scope_keys(channel_id: str, events: list[WireEvent]) -> list[WireEvent]:
    """Prefix every idempotency key with the channel id.

    Adapters derive keys from what the marketplace sends (``shopify:<event id>``), which is unique
    per shop, not across the shops one deployment serves: two Shopify stores may send the same event
    id. Channel ids contain no ``:`` (``engine.events.ChannelId``), so the prefix cannot be forged.
    """
    return [{**ev, "key": f"{channel_id}:{ev['key']}"} for ev in events]


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, refusing (``BodyTooLarge``) as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the cap is refused before reading anything; a chunked or
    understated body is refused at the first chunk past the cap, so at most ``limit`` bytes plus one
    chunk are ever held. The server discards the unread rest.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
