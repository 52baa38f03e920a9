"""When to ask a marketplace again: its ``Retry-After`` header, else a capped exponential pause.

Shared by every adapter's read loops (catalog import, reconciliation reads); the channel actor's
pushes use ``engine.backoff.Backoff`` instead, whose jitter spreads many SKUs' retries apart.
"""

from __future__ import annotations

import httpx


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (Shopify sends e.g. ``2.0``); None when absent or a date."""
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def backoff(attempt: int) -> float:
    """Pause before retry ``attempt + 1`` of a read: 0.5 s doubling, at most 10 s."""
    return min(10.0, 0.5 * 2**attempt)
