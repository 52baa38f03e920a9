"""One push to a channel over HTTP, Ray-free: build the request, send it, classify the answer, describe it."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import httpx

from adapters.base import CompareAndSet, ListingUpdate, OutboundAdapter, PushResult, adapter_for
from engine.backoff import is_transient_error
from engine.channel_records import DeadLetter, Reply, Send
from engine.config import ChannelConfig
from engine.store.channel_store import DlqEntry

log = logging.getLogger(__name__)


def outbound_for(channel: ChannelConfig) -> OutboundAdapter:
    """The kind's ``OUTBOUND`` adapter, tuned by the channel's extras when it supports that."""
    adapter: OutboundAdapter = adapter_for(channel.kind).OUTBOUND
    tune = getattr(adapter, "for_channel", None)
    return tune(channel) if tune is not None else adapter


def extra(channel: ChannelConfig, name: str, default: Any) -> Any:
    """A channel extra (a config key beyond the common ones), or ``default``."""
    return (channel.model_extra or {}).get(name, default)


def updates_of(sends: list[Send]) -> list[ListingUpdate]:
    return [ListingUpdate(s.sku, s.quantity, s.target.version, s.ids, s.expected, s.round) for s in sends]


def throttled(response: httpx.Response, result: PushResult) -> bool:
    """A rate refusal: HTTP 429, or a non-5xx answer that retries everything after a wait (Shopify's
    ``Throttled`` comes as HTTP 200 with the wait computed from ``throttleStatus``)."""
    if response.status_code == 429:
        return True
    everything_retried = bool(result.retry) and not result.ok and not result.failed
    return response.status_code < 500 and everything_retried and result.retry_after_s is not None


async def exchange(
    client: httpx.AsyncClient,
    adapter: OutboundAdapter,
    channel: ChannelConfig,
    sends: list[Send],
    counters: Counter[str],
) -> tuple[Reply, httpx.Request | None, httpx.Response | None, PushResult | None]:
    """Send one request carrying ``sends``; the engine's ``Reply`` and what was sent and answered.

    The adapter's ``PushResult`` comes back too, so the caller can adopt the channel's budget view.
    Transport errors that may be transient are retried (absolute quantities: resending one that
    landed is harmless; on a compare-and-set channel the retry is the same request, or, re-batched,
    a conditional one); others fail the SKUs for good. Such an error, or a 5xx, may hide a write
    that landed: the reply says so (``maybe_applied``). SKUs the channel refused as stale come back
    in ``Reply.stale`` without readings: the caller re-reads them (``reread``).
    """
    updates = updates_of(sends)
    try:
        request = adapter.build(channel, updates)
    except (ValueError, KeyError) as exc:
        return Reply(failed={s.sku: f"cannot build request: {exc}" for s in sends}), None, None, None
    counters["requests"] += 1
    try:
        response = await client.send(request)
        follow = getattr(adapter, "follow", None)
        if follow is not None:  # a channel that answers a push later (a bulk feed: submit, then poll)
            response = await follow(client, channel, response)
    except httpx.HTTPError as exc:
        counters["transport_errors"] += 1
        error = f"{type(exc).__name__}: {exc}"
        if is_transient_error(exc):
            return Reply(error=error, maybe_applied=True), request, None, None
        return Reply(failed={s.sku: error for s in sends}), request, None, None
    result = adapter.parse(response, updates)
    was_throttled = throttled(response, result)
    counters["throttled"] += was_throttled
    error = f"HTTP {response.status_code}: {response.text[:200]}" if result.retry else ""
    stale: dict[str, int | None] = dict.fromkeys(result.stale)
    maybe = response.status_code >= 500
    reply = Reply(
        result.ok, result.failed, result.retry_after_s, was_throttled, error, stale, maybe, result.requeue
    )
    return reply, request, response, result


async def reread(
    client: httpx.AsyncClient, adapter: CompareAndSet, channel: ChannelConfig, sends: list[Send]
) -> tuple[dict[str, int | None], PushResult | None]:
    """What the channel lists now for ``sends``' listings (None for those it could not read), and
    the budget report of the read. Never raises: a failed read gives None for every SKU."""
    try:
        readings, result = await adapter.read_listed(client, channel, updates_of(sends))
    except Exception:  # a read that failed is a retry with backoff for these SKUs, not a crash
        log.exception("channel %s: re-reading %d listings failed", channel.id, len(sends))
        return dict.fromkeys((s.sku for s in sends), None), None
    return {s.sku: readings.get(s.sku) for s in sends}, result


def dlq_entry(
    channel_id: str, dead: DeadLetter, request: httpx.Request | None, response: httpx.Response | None
) -> DlqEntry:
    """Method and URL of the call and the answer's start: never headers, which carry tokens."""
    req = (
        None if request is None else {"method": request.method, "url": str(request.url.copy_with(query=None))}
    )
    resp = None if response is None else {"status": response.status_code, "body": response.text[:2000]}
    return DlqEntry.of(channel_id, dead, req, resp, time.time())
