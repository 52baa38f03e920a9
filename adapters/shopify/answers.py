"""Reading Shopify's GraphQL answers: throttle status, top-level errors and per-item userErrors."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from adapters.base import PushResult

TRANSIENT_USER_ERRORS = frozenset(
    {"IDEMPOTENCY_CONCURRENT_REQUEST", "COMPARE_QUANTITY_STALE", "CHANGE_FROM_QUANTITY_STALE"}
)
"""userError codes that a later call with the newest quantity can clear."""
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


def classify_payload(result: PushResult, payload: dict[str, Any], skus: list[str]) -> PushResult:
    """Per-item userErrors fail their SKUs (retry when transient); the rest depend on whether it applied."""
    whole_batch: list[dict[str, Any]] = []
    for error in payload.get("userErrors") or []:
        field_path = error.get("field") or []
        index = field_path[2] if len(field_path) > 2 and field_path[1] == "quantities" else None
        if index is None or not str(index).isdigit() or int(index) >= len(skus):
            whole_batch.append(error)
            continue
        sku = skus[int(index)]
        if error.get("code") in TRANSIENT_USER_ERRORS:
            result.retry.append(sku)
        else:
            result.failed[sku] = f"{error.get('code')}: {error.get('message')}"
    if whole_batch:
        transient = all(e.get("code") in TRANSIENT_USER_ERRORS for e in whole_batch)
        message = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in whole_batch)
        rest = [s for s in skus if s not in result.failed and s not in result.retry]
        if transient:
            result.retry.extend(rest)
        else:
            result.failed.update(dict.fromkeys(rest, message))
    rest = [s for s in skus if s not in result.failed and s not in result.retry]
    # No userErrors: accepted (a no-op set may come back without a group). With userErrors, a null
    # group means the call applied nothing, so the untouched SKUs must go again.
    if payload.get("inventoryAdjustmentGroup") is not None or not payload.get("userErrors"):
        result.ok.extend(rest)
    else:
        result.retry.extend(rest)
    return result
