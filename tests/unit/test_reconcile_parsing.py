"""How each kind's listed orders become ``ChannelOrder``s: statuses, cancels, times, odd lines."""

from __future__ import annotations

from adapters.reading import epoch, order_lines
from adapters.shopify.order_doc import graphql_order
from adapters.shopify.orders_read import channel_order as shopify_order
from adapters.woocommerce.reconcile import channel_order as woo_order


def test_order_lines_keep_only_sku_lines_with_positive_integer_quantities() -> None:
    items = [
        {"sku": "A", "quantity": 2},
        {"sku": "", "quantity": 1},
        {"sku": None, "quantity": 1},
        {"sku": "B", "quantity": True},
        {"sku": "C", "quantity": 0},
        {"sku": "D", "quantity": "3"},
        "junk",
        {"sku": "A", "quantity": 1},
    ]
    assert order_lines(items) == (("A", 2), ("A", 1))
    assert order_lines(None) == ()


def test_epoch_reads_offsets_and_treats_bare_times_as_utc() -> None:
    assert epoch("1970-01-01T00:01:00Z") == 60.0
    assert epoch("1970-01-01T01:01:00+01:00") == 60.0
    assert epoch("1970-01-01T00:01:00") == 60.0
    assert epoch("yesterday") is None and epoch(None) is None


LINE = {"id": "gid://shopify/LineItem/1"}


def test_shopify_order_cancelled_and_times() -> None:
    node = {
        "id": "gid://shopify/Order/7",
        "legacyResourceId": "7",
        "createdAt": "1970-01-01T00:00:10Z",
        "updatedAt": "1970-01-01T00:00:20Z",
        "cancelledAt": "1970-01-01T00:00:20Z",
        "lineItems": {"nodes": [{**LINE, "sku": "A", "quantity": 1, "currentQuantity": 0}]},
        "refunds": [
            {"refundLineItems": {"nodes": [{"quantity": 1, "restockType": "CANCEL", "lineItem": LINE}]}}
        ],
    }
    order = shopify_order(graphql_order(node), True)  # type: ignore[arg-type]
    assert (order.order_id, order.at, order.modified, order.cancelled) == ("7", 10.0, 20.0, True)
    assert (order.lines, order.kept, order.version, order.restock) == ((("A", 0),), (0,), 20_000, True)
    assert graphql_order({"lineItems": {"nodes": []}}) is None  # no id, no updatedAt: not an order


def test_woocommerce_statuses() -> None:
    base = {
        "id": 5,
        "date_created_gmt": "1970-01-01T00:00:10",
        "date_modified_gmt": "1970-01-01T00:00:30",
        "line_items": [{"sku": "A", "quantity": 2}],
    }
    placed = woo_order({**base, "status": "processing"})
    assert placed is not None and not placed.cancelled and placed.modified == 30.0 and placed.at == 10.0
    assert (placed.lines, placed.version) == ((("A", 2),), 30_000)
    pending = woo_order({**base, "status": "pending"})
    assert pending is not None and pending.lines == (("A", 0),) and not pending.cancelled
    cancelled = woo_order({**base, "status": "cancelled"})
    assert cancelled is not None and cancelled.cancelled and cancelled.lines == (("A", 0),)
    assert woo_order({**base, "status": "refunded"}) is None  # no _reduced_stock shown: nothing to say
    meta = [{"key": "_reduced_stock", "value": "2"}]
    refunded = woo_order(
        {**base, "status": "refunded", "line_items": [{"sku": "A", "quantity": 2, "meta_data": meta}]}
    )
    assert refunded is not None and refunded.lines == (("A", 2),) and not refunded.cancelled
    assert woo_order({**base, "status": "checkout-draft"}) is None
    assert woo_order({**base, "status": "processing", "date_modified_gmt": None}) is None
