"""The simulated seller's eBay orders in the Fulfillment API's ``Order`` shape (getOrder, getOrders)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from adapters.ebay.sim.notify import iso_ms
from adapters.reading import epoch


@dataclass
class EbayOrder:
    order_id: str
    lines: list[tuple[str, str, int]]  # (sku, listing id, quantity)
    created: float
    updated: float
    cancelled: bool = False

    def line_id(self, n: int) -> str:
        return f"{self.order_id.replace('-', '')}{n:03d}"

    def document(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "creationDate": iso_ms(self.created),
            "lastModifiedDate": iso_ms(self.updated),
            "orderFulfillmentStatus": "NOT_STARTED",
            "orderPaymentStatus": "PAID",
            "cancelStatus": {"cancelState": "CANCELED" if self.cancelled else "NONE_REQUESTED"},
            "lineItems": [
                {"lineItemId": self.line_id(n), "legacyItemId": listing, "sku": sku, "quantity": q}
                for n, (sku, listing, q) in enumerate(self.lines)
            ],
        }


def order_id_for(n: int) -> str:
    """eBay order ids look like ``12-34567-89012``."""
    return f"{n % 100:02d}-{n:05d}-{n * 7 % 100_000:05d}"


_FILTER = re.compile(r"^lastmodifieddate:\[([^\]]+?)\.\.([^\]]*)\]$")


def modified_range(text: str) -> tuple[float, float | None] | None:
    """``lastmodifieddate:[from..to]`` (``to`` optional) as unix seconds, or None if malformed.
    getOrders' filter takes ``creationdate`` or ``lastmodifieddate`` ranges; only the latter is
    modelled (what reconciliation sends)."""
    match = _FILTER.match(text.strip())
    if match is None:
        return None
    start, end = epoch(match.group(1)), epoch(match.group(2)) if match.group(2) else None
    if start is None or (match.group(2) and end is None):
        return None
    return start, end
