"""The simulator's bulk inventory feeds: validated on submission, processed after a delay.

Rules (developer.walmart.com "Update inventory in bulk", Feed Status API; MARKETPLACES.md, Walmart):
a submission needs ``feedType=inventory`` (spec 1.4 JSON, one ship node) or ``MP_INVENTORY`` (spec
1.5, ``shipNodes``) and a multipart ``file`` of at most 5 MB (413 beyond); a file that is not the
spec's JSON is refused 400. An item naming an unknown SKU, an unknown ship node or a quantity that
is not a non-negative whole ``EACH`` amount is a ``DATA_ERROR`` item (the rest of the feed applies);
the feed is ``INPROGRESS`` until ``delay_s`` has passed, then ``PROCESSED`` and applied once.
Simulator choices: ``max_items`` (the real cap is the 5 MB file) and the processing delay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson

MAX_BYTES = 5 * 1024 * 1024


@dataclass
class Feed:
    feed_id: str
    items: list[dict[str, Any]]
    node_spec: bool
    submitted: float
    status: str = "INPROGRESS"
    results: list[dict[str, Any]] = field(default_factory=list)


def multipart_file(content_type: str, body: bytes, name: str = "file") -> bytes | None:
    """The ``name`` part of a multipart/form-data body (parsed as MIME: the server has no form parser)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts() if message.is_multipart() else []:
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def parse_file(raw: bytes, node_spec: bool) -> list[dict[str, Any]] | str:
    """The feed's items, or why the file is refused."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "the feed file is not JSON"
    header = doc.get("InventoryHeader") if isinstance(doc, dict) else None
    version = "1.5" if node_spec else "1.4"
    if not isinstance(header, dict) or header.get("version") != version:
        return f"InventoryHeader.version must be {version}"
    items = doc.get("Inventory")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return "Inventory must be a non-empty list of objects"
    return items


def amount_of(quantity: Any) -> int | None:
    if not isinstance(quantity, dict) or quantity.get("unit") != "EACH":
        return None
    amount = quantity.get("amount")
    return amount if type(amount) is int and amount >= 0 else None


def new_id() -> str:
    return str(uuid.uuid4())


def item_result(sku: Any, index: int, error: str) -> dict[str, Any]:
    state = "DATA_ERROR" if error else "SUCCESS"
    errors = [{"type": "DATA_ERROR", "code": "ERR_INVENTORY", "description": error}] if error else None
    return {
        "sku": sku,
        "index": index,
        "ingestionStatus": state,
        "ingestionErrors": {"ingestionError": errors},
    }


def status_body(feed: Feed, details: bool, offset: int, limit: int) -> dict[str, Any]:
    done = feed.status == "PROCESSED"
    failed = sum(1 for r in feed.results if r["ingestionStatus"] != "SUCCESS")
    body: dict[str, Any] = {
        "feedId": feed.feed_id,
        "feedStatus": feed.status,
        "itemsReceived": len(feed.items),
        "itemsSucceeded": len(feed.results) - failed if done else 0,
        "itemsFailed": failed if done else 0,
        "itemsProcessing": 0 if done else len(feed.items),
        "offset": offset,
        "limit": limit,
    }
    if details:
        body["itemDetails"] = {"itemIngestionStatus": feed.results[offset : offset + limit] if done else []}
    return body
