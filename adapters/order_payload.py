"""What REST-style order webhooks share: decoding, order ids, SKU lines, quantities, event building.

Shopify and WooCommerce both post an order object with ``id`` and ``line_items[{sku, quantity}]``;
these helpers turn such an object into validated canonical events with short reasons on failure.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from adapters.base import AdapterError
from engine.events import WireEvent

Item = tuple[int, str, dict[str, Any]]
"""(index in line_items, sku, the line item)."""


def decode_object(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise AdapterError("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise AdapterError("body must be a JSON object")
    return payload


# -- validate ---------------------------------------------------------------------------------


def order_id_of(order: dict[str, Any]) -> str:
    value = order.get("id")
    # bool is an int to Python but never an order id
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise AdapterError("id must be an integer or a non-empty string")
    return str(value)


def sku_items(order: dict[str, Any]) -> tuple[list[Item], list[int]]:
    """Line items that carry a SKU, and the indices of those that do not."""
    raw = order.get("line_items")
    if not isinstance(raw, list):
        raise AdapterError("line_items must be a list")
    items: list[Item] = []
    skipped: list[int] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise AdapterError(f"line_items[{i}] must be an object")
        sku = item.get("sku")
        if sku is not None and not isinstance(sku, str):
            raise AdapterError(f"line_items[{i}].sku must be a string")
        if sku is None or not sku.strip():  # channels send null or "" for a variant without a SKU
            skipped.append(i)
        else:
            items.append((i, sku, item))
    return items, skipped


def line_quantity(item: dict[str, Any], index: int) -> int:
    value = item.get("quantity")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AdapterError(f"line_items[{index}].quantity must be a positive integer")
    return value


def build_event(model: type[BaseModel], **fields: Any) -> WireEvent:
    """Validate through the canonical model and return its wire form; reasons stay short."""
    try:
        event: WireEvent = model(**fields).model_dump(mode="json")
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise AdapterError(f"{where}: {error['msg']}" if where else error["msg"]) from None
    return event


def skipped_note(skipped: list[int]) -> str:
    if not skipped:
        return ""
    named = ", ".join(f"line_items[{i}]" for i in skipped[:10])
    more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    return f"skipped lines without sku: {named}{more}"
