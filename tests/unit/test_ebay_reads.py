"""eBay reads: the getOrders filter as reconciliation sends it (and as the simulator parses it), and
Fulfillment orders as versioned documents (SKU lines summed, cancels, orders without SKU lines)."""

from __future__ import annotations

from adapters.ebay.orders import channel_order, listing_skus
from adapters.ebay.reconcile import modified_filter
from adapters.ebay.sim.orders import modified_range


def test_the_order_filter_is_an_open_lastmodifieddate_range_in_utc_ms() -> None:
    assert modified_filter(1_790_000_000.5) == "lastmodifieddate:[2026-09-21T14:13:20.500Z..]"
    assert modified_range(modified_filter(1_790_000_000.5)) == (1_790_000_000.5, None)
    assert modified_range("creationdate:[2026-01-01T00:00:00.000Z..]") is None


ORDER = {
    "orderId": "12-34567-89012",
    "creationDate": "2026-09-21T14:13:20.000Z",
    "lastModifiedDate": "2026-09-21T14:20:00.250Z",
    "cancelStatus": {"cancelState": "NONE_REQUESTED"},
    "lineItems": [
        {"lineItemId": "1", "legacyItemId": "110", "sku": "S-1", "quantity": 2},
        {"lineItemId": "2", "legacyItemId": "111", "sku": "S-1", "quantity": 1},
        {"lineItemId": "3", "legacyItemId": "112", "quantity": 4},
    ],
}


def test_an_order_is_a_versioned_document_of_its_sku_lines() -> None:
    order = channel_order(ORDER)
    assert order is not None and order.lines == (("S-1", 3),) and not order.cancelled
    assert order.version == 1_790_000_400_250 and order.at == 1_790_000_000.0
    cancelled = channel_order(ORDER | {"cancelStatus": {"cancelState": "CANCELED"}})
    assert cancelled is not None and cancelled.cancelled and cancelled.restock
    assert channel_order(ORDER | {"cancelStatus": {"cancelState": "IN_PROGRESS"}}).cancelled is False  # type: ignore[union-attr]
    assert channel_order(ORDER | {"lineItems": [{"legacyItemId": "9", "quantity": 1}]}) is None


def test_get_order_teaches_listing_and_line_item_skus() -> None:
    assert listing_skus(ORDER) == {
        "legacyItemId:110": "S-1",
        "lineItemId:1": "S-1",
        "legacyItemId:111": "S-1",
        "lineItemId:2": "S-1",
    }
