"""The bulk inventory feed: one asynchronous submission for many SKUs, polled to its end.

``POST /v3/feeds?feedType=inventory`` with the feed file as multipart ``file`` answers ``{feedId}``
(developer.walmart.com "Update inventory in bulk": spec 1.4 JSON for one ship node, 1.5
``shipNodes`` for named nodes; 10 feeds an hour, 5 MB, processed within 30 minutes; 429 with
``Retry-After`` when submitted too often). ``GET /v3/feeds/{feedId}?includeDetails=true`` (Feed
Status API) gives ``feedStatus`` (RECEIVED, INPROGRESS, PROCESSED, ERROR) and per item
``itemDetails.itemIngestionStatus [{sku, ingestionStatus, ingestionErrors {ingestionError
[{type, code, description}]}}]``, at most 1000 a page, hence ``feed_max_items`` at most 1000.

``classify`` maps the items back to SKUs: SUCCESS is written; DATA_ERROR fails the SKU with its
first error; SYSTEM_ERROR, TIMEOUT_ERROR, a SKU the status does not name, and a feed still in
progress when polling gave up are sent again; a feed in ERROR fails every SKU with its error.
Submissions are budgeted apart from the per-SKU calls (``FeedBudget``, clock injectable).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from adapters import feed_budget
from adapters.base import ListingUpdate, PushResult
from adapters.http_retry import backoff, retry_after

PATH = "/v3/feeds"
FEEDS_PER_HOUR = 10.0
DONE = frozenset({"PROCESSED", "ERROR"})
RETRYABLE = frozenset({"SYSTEM_ERROR", "TIMEOUT_ERROR", "INPROGRESS"})


class FeedBudget(feed_budget.FeedBudget):
    """Feed submissions left: ``per_hour`` full, refilled evenly over the hour (Walmart replenishes
    hourly allotments gradually: developer.walmart.com rate limiting)."""

    def __init__(self, per_hour: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(per_hour, 3600.0, clock)


def file_body(updates: list[ListingUpdate], ship_node: str | None) -> bytes:
    """The feed file: spec 1.4 (default ship node) or 1.5 (``shipNodes``) JSON."""
    if ship_node is None:
        items: list[dict[str, Any]] = [
            {"sku": u.sku, "quantity": {"unit": "EACH", "amount": u.quantity}} for u in updates
        ]
        return orjson.dumps({"InventoryHeader": {"version": "1.4"}, "Inventory": items})
    items = [
        {
            "sku": u.sku,
            "shipNodes": [{"shipNode": ship_node, "quantity": {"unit": "EACH", "amount": u.quantity}}],
        }
        for u in updates
    ]
    return orjson.dumps({"InventoryHeader": {"version": "1.5"}, "Inventory": items})


def request(
    base_url: str, headers: dict[str, str], updates: list[ListingUpdate], ship_node: str | None
) -> httpx.Request:
    feed_type = "inventory" if ship_node is None else "MP_INVENTORY"
    return httpx.Request(
        "POST",
        f"{base_url.rstrip('/')}{PATH}",
        params={"feedType": feed_type},
        files={"file": ("inventory.json", file_body(updates, ship_node), "application/json")},
        headers=headers,
    )


def is_submission(req: httpx.Request) -> bool:
    return req.method == "POST" and req.url.path.endswith(PATH)


def is_status(req: httpx.Request) -> bool:
    return req.method == "GET" and f"{PATH}/" in req.url.path


async def follow(
    client: httpx.AsyncClient,
    submitted: httpx.Response,
    headers: Callable[[], Awaitable[dict[str, str]]],
    *,
    poll_s: float,
    timeout_s: float,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
) -> httpx.Response:
    """Poll an accepted submission's status until Walmart is done with it or ``timeout_s`` passed;
    the last status answer (the submission's own answer when it was refused or names no feed)."""
    if submitted.status_code not in (200, 201, 202):
        return submitted
    try:
        feed_id = orjson.loads(submitted.content).get("feedId")
    except (orjson.JSONDecodeError, AttributeError):
        return submitted
    if not isinstance(feed_id, str) or not feed_id:
        return submitted
    url = f"{str(submitted.request.url.copy_with(query=None)).rstrip('/')}/{quote(feed_id, safe='')}"
    start, last, attempt = clock(), submitted, 0
    while clock() - start < timeout_s:
        await sleep(poll_s)
        try:
            answer = await client.get(
                url, params={"includeDetails": "true", "limit": 1000}, headers=await headers()
            )
        except httpx.TransportError:
            await sleep(backoff(attempt))
            attempt += 1
            continue
        if answer.status_code == 429 or answer.status_code >= 500:
            await sleep(retry_after(answer) or backoff(attempt))
            attempt += 1
            continue
        last = answer
        if answer.status_code != 200 or _status(answer) in DONE:
            return answer
    return last


def _status(response: httpx.Response) -> str:
    try:
        return str(orjson.loads(response.content).get("feedStatus"))
    except (orjson.JSONDecodeError, AttributeError):
        return ""


def classify(response: httpx.Response, updates: list[ListingUpdate], poll_s: float) -> PushResult:
    """The SKUs of a feed by its final status answer (see the module docstring)."""
    skus = [u.sku for u in updates]
    if is_submission(response.request):
        # Accepted but never polled to the end (or refused outright, handled by the caller):
        # nothing says what was written, so every SKU goes again.
        return PushResult(retry=skus, retry_after_s=poll_s)
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return PushResult(retry=skus)
    status = answer.get("feedStatus") if isinstance(answer, dict) else None
    if status == "ERROR":
        return PushResult(failed=dict.fromkeys(skus, f"feed ERROR: {_first_error(answer)}"))
    if status != "PROCESSED":
        return PushResult(retry=skus, retry_after_s=poll_s)
    details = (answer.get("itemDetails") or {}).get("itemIngestionStatus") or []
    by_sku = {d["sku"]: d for d in details if isinstance(d, dict) and isinstance(d.get("sku"), str)}
    result = PushResult()
    for sku in skus:
        item = by_sku.get(sku)
        state = item.get("ingestionStatus") if item else None
        if state == "SUCCESS":
            result.ok.append(sku)
        elif item is None or state in RETRYABLE:
            result.retry.append(sku)
        else:
            result.failed[sku] = f"{state}: {_first_error(item)}"[:200]
    return result


def _first_error(holder: dict[str, Any]) -> str:
    errors = (holder.get("ingestionErrors") or {}).get("ingestionError") or [{}]
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return f"{first.get('code')}: {first.get('description')}"[:180]
