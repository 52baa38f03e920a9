"""Reading Shopify's GraphQL answers: throttle status, top-level errors and per-item userErrors."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from adapters.base import PushResult

TRANSIENT_USER_ERRORS = frozenset({"IDEMPOTENCY_CONCURRENT_REQUEST"})
"""userError codes that the same request, sent again later, can clear ("This request is currently in
progress, please try again": enum ``InventorySetQuantitiesUserErrorCode``, 2026-01 onwards)."""
STALE_USER_ERRORS = frozenset(
    {
        "CHANGE_FROM_QUANTITY_STALE",
        "COMPARE_QUANTITY_STALE",
        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
        "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
    }
)
"""userError codes after which the item needs a re-read and a *new* request (``PushResult.stale``):
the listing no longer holds ``changeFromQuantity`` (``COMPARE_QUANTITY_STALE`` is its pre-2026-04
name); "The same idempotency key cannot be used with different operation parameters"; "A previous
request with this idempotency key failed. Retry with a new idempotency key" (documented from
2026-10). Enum ``InventorySetQuantitiesUserErrorCode``; that the last two name an item is
*unverified* (without an item path they apply to the whole call, see ``classify_payload``)."""
TRANSIENT_ERRORS = frozenset({"THROTTLED", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"})


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def read_budget(result: PushResult, body: Any) -> float | None:
    """Copy ``extensions.cost.throttleStatus`` into ``result``; return the requested cost if stated."""
    cost = ((body.get("extensions") if isinstance(body, dict) else None) or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    result.budget_available = status.get("currentlyAvailable")
    result.budget_capacity = status.get("maximumAvailable")
    result.budget_restore_per_s = status.get("restoreRate")
    requested = cost.get("requestedQueryCost")
    return float(requested) if isinstance(requested, int | float) else None


def refill_wait(result: PushResult, requested: float) -> float:
    if result.budget_available is None or not result.budget_restore_per_s:
        return 1.0
    return max(0.0, (requested - result.budget_available) / result.budget_restore_per_s)


def is_throttled(error: dict[str, Any]) -> bool:
    return error.get("message") == "Throttled" or (error.get("extensions") or {}).get("code") == "THROTTLED"


def classify_errors(
    result: PushResult, errors: list[dict[str, Any]], skus: list[str], requested: float
) -> PushResult:
    """GraphQL errors mean nothing ran: throttling retries all; input problems fail the named items."""
    if any(is_throttled(e) for e in errors):
        result.retry, result.retry_after_s = skus, refill_wait(result, requested)
        return result
    if any((e.get("extensions") or {}).get("code") in TRANSIENT_ERRORS for e in errors):
        result.retry = skus
        return result
    bad: dict[str, str] = {}
    for error in errors:
        for problem in (error.get("extensions") or {}).get("problems") or []:
            path = problem.get("path") or []
            if (
                len(path) > 1
                and path[0] == "quantities"
                and str(path[1]).isdigit()
                and int(path[1]) < len(skus)
            ):
                bad[skus[int(path[1])]] = f"{'.'.join(map(str, path))}: {problem.get('explanation')}"
    if bad:
        result.failed, result.retry = bad, [s for s in skus if s not in bad]
    else:
        result.failed = dict.fromkeys(skus, "; ".join(str(e.get("message")) for e in errors)[:500])
    return result


def item_index(error: dict[str, Any], n: int) -> int | None:
    """Which of the ``n`` quantities a userError names, from its ``field`` path ``["input",
    "quantities", "<i>", ...]`` (*unverified* for the stale and idempotency codes: assumed shaped
    like the other per-quantity errors); None when it names none (it concerns the whole call)."""
    path = error.get("field") or []
    index = path[2] if len(path) > 2 and path[1] == "quantities" else None
    return int(index) if index is not None and str(index).isdigit() and int(index) < n else None


def applied(payload: dict[str, Any]) -> bool:
    """Whether the quantities without a userError of their own were written (*unverified* for a
    call that has userErrors: a null ``inventoryAdjustmentGroup`` is read as "nothing written")."""
    return payload.get("inventoryAdjustmentGroup") is not None or not payload.get("userErrors")


def classify_payload(result: PushResult, payload: dict[str, Any], skus: list[str]) -> PushResult:
    """Per-item userErrors: stale compares (and refused keys) to re-read, transient ones to retry,
    the rest failed; the SKUs without one are accepted or retried as ``applied`` says.

    Each SKU lands in exactly one of ``failed``, ``stale``, ``retry`` and ``ok`` (in that order of
    precedence when a SKU has several errors)."""
    verdict: dict[str, str] = {}
    whole_batch: list[dict[str, Any]] = []
    rank = {"failed": 3, "stale": 2, "retry": 1}
    for error in payload.get("userErrors") or []:
        index = item_index(error, len(skus))
        if index is None:
            whole_batch.append(error)
            continue
        sku, code = skus[index], error.get("code")
        kind = (
            "stale" if code in STALE_USER_ERRORS else "retry" if code in TRANSIENT_USER_ERRORS else "failed"
        )
        if rank[kind] > rank.get(verdict.get(sku, ""), 0):
            verdict[sku] = kind
            if kind == "failed":
                result.failed[sku] = f"{code}: {error.get('message')}"
    if whole_batch:
        codes = {e.get("code") for e in whole_batch}
        kind = (
            "stale"
            if codes <= STALE_USER_ERRORS
            else "retry"
            if codes <= TRANSIENT_USER_ERRORS | STALE_USER_ERRORS
            else "failed"
        )
        message = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in whole_batch)
        for sku in skus:
            if sku not in verdict:
                verdict[sku] = kind
                if kind == "failed":
                    result.failed[sku] = message
    result.stale.extend(s for s in skus if verdict.get(s) == "stale")
    result.retry.extend(s for s in skus if verdict.get(s) == "retry")
    rest = [s for s in skus if s not in verdict]
    # No userErrors: accepted (a no-op set may come back without a group). With userErrors, a null
    # group means the call applied nothing: the untouched SKUs go again at once (their own update
    # was fine; counting it as a failed attempt would back them off behind another SKU's refusal).
    if applied(payload):
        result.ok.extend(rest)
    else:
        result.requeue.extend(rest)
    return result
