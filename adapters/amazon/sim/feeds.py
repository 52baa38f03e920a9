"""The simulated Feeds API 2021-06-30, for ``JSON_LISTINGS_FEED`` quantity patches only.

Presigned document urls are served by the simulator itself, under ``/s3/`` (no LWA token).

Rules, each with its source:
- every operation needs the LWA token and keeps its usage plan (``AmazonSimulator._guarded``;
  createFeedDocument 0.5/s burst 15, createFeed 0.0083/s burst 15, getFeed 2/s burst 15,
  getFeedDocument 0.0222/s burst 10: models/feeds-api-model/feeds_2021-06-30.json);
- ``JSON_LISTINGS_FEED`` submissions: 5 per 5 minutes (429 ``QuotaExceeded`` past it) and at most
  25,000 messages (SP-API changelog "Feed size and rate limit changes for the JSON_LISTINGS_FEED",
  2025-05; listings-feed-schema-v2.json ``maxItems``);
- ``createFeedDocument`` requires ``contentType`` (``CreateFeedDocumentSpecification``); the upload
  url expires after 5 minutes (``CreateFeedDocumentResponse.url``) and, being presigned, refuses a
  PUT whose ``Content-Type`` is not the one declared (403, as S3 refuses a presigned PUT whose
  signed headers differ; the Feeds API use case guide uploads with the declared content type);
- ``createFeed`` requires ``feedType``, ``marketplaceIds`` and ``inputFeedDocumentId``
  (``CreateFeedSpecification``); the document must have been uploaded;
- the document: header ``version`` "2.0" and ``sellerId``, 1..25,000 messages with unique integer
  ``messageId``s, else the feed ends FATAL with an issue naming no message; a PATCH message needs
  ``productType`` and ``patches`` (the schema's ``oneOf``); ``op`` one of add/replace/merge/delete
  (``PatchOperation``). Simulator choices (unverified): only ``merge`` of one DEFAULT
  ``fulfillment_availability`` entry with a non-negative integer ``quantity`` is applied, and a
  message naming an unknown SKU, another productType or anything else gets an ERROR issue with its
  ``messageId`` (the report schema's ``issues``), like the patch endpoint's ``INVALID``;
- the feed stays IN_QUEUE for ``polls_before_done`` ``getFeed`` calls, then is processed at once:
  accepted messages set the listings, and the report (JSON, or GZIP when ``gzip_reports``) is
  ``{header, issues, summary}`` per listings-feed-processing-report-schema-v2.json.
"""

from __future__ import annotations

import gzip
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.amazon.sim.listings import patch_issue
from adapters.amazon.sim.relay_sender import iso_ms
from adapters.sim.core import TokenBucket

if TYPE_CHECKING:
    from adapters.amazon.sim.app import AmazonSimulator

API = "/feeds/2021-06-30"
MAX_MESSAGES = 25_000
URL_TTL_S = 300.0


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"errors": [{"code": code, "message": message}]}, status)


@dataclass
class SimFeed:
    feed_id: str
    document_id: str
    created: float
    polls_left: int
    status: str = "IN_QUEUE"
    result_id: str | None = None


