"""What every kind's read side provides for reconciliation: orders since a time, listed quantities.

A kind exposes a module-level ``RECONCILE`` (a ``ReconcileAdapter``) next to ``INBOUND`` and
``OUTBOUND``. Reads are paged; before each request the adapter awaits ``pace(cost)`` with the
request's cost in the channel's budget units, so the caller (the supervisor) keeps reconciliation
inside the share of the channel's rate budget it allows itself, and ``ReadStats`` counts what was spent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from adapters.http_retry import backoff, retry_after
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

Pace = Callable[[float], Awaitable[None]]
"""Wait until the caller's budget allows a request of this cost (and take it)."""


class ReadError(RuntimeError):
    """The channel refused a read (credentials, an error answer) or retries ran out."""


@dataclass
class ReadStats:
    """Requests made and budget units spent by one reconciliation's reads."""

    calls: int = 0
    cost: float = 0.0

    def add(self, cost: float) -> None:
        self.calls += 1
        self.cost += cost


class ReconcileAdapter(Protocol):
    """Reads a channel's orders and listed quantities, paged and paced."""

    kind: str

    def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        """Pages of the channel's orders modified at or after ``since`` (unix seconds), oldest id first."""
        ...

    def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        """Pages of SKU -> quantity the channel lists (SKUs without managed stock are left out)."""
        ...


def epoch(value: Any) -> float | None:
    """Unix seconds from an ISO 8601 string; a time without offset is UTC (WooCommerce's ``_gmt``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def order_lines(items: Any) -> tuple[tuple[str, int], ...]:
    """``(sku, quantity)`` for the line items with a SKU and a positive integer quantity."""
    out = []
    for item in items if isinstance(items, list) else []:
        sku, qty = (item.get("sku"), item.get("quantity")) if isinstance(item, dict) else (None, None)
        if isinstance(sku, str) and sku.strip() and type(qty) is int and qty > 0:
            out.append((sku, qty))
    return tuple(out)


async def get_paced(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: dict[str, Any],
    headers: dict[str, str],
    cost: float,
    pace: Pace,
    stats: ReadStats,
    sleep: Callable[[float], Awaitable[None]],
    max_attempts: int,
    what: str,
) -> httpx.Response:
    """GET ``url`` until it answers 200, awaiting ``pace(cost)`` (and counting it) before each try.

    A 429 or 5xx waits its ``Retry-After`` (else ``backoff``) and tries again, and so does a transport
    error (a read changes nothing, and a kept-alive connection the server just closed fails once);
    any other status raises ``ReadError``, as do ``max_attempts`` failed tries. ``what`` names the
    read in those errors; it must hold no secret (the URL may carry credentials, so it is never shown).
    """
    for attempt in range(max_attempts):
        await pace(cost)
        stats.add(cost)
        try:
            response = await client.get(url, params=params, headers=headers)
        except httpx.TransportError:
            await sleep(backoff(attempt))
            continue
        if response.status_code == 429 or response.status_code >= 500:
            await sleep(retry_after(response) or backoff(attempt))
            continue
        if response.status_code != 200:
            raise ReadError(f"{what} answered HTTP {response.status_code}: {response.text[:200]}")
        return response
    raise ReadError(f"gave up reading {what} after {max_attempts} attempts")
