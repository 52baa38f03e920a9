"""Generic outbound: the configured request template, ``push.batch_size`` SKUs a request.

``build`` fills ``push.url`` / ``push.body`` / ``push.item`` (``adapters.generic.template``) for the
batch and sends ``access_token`` in ``push.auth_header``. ``parse``: 429 and 5xx retry (after
``Retry-After`` when given), 401 / 403 and other 4xx fail the batch (a configured token does not
refresh itself), a 2xx accepts every SKU but those named in ``push.errors``. Cost: 1 a request. The
rate is the channel's ``rate_limit``; without one, 1 request/s burst 1, named at start-up as a
guess (skusync knows nothing of the marketplace). The catalog import reads ``catalog``: SKU ->
``{"id"?, "listed"?}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.base import ListingUpdate, PushResult
from adapters.generic import reads
from adapters.generic.jsonpath import MISSING, find, first
from adapters.generic.keys import CatalogSpec, PushSpec
from adapters.generic.template import render, render_url
from adapters.http_retry import retry_after
from engine.config import ChannelConfig

THROTTLE_PAUSE_S = 1.0


def push_spec(channel: ChannelConfig) -> PushSpec | None:
    spec = getattr(channel, "push", None)
    return PushSpec.model_validate(spec) if isinstance(spec, dict) else spec


def catalog_spec(channel: ChannelConfig) -> CatalogSpec | None:
    spec = getattr(channel, "catalog", None)
    return CatalogSpec.model_validate(spec) if isinstance(spec, dict) else spec


def values_of(update: ListingUpdate) -> dict[str, Any]:
    ids = update.ids if hasattr(update.ids, "get") else {}
    return {"sku": update.sku, "quantity": update.quantity, "id": ids.get("id", "")}


def request_for(spec: PushSpec, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
    values = values_of(updates[0]) if len(updates) == 1 else {}
    values["items"] = [render(spec.item, values_of(u)) for u in updates]
    headers = reads.auth_headers(channel, spec) | {
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    return httpx.Request(
        spec.method,
        reads.url_for(channel, render_url(spec.url, values)),
        content=orjson.dumps(render(spec.body, values)),
        headers=headers,
    )


def per_item_errors(spec: PushSpec, answer: Any) -> dict[str, str]:
    """SKU -> message for every entry of ``push.errors`` that names a SKU."""
    if spec.errors is None:
        return {}
    out: dict[str, str] = {}
    for entry in find(answer, spec.errors):
        sku = first(entry, spec.error_sku)
        if isinstance(sku, str) and sku:
            message = first(entry, spec.error_message)
            out[sku] = str("refused" if message is MISSING else message)[:200]
    return out


@dataclass
class GenericOutbound:
    """The generic ``OutboundAdapter``; ``for_channel`` binds the channel's push and catalog tables."""

    kind: str = "generic"
    max_batch: int = 1
    default_rate: tuple[float, float] = (1.0, 1.0)
    default_rate_guess: str = "a generic channel's marketplace publishes nothing skusync knows"
    push: PushSpec | None = None
    catalog: CatalogSpec | None = None
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def for_channel(self, channel: ChannelConfig) -> GenericOutbound:
        push = push_spec(channel)
        size = push.batch_size if push else 1
        return replace(self, push=push, catalog=catalog_spec(channel), max_batch=size)

    def pushes(self, channel: ChannelConfig) -> bool:
        """Only a channel with a push table gets a channel actor (``adapters.base.can_push``): one
        without (the seller's own checkout, a marketplace that is only read) has nothing to mirror."""
        return push_spec(channel) is not None

    def warnings(self, channel: ChannelConfig) -> list[str]:
        """Start-up warnings: tables that cannot work without the common key they need."""
        out = []
        if getattr(channel, "inbound", None) is not None and not channel.webhook_secret.get_secret_value():
            out.append(f"channel {channel.id}: no webhook_secret: every webhook will be refused (401)")
        if getattr(channel, "push", None) is None:
            out.append(
                f"channel {channel.id}: no push table: nothing is sent to this marketplace (no channel actor)"
            )
        elif not channel.access_token.get_secret_value():
            out.append(f"channel {channel.id}: no access_token: pushes and reads carry no credentials")
        return out

    def cost(self, updates: list[ListingUpdate]) -> float:
        return 1.0

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        spec = self.push or push_spec(channel)
        if spec is None:
            raise ValueError(f"channel {channel.id} has no push table")
        if not 1 <= len(updates) <= spec.batch_size:
            raise ValueError(f"a push carries 1..{spec.batch_size} SKUs, not {len(updates)}")
        return request_for(spec, channel, updates)

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        if status == 429 or status >= 500:
            pause = retry_after(response) or (THROTTLE_PAUSE_S if status == 429 else None)
            return PushResult(retry=skus, retry_after_s=pause)
        if not 200 <= status < 300:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {response.text[:200]}"))
        errors: dict[str, str] = {}
        if self.push is not None and self.push.errors is not None:
            try:
                errors = per_item_errors(self.push, orjson.loads(response.content))
            except orjson.JSONDecodeError:
                return PushResult(retry=skus)  # the answer that would name refusals is unreadable
        return PushResult(
            ok=[s for s in skus if s not in errors], failed={s: errors[s] for s in skus if s in errors}
        )

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        spec = self.catalog or catalog_spec(channel)
        if spec is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        async for items in reads.pages(client, channel, spec, self.push, {}, self.sleep):
            out.update(catalog_entries(spec, items))
        return out


def catalog_entries(spec: CatalogSpec, items: list[Any]) -> dict[str, dict[str, Any]]:
    """SKU -> ``{"id"?, "listed"?}`` for every listing with a SKU."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        sku = first(item, spec.sku)
        if not isinstance(sku, str) or not sku.strip():
            continue
        ids: dict[str, Any] = {}
        if spec.id is not None and (found := first(item, spec.id)) not in (MISSING, None):
            ids["id"] = found
        if spec.quantity is not None:
            listed = first(item, spec.quantity)
            if type(listed) is int:
                ids["listed"] = listed
        out[sku] = ids
    return out
