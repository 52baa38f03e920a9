"""The simulator's rules for ``bulkUpdatePriceQuantity`` requests, each with its source.

- More SKUs in one call than ``per_call`` (default 1: the conservative reading of the conflicting
  docs, MARKETPLACES.md) or more than 25 offers for a SKU: the whole call is refused, 400.
- Per item (answered in ``responses[]``, the call 207 when any fails, 200 when none does: the
  method's documented statuses): an unknown SKU; an offer not belonging to the SKU; a quantity that
  is not a non-negative integer; a listing past 250 revisions in the day (KB 1201, MARKETPLACES.md).
The ``errorId`` values are the simulator's own (eBay's exact ids for these cases are unverified),
kept outside 25001, eBay's retryable system error.
"""

from __future__ import annotations

from typing import Any

from adapters.sim.core import Listing

MAX_OFFERS = 25
TOO_MANY = 25799
UNKNOWN_SKU = 25702
BAD_OFFER = 25713
BAD_QUANTITY = 25604
REVISIONS = 21919
REVISION_LIMIT = 250


def call_refusal(body: Any, per_call: int) -> str:
    """Why the whole call is refused (400), or ""."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return "requests must be a non-empty array"
    if len(requests) > per_call:
        return f"at most {per_call} SKU(s) per call, got {len(requests)}"
    for item in requests:
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
            return "each request needs a sku"
        if len(item.get("offers") or []) > MAX_OFFERS:
            return f"at most {MAX_OFFERS} offers per SKU"
    return ""


def _quantity(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def item_outcome(listing: Listing | None, item: dict[str, Any]) -> tuple[int | None, list[dict[str, Any]]]:
    """The quantity the listing will show (the lower of the two fields sent) and the item's errors."""
    if listing is None:
        return None, [{"errorId": UNKNOWN_SKU, "message": f"SKU {item['sku']} not found"}]
    values: list[int | None] = []
    ship = item.get("shipToLocationAvailability")
    if ship is not None:
        values.append(_quantity(ship.get("quantity") if isinstance(ship, dict) else None))
    for offer in item.get("offers") or []:
        if not isinstance(offer, dict) or offer.get("offerId") not in listing.ids.get("offers", []):
            return None, [{"errorId": BAD_OFFER, "message": "offer does not belong to this SKU"}]
        values.append(_quantity(offer.get("availableQuantity")))
    if not values or any(v is None for v in values):
        return None, [{"errorId": BAD_QUANTITY, "message": "quantity must be a non-negative integer"}]
    return min(v for v in values if v is not None), []
