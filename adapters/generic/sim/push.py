"""The simulator's reading of a push request: the configured templates matched back (``template.match``)."""

from __future__ import annotations

from typing import Any

from adapters.generic.keys import PushSpec
from adapters.generic.template import match

Item = tuple[str | None, str | None, int]
"""(SKU or None, listing id or None, quantity)."""


class PushRefused(ValueError):
    """The request is not what the configured templates make (400)."""


def parse_push(spec: PushSpec, body: Any, path_values: dict[str, str], limit: int) -> list[Item]:
    try:
        found = match(spec.body, body)
        if "items" not in found:
            return [_item(found | path_values)]
        raw = found["items"]
        if not 1 <= len(raw) <= limit:
            raise PushRefused(f"a request carries 1..{limit} items, not {len(raw)}")
        return [_item(match(spec.item, item, f"items[{i}]") | path_values) for i, item in enumerate(raw)]
    except PushRefused:
        raise
    except ValueError as exc:
        raise PushRefused(str(exc)) from None


def _item(values: dict[str, Any]) -> Item:
    quantity = values.get("quantity")
    if isinstance(quantity, str):
        if not quantity.lstrip("-").isdigit():
            raise PushRefused(f"quantity {quantity!r} is not an integer")
        quantity = int(quantity)
    if not isinstance(quantity, int):
        raise PushRefused("no quantity")
    sku, listing = values.get("sku"), values.get("id")
    if not sku and not listing:
        raise PushRefused("no sku or id")
    return (str(sku) if sku else None, str(listing) if listing else None, quantity)
