"""``JSON_LISTINGS_FEED``: one asynchronous Feeds API submission for a large backlog of quantities.

Feeds API 2021-06-30 (models/feeds-api-model/feeds_2021-06-30.json): ``createFeedDocument``
(``POST /feeds/2021-06-30/documents {"contentType"}`` -> 201 ``{feedDocumentId, url}``, the url
presigned for 5 minutes), the document PUT to that url with the declared content type,
``createFeed`` (``POST /feeds/2021-06-30/feeds {feedType, marketplaceIds, inputFeedDocumentId}`` ->
202 ``{feedId}``), ``getFeed`` (``GET .../feeds/{feedId}`` -> ``Feed {processingStatus: IN_QUEUE,
IN_PROGRESS, DONE, FATAL, CANCELLED, resultFeedDocumentId}``), ``getFeedDocument`` (``GET
.../documents/{id}`` -> ``{url, compressionAlgorithm?: GZIP}``) and the processing report at that url.

The document (schemas/feeds/listings-feed-schema-v2.json): ``{"header": {"sellerId", "version":
"2.0", "issueLocale"}, "messages": [{"messageId": 1.., "sku", "operationType": "PATCH",
"productType", "patches": [...]}]}``, at most 25,000 messages, each patch the one
``patchListingsItem`` sends (``outbound.patch_body``). The report
(listings-feed-processing-report-schema-v2.json): ``{"header", "issues": [{messageId?, sku, code,
severity: ERROR|WARNING|INFO, message}], "summary": {messagesProcessed, messagesAccepted,
messagesInvalid, ...}}``.

Budget: 5 ``JSON_LISTINGS_FEED`` submissions per 5 minutes per region (SP-API changelog "Feed size
and rate limit changes for the JSON_LISTINGS_FEED", 2025-05: 25,000 items a feed, up from 10,000;
the feed type's limit, not ``createFeed``'s 0.0083/s), kept by ``FeedBudget`` (clock injectable).

``classify`` maps the report back to SKUs by ``messageId`` (message n is the n-th update): a message
with an ERROR issue fails its SKU with that issue (Amazon refused the data: sending it again would
be refused again); every other message of a DONE feed is written. A FATAL feed ("some, none, or all
of the operations may have completed") sends again every SKU its report does not refuse (absolute
quantities: a repeat is harmless); a CANCELLED feed, one whose status polling gave up, a step
refused with 429 or 5xx, and a refused upload, status or report read send every SKU again; a 4xx
from ``createFeedDocument`` or ``createFeed`` fails them with its error.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from adapters import feed_budget
from adapters.base import ListingUpdate, PushResult

API = "/feeds/2021-06-30"
FEED_TYPE = "JSON_LISTINGS_FEED"
CONTENT_TYPE = "application/json; charset=UTF-8"
MAX_ITEMS = 25_000
FEEDS_PER_WINDOW, WINDOW_S = 5.0, 300.0
DONE = frozenset({"DONE", "FATAL", "CANCELLED"})
STAGE = "skusync_amazon_feed"
"""Request extension naming the step a request is (``document``, ``upload``, ``create``,
``status``, ``result``, ``report``): how ``parse`` tells the flow's answers apart."""
RETRIED_STAGES = frozenset({"upload", "status", "result", "report"})
"""Steps whose refusal says nothing against the data: the feed's SKUs go again (``classify``);
a 4xx from ``createFeedDocument`` or ``createFeed`` fails them with its error instead."""
BODY = "skusync_amazon_feed_body"
"""Request extension of the ``createFeedDocument`` request: the document ``follow`` uploads."""


class FeedBudget(feed_budget.FeedBudget):
    """``JSON_LISTINGS_FEED`` submissions left: 5 full, refilled evenly over 5 minutes."""

    def __init__(
        self, per_window: float = FEEDS_PER_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(per_window, WINDOW_S, clock)


def document(seller: str, messages: list[tuple[str, str, dict[str, Any]]]) -> bytes:
    """The feed document: ``messages`` are ``(sku, productType, patch)``, numbered from 1."""
    rows = [
        {"messageId": n, "sku": sku, "operationType": "PATCH", "productType": product, "patches": [patch]}
        for n, (sku, product, patch) in enumerate(messages, start=1)
    ]
    header = {"sellerId": seller, "version": "2.0", "issueLocale": "en_US"}
    return orjson.dumps({"header": header, "messages": rows})


def staged(request: httpx.Request, stage: str) -> httpx.Request:
    request.extensions[STAGE] = stage
    return request


def stage_of(request: httpx.Request) -> str | None:
    stage = request.extensions.get(STAGE)
    return stage if isinstance(stage, str) else None


def document_request(base_url: str, headers: dict[str, str], body: bytes) -> httpx.Request:
    """``createFeedDocument``, carrying the document for ``follow`` to upload."""
    request = httpx.Request(
        "POST",
        f"{base_url.rstrip('/')}{API}/documents",
        content=orjson.dumps({"contentType": CONTENT_TYPE}),
        headers=headers | {"Content-Type": "application/json"},
    )
    request.extensions[BODY] = body
    return staged(request, "document")


def report_of(content: bytes, compression: str | None) -> dict[str, Any] | None:
    try:
        raw = gzip.decompress(content) if compression == "GZIP" else content
        report = orjson.loads(raw)
    except (OSError, EOFError, orjson.JSONDecodeError):
        return None
    return report if isinstance(report, dict) else None


def classify(response: httpx.Response, updates: list[ListingUpdate], poll_s: float) -> PushResult:
    """The SKUs of a feed by the answer its flow ended with (see the module docstring)."""
    skus = [u.sku for u in updates]
    stage = stage_of(response.request)
    if stage != "report":
        # Refused or unfinished before a report: nothing says what was written.
        return PushResult(retry=skus, retry_after_s=poll_s)
    status = response.request.extensions.get("processing_status")
    report = report_of(response.content, response.request.extensions.get("compression"))
    if report is None:
        return PushResult(retry=skus, retry_after_s=poll_s)
    refused = errors_by_message(report, skus)
    result = PushResult()
    for n, sku in enumerate(skus, start=1):
        if n in refused:
            result.failed[sku] = refused[n]
        elif status == "DONE":
            result.ok.append(sku)
        else:
            result.retry.append(sku)
    if result.retry:
        result.retry_after_s = poll_s
    return result


def errors_by_message(report: dict[str, Any], skus: list[str]) -> dict[int, str]:
    """messageId -> the first ERROR issue of that message; an issue naming a SKU of the feed but
    no messageId counts for that SKU's message."""
    number = {sku: n for n, sku in enumerate(skus, start=1)}
    out: dict[int, str] = {}
    for issue in report.get("issues") or []:
        if not isinstance(issue, dict) or issue.get("severity") != "ERROR":
            continue
        mid = issue.get("messageId")
        n = mid if type(mid) is int else number.get(str(issue.get("sku")))
        if n is not None and 1 <= n <= len(skus) and n not in out:
            out[n] = f"feed issue {issue.get('code')}: {issue.get('message')}"[:200]
    return out
