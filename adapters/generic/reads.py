"""Paged GETs of a generic channel (catalog and orders), its URLs and its auth header.

Pages by number (``page_param``, stopping at a page shorter than ``page_size``), by cursor
(``cursor_param`` with the answer's ``next_cursor``, stopping when it is absent, empty or repeats)
or not at all (one request). Every request costs 1 unit of the channel's budget, awaited through
``pace``; 429, 5xx and transport errors are retried (``adapters.reading.get_paced``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson

from adapters.generic.jsonpath import MISSING, find, first
from adapters.generic.keys import PushSpec, ReadSpec
from adapters.reading import Pace, ReadError, ReadStats, get_paced
from engine.config import ChannelConfig

MAX_PAGES = 100_000
ATTEMPTS = 6


def url_for(channel: ChannelConfig, url: str) -> str:
    """``url`` if absolute, else joined to the channel's ``base_url``."""
    if url.startswith(("http://", "https://")):
        return url
    return f"{channel.base_url.rstrip('/')}/{url.lstrip('/')}"


def auth_headers(channel: ChannelConfig, push: PushSpec | None) -> dict[str, str]:
    """The access token in the push's auth header (``Authorization: Bearer <token>`` by default)."""
    token = channel.access_token.get_secret_value()
    if not token:
        return {}
    header, scheme = (push.auth_header, push.auth_scheme) if push else ("Authorization", "Bearer")
    return {header: f"{scheme} {token}" if scheme else token}


async def _free(cost: float) -> None:
    return None


async def pages(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    spec: ReadSpec,
    push: PushSpec | None,
    params: dict[str, Any],
    sleep: Callable[[float], Awaitable[None]],
    pace: Pace = _free,
    stats: ReadStats | None = None,
) -> AsyncIterator[list[Any]]:
    """The items of each page, in order; ``ReadError`` when the channel refuses or answers no JSON."""
    stats = stats if stats is not None else ReadStats()
    page, cursor = spec.first_page, None
    for _ in range(MAX_PAGES):
        query = dict(params)
        if spec.size_param:
            query[spec.size_param] = spec.page_size
        if spec.page_param:
            query[spec.page_param] = page
        if spec.cursor_param and cursor is not None:
            query[spec.cursor_param] = cursor
        response = await get_paced(
            client,
            url_for(channel, spec.url),
            params=query,
            headers=auth_headers(channel, push) | {"Accept": "application/json"},
            cost=1.0,
            pace=pace,
            stats=stats,
            sleep=sleep,
            max_attempts=ATTEMPTS,
            what=f"generic read {spec.url}",
        )
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ReadError(f"generic read {spec.url} answered no JSON") from None
        items = find(body, spec.items)
        if items:
            yield items
        if spec.cursor_param and spec.next_cursor:
            nxt = first(body, spec.next_cursor)
            if nxt is MISSING or nxt is None or nxt == "" or str(nxt) == cursor:
                return
            cursor = str(nxt)
        elif spec.page_param and len(items) >= spec.page_size:
            page += 1
        else:
            return
    raise ReadError(f"generic read {spec.url}: more than {MAX_PAGES} pages")