class FeedService:
    """Feeds for one simulated seller (``AmazonSimulator.feeds``)."""

    def __init__(self, sim: AmazonSimulator, polls_before_done: int = 1, gzip_reports: bool = False) -> None:
        self.sim, self.polls_before_done, self.gzip_reports = sim, polls_before_done, gzip_reports
        self.documents: dict[str, dict[str, Any]] = {}  # id -> {content_type, created, content}
        self.feeds: dict[str, SimFeed] = {}
        self.quota = TokenBucket(5.0, 5.0 / 300.0)
        self.max_messages = MAX_MESSAGES  # the conformance driver lowers it so its suite can exceed it
        self.processed: list[dict[str, Any]] = []  # every report, for tests

    def routes(self) -> list[Route]:
        guarded = self.sim._guarded
        return [
            Route(f"{API}/documents", guarded(self._create_document, "createFeedDocument"), methods=["POST"]),
            Route(
                f"{API}/documents/{{doc}}", guarded(self._get_document, "getFeedDocument"), methods=["GET"]
            ),
            Route(f"{API}/feeds", guarded(self._create_feed, "createFeed"), methods=["POST"]),
            Route(f"{API}/feeds/{{feed}}", guarded(self._get_feed, "getFeed"), methods=["GET"]),
            Route(f"{API}/feeds/{{feed}}", guarded(self._cancel_feed, "cancelFeed"), methods=["DELETE"]),
            Route("/s3/feed-uploads/{doc}", self._upload, methods=["PUT"]),
            Route("/s3/feed-downloads/{doc}", self._download, methods=["GET"]),
        ]

    async def _create_document(self, request: Request) -> Response:
        try:
            spec = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            spec = None
        if not isinstance(spec, dict) or not isinstance(spec.get("contentType"), str):
            return _error(400, "InvalidInput", "Missing required property: contentType")
        doc = secrets.token_hex(10)
        self.documents[doc] = {"content_type": spec["contentType"], "created": self.sim.store.clock()}
        url = f"{str(request.base_url).rstrip('/')}/s3/feed-uploads/{doc}"
        return _json({"feedDocumentId": doc, "url": url}, 201)

    async def _upload(self, request: Request) -> Response:
        doc = self.documents.get(request.path_params["doc"])
        if doc is None or self.sim.store.clock() - doc["created"] > URL_TTL_S:
            return Response(b"<Error><Code>AccessDenied</Code></Error>", 403, media_type="application/xml")
        if request.headers.get("content-type") != doc["content_type"]:
            body = b"<Error><Code>SignatureDoesNotMatch</Code></Error>"
            return Response(body, 403, media_type="application/xml")
        doc["content"] = await request.body()
        return Response(b"", 200)

    async def _create_feed(self, request: Request) -> Response:
        try:
            spec = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            spec = None
        if not isinstance(spec, dict) or not all(
            k in spec for k in ("feedType", "marketplaceIds", "inputFeedDocumentId")
        ):
            return _error(
                400, "InvalidInput", "feedType, marketplaceIds and inputFeedDocumentId are required"
            )
        if spec["feedType"] != "JSON_LISTINGS_FEED" or self.sim.marketplace_id not in spec["marketplaceIds"]:
            return _error(400, "InvalidInput", "the simulator takes JSON_LISTINGS_FEED for its marketplace")
        doc = self.documents.get(str(spec["inputFeedDocumentId"]))
        if doc is None or doc.get("content") is None:
            return _error(400, "InvalidInput", "inputFeedDocumentId names no uploaded document")
        if not self.quota.take(1):
            self.sim.store.count("throttled")
            return _error(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
        feed = SimFeed(
            secrets.token_hex(8),
            str(spec["inputFeedDocumentId"]),
            self.sim.store.clock(),
            self.polls_before_done,
        )
        self.feeds[feed.feed_id] = feed
        return _json({"feedId": feed.feed_id}, 202)

    async def _get_feed(self, request: Request) -> Response:
        feed = self.feeds.get(request.path_params["feed"])
        if feed is None:
            return _error(404, "NotFound", "The resource specified does not exist.")
        if feed.status == "IN_QUEUE":
            if feed.polls_left > 0:
                feed.polls_left -= 1
            else:
                self._process(feed)
        answer: dict[str, Any] = {
            "feedId": feed.feed_id,
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [self.sim.marketplace_id],
            "createdTime": iso_ms(feed.created),
            "processingStatus": feed.status,
        }
        if feed.result_id:
            answer["resultFeedDocumentId"] = feed.result_id
        return _json(answer)

    async def _cancel_feed(self, request: Request) -> Response:
        feed = self.feeds.get(request.path_params["feed"])
        if feed is None:
            return _error(404, "NotFound", "The resource specified does not exist.")
        if feed.status != "IN_QUEUE":
            return _error(400, "InvalidInput", "Only an IN_QUEUE feed can be cancelled.")
        feed.status = "CANCELLED"
        return Response(b"", 200)

    async def _get_document(self, request: Request) -> Response:
        doc_id = request.path_params["doc"]
        doc = self.documents.get(doc_id)
        if doc is None or "report" not in doc:
            return _error(404, "NotFound", "The resource specified does not exist.")
        answer = {
            "feedDocumentId": doc_id,
            "url": f"{str(request.base_url).rstrip('/')}/s3/feed-downloads/{doc_id}",
        }
        if self.gzip_reports:
            answer["compressionAlgorithm"] = "GZIP"
        return _json(answer)

    async def _download(self, request: Request) -> Response:
        doc = self.documents.get(request.path_params["doc"])
        if doc is None or "report" not in doc:
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        return Response(doc["report"], 200, media_type="application/json")

    def _process(self, feed: SimFeed) -> None:
        content = self.documents[feed.document_id].get("content") or b""
        report = process(self.sim, content, feed.feed_id)
        self.processed.append(report)
        feed.status = "FATAL" if report.pop("fatal", False) else "DONE"
        raw = orjson.dumps(report)
        feed.result_id = secrets.token_hex(10)
        self.documents[feed.result_id] = {"report": gzip.compress(raw) if self.gzip_reports else raw}


def process(sim: AmazonSimulator, content: bytes, feed_id: str) -> dict[str, Any]:
    """Apply a listings feed document to ``sim``'s listings; its processing report (plus ``fatal``)."""
    header = {"sellerId": sim.seller_id, "version": "2.0", "feedId": feed_id}
    fatal = document_fault(sim, content, sim.feeds.max_messages)
    if fatal:
        issue = {"code": "90000001", "severity": "ERROR", "message": fatal}
        summary = {
            "errors": 1,
            "warnings": 0,
            "messagesProcessed": 0,
            "messagesAccepted": 0,
            "messagesInvalid": 0,
        }
        return {"header": header, "issues": [issue], "summary": summary, "fatal": True}
    messages = orjson.loads(content)["messages"]
    issues, accepted = [], []
    with sim.store.lock:
        for msg in messages:
            why = message_issue(sim, msg)
            if why:
                issues.append(
                    {
                        "messageId": msg["messageId"],
                        "sku": str(msg.get("sku")),
                        "code": "90000900",
                        "severity": "ERROR",
                        "message": why,
                    }
                )
            else:
                accepted.append((msg["sku"], msg["patches"][0]["value"][0]["quantity"]))
    sim.store.set_quantities(accepted)
    summary = {
        "errors": len(issues),
        "warnings": 0,
        "messagesProcessed": len(messages),
        "messagesAccepted": len(accepted),
        "messagesInvalid": len(messages) - len(accepted),
    }
    return {"header": header, "issues": issues, "summary": summary}


def document_fault(sim: AmazonSimulator, content: bytes, most: int = MAX_MESSAGES) -> str:
    """Why the whole document is refused (the feed ends FATAL), or ""."""
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError:
        return "The feed document is not valid JSON"
    header = doc.get("header") if isinstance(doc, dict) else None
    if (
        not isinstance(header, dict)
        or header.get("version") != "2.0"
        or header.get("sellerId") != sim.seller_id
    ):
        return "header needs version 2.0 and this seller's sellerId"
    messages = doc.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= most:
        return f"messages must hold 1..{most} messages"
    ids = [m.get("messageId") if isinstance(m, dict) else None for m in messages]
    if not all(type(i) is int and i >= 1 for i in ids) or len(set(ids)) != len(ids):
        return "every message needs a unique integer messageId from 1"
    return ""


def message_issue(sim: AmazonSimulator, msg: dict[str, Any]) -> str:
    """Why one message is not applied (an ERROR issue), or ""."""
    sku = msg.get("sku")
    if not isinstance(sku, str) or not sku:
        return "sku is required"
    if msg.get("operationType") != "PATCH":
        return "the simulator applies PATCH messages only"
    product, patches = msg.get("productType"), msg.get("patches")
    if not isinstance(product, str) or not product:
        return "productType is required for PATCH"
    if not isinstance(patches, list) or len(patches) != 1 or not isinstance(patches[0], dict):
        return "the simulator models one patch per message"
    if patches[0].get("op") != "merge":
        return "the simulator models op merge of fulfillment_availability"
    return patch_issue(sim.store.listings.get(sku), sku, {"productType": product, "patches": patches})
