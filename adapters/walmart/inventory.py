"""Reading Walmart: authenticated GETs with retries, and every SKU's inventory page by page.

``GET /v3/inventories?limit=N&nextCursor=C`` (developer.walmart.com "Multiple item inventory for
all ship nodes"): ``{meta {totalCount, nextCursor}, elements {inventories [{sku, nodes [{shipNode,
inputQty {unit, amount}, availToSellQty, reservedQty}]}]}}``; ``limit`` at most 50 (simulator and
adapter alike; unverified: the page shows 10 by default). The catalog import and reconciliation's
quantity read share ``pages``. What a SKU lists is ``listed_amount``: the pushed node's (the
channel's ``ship_node``, else the first) ``inputQty`` (unverified whether an order lowers
``inputQty`` or only ``availToSellQty``: the one function to change). 401 drops the token and
fetches another once; 429 and 5xx wait ``Retry-After`` (else a backoff).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import httpx

from adapters.authorized_get import Before, get_object, nothing
from adapters.walmart.tokens import headers, tokens_for
from engine.config import ChannelConfig

INVENTORIES = "/v3/inventories"
PAGE_SIZE = 50


async def walmart_get(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    path: str,
    params: Sequence[tuple[str, str | int | float | bool | None]],
    *,
    before: Before = nothing,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_attempts: int = 10,
) -> dict[str, Any]:
    """GET ``base_url + path`` until 200; its JSON object. Errors never show the query or headers."""
    url = f"{channel.base_url.rstrip('/')}{path}"
    return await get_object(
        client, tokens_for(channel), url, list(params), lambda token: headers(channel, token),
        label=f"Walmart {path}", before=before, sleep=sleep, max_attempts=max_attempts,
    )  # fmt: skip


def listed_amount(nodes: list[dict[str, Any]], ship_node: str | None) -> int | None:
    mine = [n for n in nodes if ship_node is None or n.get("shipNode") == ship_node][:1]
    amount = ((mine[0].get("inputQty") or {}) if mine else {}).get("amount")
    return amount if type(amount) is int else None


def cursor_params(cursor: str) -> list[tuple[str, str]]:
    """``nextCursor`` as query parameters: Walmart sends either an opaque token or a query string
    (its orders' ``nextCursor`` is ``?limit=..&hasMoreElements=true&...``)."""
    if "=" in cursor:
        return parse_qsl(cursor.lstrip("?"), keep_blank_values=True)
    return [("nextCursor", cursor)]


async def pages(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    page_size: int,
    *,
    before: Before = nothing,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[dict[str, list[dict[str, Any]]]]:
    """Pages of SKU -> its ship nodes, every inventory the seller has."""
    size = max(1, min(PAGE_SIZE, page_size))
    cursor: str | None = None
    while True:
        params: list[tuple[str, str | int | float | bool | None]] = [("limit", str(size))]
        params += [("nextCursor", cursor)] if cursor else []
        body = await walmart_get(client, channel, INVENTORIES, params, before=before, sleep=sleep)
        rows = ((body.get("elements") or {}).get("inventories")) or []
        page = {
            str(r["sku"]): [n for n in r.get("nodes") or [] if isinstance(n, dict) and n.get("shipNode")]
            for r in rows
            if isinstance(r, dict) and isinstance(r.get("sku"), str) and r["sku"]
        }
        if page:
            yield page
        nxt = (body.get("meta") or {}).get("nextCursor")
        if not rows or not isinstance(nxt, str) or not nxt or nxt == cursor:
            return
        cursor = nxt
