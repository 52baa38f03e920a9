"""Shopify inbound adapter: signature over the raw bytes, topic mapping, idempotency keys, validation.

The signature vectors are read from ``tests/data/signatures.json``, a verbatim copy of
``/work/shared/vectors/signatures.json`` (see MARKETPLACES.md, "Signature test vectors"): CI does not
have ``../shared``, so the tests read the copy.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, Inbound, SignatureError, adapter_for
from adapters.shopify.inbound import ShopifyInbound, signature
from adapters.shopify.order_doc import graphql_order
from adapters.shopify.orders_read import channel_order
from engine.config import ChannelConfig
from engine.events import validate_events
from engine.ledger import Ledger
from engine.reconcile import backfill_events
from engine.routing import ShardMap

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "signatures.json").read_text())
SECRET = "shpss_test_secret"
CHANNEL = ChannelConfig(id="shop-us", kind="shopify", webhook_secret=SECRET)
INBOUND = ShopifyInbound()


def order(**overrides: Any) -> dict[str, Any]:
    """A trimmed Shopify order payload (real field names, extra fields included)."""
    body: dict[str, Any] = {
        "id": 820982911946154508,
        "name": "#9999",
        "created_at": "2024-05-01T10:00:00-04:00",
        "updated_at": "2024-05-01T10:05:00-04:00",
        "cancelled_at": None,
        "line_items": [
            {"id": 1, "sku": "TEE-RED-M", "variant_id": 11, "quantity": 2, "title": "Tee"},
            {"id": 2, "sku": "MUG-01", "variant_id": 12, "quantity": 1, "title": "Mug"},
        ],
    }
    body.update(overrides)
    return body


def headers(topic: str, body: bytes, secret: str = SECRET, **extra: str) -> dict[str, str]:
    hdrs = {
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": signature(secret, body),
        "x-shopify-event-id": "evt-1",
        "x-shopify-webhook-id": "wh-1",
        "x-shopify-triggered-at": "2024-05-01T14:05:00.123456789Z",
        "x-shopify-shop-domain": "example.myshopify.com",
    }
    hdrs.update(extra)
    return hdrs


def receive(topic: str, payload: dict[str, Any], **extra: str) -> Inbound:
    body = orjson.dumps(payload)
    hdrs = headers(topic, body, **extra)
    INBOUND.verify(CHANNEL, hdrs, body)
    return INBOUND.normalise(CHANNEL, hdrs, body)


# -- verify -----------------------------------------------------------------------------------
def vector_case() -> tuple[ChannelConfig, dict[str, str], bytes]:
    vec = VECTORS["shopify_webhook"]
    channel = ChannelConfig(id="shop-us", kind="shopify", webhook_secret=vec["secret"])
    return channel, {"x-shopify-hmac-sha256": vec["expected"]}, vec["body"].encode()


def test_shared_vector_verifies() -> None:
    channel, hdrs, body = vector_case()
    assert signature(channel.webhook_secret.get_secret_value(), body) == hdrs["x-shopify-hmac-sha256"]
    INBOUND.verify(channel, hdrs, body)


@pytest.mark.parametrize(
    "reserialise",
    [
        lambda b: orjson.dumps(orjson.loads(b), option=orjson.OPT_INDENT_2),
        lambda b: json.dumps(json.loads(b)).encode(),  # ", " and ": " separators
        lambda b: orjson.dumps(orjson.loads(b), option=orjson.OPT_SORT_KEYS),
        lambda b: b + b"\n",
    ],
)
def test_reserialised_body_fails(reserialise: Any) -> None:
    channel, hdrs, body = vector_case()
    other = reserialise(body)
    assert other != body and orjson.loads(other) == orjson.loads(body)
    with pytest.raises(SignatureError, match="bad signature"):
        INBOUND.verify(channel, hdrs, other)


@pytest.mark.parametrize("hdrs", [{}, {"x-shopify-hmac-sha256": ""}, {"x-shopify-hmac-sha256": "  "}])
def test_missing_signature(hdrs: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="missing signature"):
        INBOUND.verify(CHANNEL, hdrs, b"{}")


def test_wrong_secret_and_tampered_body() -> None:
    body = orjson.dumps(order())
    with pytest.raises(SignatureError, match="bad signature"):
        INBOUND.verify(CHANNEL, headers("orders/create", body, secret="other"), body)
    tampered = body.replace(b'"quantity":2', b'"quantity":1')
    assert tampered != body
    with pytest.raises(SignatureError, match="bad signature"):
        INBOUND.verify(CHANNEL, headers("orders/create", body), tampered)
    with pytest.raises(SignatureError, match="bad signature"):
        INBOUND.verify(CHANNEL, {"x-shopify-hmac-sha256": "not base64 at all é"}, body)


def test_empty_secret_refuses_everything() -> None:
    channel = ChannelConfig(id="shop-us", kind="shopify")
    body = orjson.dumps(order())
    for hdrs in (headers("orders/create", body, secret=""), {}):
        with pytest.raises(SignatureError):
            INBOUND.verify(channel, hdrs, body)


# -- mapping ----------------------------------------------------------------------------------
VERSION = 1714572300000  # the payload's updated_at, 2024-05-01T10:05:00-04:00, in ms
KEY = "shopify:orders/create:820982911946154508:evt-1"


def test_orders_create() -> None:
    payload = order()
    payload["line_items"].append({"sku": "TEE-RED-M", "quantity": 3})  # repeated SKU: kept as a line
    result = receive("orders/create", payload)
    assert result.note == ""
    assert result.events == [
        {
            "key": KEY,
            "at": 1714572300.0,
            "kind": "order_placed",
            "version": VERSION,
            "channel": "shop-us",
            "order_id": "820982911946154508",
            "lines": [
                {"sku": "TEE-RED-M", "quantity": 2, "kept": 0},
                {"sku": "MUG-01", "quantity": 1, "kept": 0},
                {"sku": "TEE-RED-M", "quantity": 3, "kept": 0},
            ],
        }
    ]
    assert validate_events(result.events) == result.events


def test_key_falls_back_to_webhook_id() -> None:
    body = orjson.dumps(order())
    hdrs = headers("orders/create", body)
    del hdrs["x-shopify-event-id"]
    assert INBOUND.normalise(CHANNEL, hdrs, body).events[0]["key"] == KEY.replace("evt-1", "wh-1")
    del hdrs["x-shopify-webhook-id"]
    with pytest.raises(AdapterError, match="x-shopify-event-id"):
        INBOUND.normalise(CHANNEL, hdrs, body)


@pytest.mark.parametrize("triggered", ["garbage", "", "2030-01-01T00:00:00Z"])
def test_at_and_version_come_from_the_signed_updated_at(triggered: str) -> None:
    [event] = receive("orders/create", order(), **{"x-shopify-triggered-at": triggered}).events
    assert (event["at"], event["version"]) == (1714572300.0, VERSION)
    for bad in (None, "soon", 5):
        with pytest.raises(AdapterError, match="updated_at"):
            receive("orders/create", order(updated_at=bad))


def test_orders_cancelled_with_restock() -> None:
    """Shopify's cancel refunds the remaining units with restock_type cancel and zeroes current_quantity."""
    payload = cancelled(restock_type="cancel")
    doc, cancel = receive("orders/cancelled", payload, **{"x-shopify-event-id": "evt-2"}).events
    assert doc["kind"] == "order_updated" and doc["reason"] == "cancel" and doc["version"] == VERSION + 60_000
    assert doc["lines"] == [
        {"sku": "TEE-RED-M", "quantity": 0, "kept": 0},
        {"sku": "MUG-01", "quantity": 0, "kept": 0},
    ]
    assert cancel["kind"] == "order_cancelled" and cancel["restock"] is True
    assert cancel["key"] == "shopify:orders/cancelled:820982911946154508:evt-2:cancelled"
    assert (cancel["skus"], cancel["version"]) == (["TEE-RED-M", "MUG-01"], doc["version"])


def test_orders_cancelled_without_restock() -> None:
    doc, cancel = receive("orders/cancelled", cancelled(restock_type="no_restock")).events
    assert doc["lines"] == [
        {"sku": "TEE-RED-M", "quantity": 0, "kept": 2},
        {"sku": "MUG-01", "quantity": 0, "kept": 1},
    ]
    assert cancel["restock"] is False
    # a cancel that left current_quantity alone (no refund at all) restocked nothing either
    doc, cancel = receive("orders/cancelled", order(cancelled_at="2024-05-02T09:00:00-04:00")).events
    assert [line["quantity"] for line in doc["lines"]] == [2, 1] and cancel["restock"] is False


def test_the_body_decides_not_the_topic() -> None:
    """The topic header is unsigned: the same body means the same thing under any accepted topic."""
    payload = cancelled(restock_type="cancel")
    by_topic = {
        t: receive(t, payload).events for t in ("orders/create", "orders/updated", "orders/cancelled")
    }
    strip = [[{k: v for k, v in e.items() if k != "key"} for e in events] for events in by_topic.values()]
    assert strip[0] == strip[1] == strip[2] and [e["kind"] for e in strip[0]] == [
        "order_updated",
        "order_cancelled",
    ]
    refund = {
        "id": 5,
        "admin_graphql_api_id": "gid://shopify/Refund/5",
        "order_id": 7,
        "refund_line_items": [],
    }
    for topic in ("refunds/create", "orders/updated"):
        result = receive(topic, refund)
        assert result.events == [] and "refund 5 of order 7 noted" in result.note
    draft = order(admin_graphql_api_id="gid://shopify/DraftOrder/9")
    assert receive("orders/create", draft) == Inbound(
        events=[], note="ignored: the body is a DraftOrder, not an order"
    )


def test_two_orders_or_two_topics_of_one_action_never_share_a_key() -> None:
    """X-Shopify-Event-Id is shared by every delivery of one merchant action."""
    same = {"x-shopify-event-id": "bulk-cancel-1"}
    a = receive("orders/cancelled", cancelled("cancel"), **same).events
    b = receive("orders/cancelled", cancelled("cancel", id=820982911946154509), **same).events
    c = receive("orders/updated", cancelled("cancel"), **same).events
    keys = [e["key"] for e in (*a, *b, *c)]
    assert len(keys) == len(set(keys)) == 6


def test_edits_refunds_and_removals_map_to_current_quantity_and_kept() -> None:
    payload = order(updated_at="2024-05-01T11:00:00-04:00")
    payload["line_items"] = [
        {
            "id": 1,
            "sku": "TEE-RED-M",
            "quantity": 5,
            "current_quantity": 2,
        },  # 1 restocked, 1 kept, 1 edited away
        {"id": 2, "sku": "MUG-01", "quantity": 1, "current_quantity": 0},  # removed by an edit
        {"id": 3, "sku": "CAP", "quantity": 4, "current_quantity": 1},  # 3 refunded, one refund each type
    ]
    payload["refunds"] = [
        refund_of((1, 1, "return"), (1, 1, "no_restock"), (3, 1, "cancel")),
        refund_of((3, 1, "legacy_restock"), (3, 1, "no_restock")),
    ]
    [event] = receive("orders/updated", payload).events
    assert event["kind"] == "order_updated" and event["reason"] == "refund"
    assert event["lines"] == [
        {"sku": "TEE-RED-M", "quantity": 2, "kept": 1},
        {"sku": "MUG-01", "quantity": 0, "kept": 0},
        {"sku": "CAP", "quantity": 1, "kept": 1},
    ]
    keep = ChannelConfig(id="shop-us", kind="shopify", webhook_secret=SECRET, edit_removals_restock="false")
    body = orjson.dumps(payload)
    [strict] = INBOUND.normalise(keep, headers("orders/updated", body), body).events
    assert [line["kept"] for line in strict["lines"]] == [2, 1, 1]  # edit removals assumed not restocked


def test_without_current_quantity_refunds_lower_the_line() -> None:
    """REST before 2024-01 has no current_quantity: quantity less every refunded unit."""
    payload = order()
    payload["refunds"] = [refund_of((1, 1, "no_restock"))]
    [event] = receive("orders/updated", payload).events
    assert event["lines"][0] == {"sku": "TEE-RED-M", "quantity": 1, "kept": 1}


def test_rest_and_graphql_orders_are_the_same_document() -> None:
    payload = order(updated_at="2024-05-01T11:00:00-04:00")
    payload["line_items"][0]["current_quantity"] = 1
    payload["refunds"] = [refund_of((1, 1, "no_restock"))]
    node = {
        "id": "gid://shopify/Order/820982911946154508",
        "legacyResourceId": "820982911946154508",
        "createdAt": "2024-05-01T14:00:00Z",
        "updatedAt": "2024-05-01T15:00:00Z",
        "cancelledAt": None,
        "lineItems": {
            "nodes": [
                {"id": "gid://shopify/LineItem/1", "sku": "TEE-RED-M", "quantity": 2, "currentQuantity": 1},
                {"id": "gid://shopify/LineItem/2", "sku": "MUG-01", "quantity": 1, "currentQuantity": 1},
            ]
        },
        "refunds": [
            {
                "refundLineItems": {
                    "nodes": [
                        {
                            "quantity": 1,
                            "restockType": "NO_RESTOCK",
                            "lineItem": {"id": "gid://shopify/LineItem/1"},
                        }
                    ]
                }
            }
        ],
    }
    listed = channel_order(graphql_order(node), True)  # type: ignore[arg-type]
    [webhook] = receive("orders/updated", payload).events
    [backfilled] = backfill_events("shop-us", [listed])
    same = ("version", "lines", "order_id", "at")
    assert {k: backfilled[k] for k in same} == {k: webhook[k] for k in same}


# -- stock effects (the in-process ledger) ----------------------------------------------------
def ledger(stock: dict[str, int]) -> Ledger:
    led = Ledger(ShardMap(1, 8), clock=lambda: 1000.0)
    led.process([{"kind": "stock_set", "key": f"set-{s}", "sku": s, "quantity": q} for s, q in stock.items()])
    return led


EVENT_IDS = itertools.count()


def after(led: Ledger, *deliveries: tuple[str, dict[str, Any]]) -> dict[str, int]:
    """Stock after each delivery is decided, every delivery under an event id of its own."""
    for topic, payload in deliveries:
        led.process(receive(topic, payload, **{"x-shopify-event-id": f"evt-{next(EVENT_IDS)}"}).events)
    return {sku: rec.available for sku, rec in led.records.items()}


def placed(**fields: Any) -> dict[str, Any]:
    return order(
        line_items=[{"id": 1, "sku": "A", "quantity": 3}, {"id": 2, "sku": "B", "quantity": 2}], **fields
    )


def later(
    minutes: int, lines: list[tuple[int, str, int, int]], *refunds: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    items = [{"id": i, "sku": s, "quantity": q, "current_quantity": c} for i, s, q, c in lines]
    stamp = f"2024-05-01T{10 + minutes // 60:02d}:{5 + minutes % 60:02d}:00-04:00"
    return order(updated_at=stamp, line_items=items, refunds=list(refunds), **fields)


def test_an_edit_lowering_a_quantity_returns_the_difference() -> None:
    edited = later(1, [(1, "A", 3, 1), (2, "B", 2, 2)])
    assert after(ledger({"A": 10, "B": 10}), ("orders/create", placed()), ("orders/updated", edited)) == {
        "A": 9,
        "B": 8,
    }


def test_a_removed_line_returns_its_units() -> None:
    removed = later(1, [(1, "A", 3, 3), (2, "B", 2, 0)])
    assert after(ledger({"A": 10, "B": 10}), ("orders/create", placed()), ("orders/updated", removed)) == {
        "A": 7,
        "B": 10,
    }


@pytest.mark.parametrize(
    ("restock_type", "b"), [("return", 9), ("cancel", 9), ("legacy_restock", 9), ("no_restock", 8)]
)
def test_a_refund_returns_units_only_when_it_restocks(restock_type: str, b: int) -> None:
    refunded = later(1, [(1, "A", 3, 3), (2, "B", 2, 1)], refund_of((2, 1, restock_type)))
    led = ledger({"A": 10, "B": 10})
    assert after(led, ("orders/create", placed()), ("orders/updated", refunded)) == {"A": 7, "B": b}
    # the refund's own webhook is only noted; a replay of the order body changes nothing
    assert after(led, ("refunds/create", refund_of((2, 1, restock_type))), ("orders/updated", refunded)) == {
        "A": 7,
        "B": b,
    }


@pytest.mark.parametrize(
    ("restock_type", "stock"), [("cancel", {"A": 10, "B": 10}), ("no_restock", {"A": 7, "B": 8})]
)
def test_a_cancel_returns_what_the_order_held_only_when_it_restocks(
    restock_type: str, stock: dict[str, int]
) -> None:
    refund = refund_of((1, 3, restock_type), (2, 2, restock_type))
    gone = later(2, [(1, "A", 3, 0), (2, "B", 2, 0)], refund, cancelled_at="2024-05-01T10:07:00-04:00")
    led = ledger({"A": 10, "B": 10})
    assert (
        after(led, ("orders/create", placed()), ("orders/cancelled", gone), ("orders/updated", gone)) == stock
    )


def test_a_cancel_after_a_kept_refund_returns_only_the_rest() -> None:
    """A no_restock refund whose own webhook was lost is still counted: the cancel body carries it."""
    kept = refund_of((1, 1, "no_restock"))
    gone = later(
        2,
        [(1, "A", 3, 0), (2, "B", 2, 0)],
        kept,
        refund_of((1, 2, "cancel"), (2, 2, "cancel")),
        cancelled_at="2024-05-01T10:07:00-04:00",
    )
    assert after(ledger({"A": 10, "B": 10}), ("orders/create", placed()), ("orders/cancelled", gone)) == {
        "A": 9,
        "B": 10,
    }


def test_a_stale_body_moves_nothing() -> None:
    edited = later(1, [(1, "A", 3, 1), (2, "B", 2, 2)])
    led = ledger({"A": 10, "B": 10})
    assert after(led, ("orders/updated", edited), ("orders/create", placed())) == {"A": 9, "B": 8}


def cancelled(restock_type: str, **fields: Any) -> dict[str, Any]:
    """The trimmed order after a cancel: every line refunded with ``restock_type``, current_quantity 0."""
    body = order(updated_at="2024-05-01T10:06:00-04:00", cancelled_at="2024-05-01T10:06:00-04:00", **fields)
    for item in body["line_items"]:
        item["current_quantity"] = 0
    body["refunds"] = [
        refund_of(*((item["id"], item["quantity"], restock_type) for item in body["line_items"]))
    ]
    return body


def refund_of(*lines: tuple[int, int, str]) -> dict[str, Any]:
    """A REST refund (as in ``refunds[]`` and the ``refunds/create`` body) of (line item id, units, type)."""
    return {
        "id": 77,
        "admin_graphql_api_id": "gid://shopify/Refund/77",
        "order_id": 820982911946154508,
        "refund_line_items": [
            {"id": 100 + n, "line_item_id": li, "quantity": q, "restock_type": t, "line_item": {"id": li}}
            for n, (li, q, t) in enumerate(lines)
        ],
    }


def test_other_topics_ignored_and_topic_required() -> None:
    result = INBOUND.normalise(CHANNEL, {"x-shopify-topic": "products/update"}, b"not even json")
    assert result == Inbound(events=[], note="ignored topic products/update")
    with pytest.raises(AdapterError, match="x-shopify-topic"):
        INBOUND.normalise(CHANNEL, {"x-shopify-event-id": "e"}, orjson.dumps(order()))


def test_unknown_sku_is_kept_as_a_line() -> None:
    payload = order(line_items=[{"sku": "NOT-IN-MASTER-ANYWHERE", "quantity": 4}])
    [event] = receive("orders/create", payload).events
    assert event["lines"] == [{"sku": "NOT-IN-MASTER-ANYWHERE", "quantity": 4, "kept": 0}]


def test_lines_without_sku_are_noted() -> None:
    payload = order()
    payload["line_items"][1:1] = [{"sku": None, "quantity": 1}, {"sku": "", "quantity": 1}, {"quantity": 1}]
    result = receive("orders/create", payload)
    assert [line["sku"] for line in result.events[0]["lines"]] == ["TEE-RED-M", "MUG-01"]
    assert result.note == "skipped lines without sku: line_items[1], line_items[2], line_items[3]"


@pytest.mark.parametrize("topic", ["orders/create", "orders/cancelled"])
def test_no_sku_lines(topic: str) -> None:
    for items in ([], [{"sku": None, "quantity": 1}, {"sku": " ", "quantity": 2}]):
        assert receive(topic, order(line_items=items)) == Inbound(events=[], note="no sku lines")


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"", b"{", b'{"id": 1,}', b"\xff\xfe", b"[]", b'"order"', b"12", b"null"])
def test_malformed_or_non_object_body(body: bytes) -> None:
    with pytest.raises(AdapterError, match="JSON"):
        INBOUND.normalise(CHANNEL, headers("orders/create", body), body)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"line_items": [{"sku": "A", "quantity": "2"}]},
            "line_items[0].quantity must be a positive integer",
        ),
        ({"line_items": [{"sku": "A", "quantity": 0}]}, "line_items[0].quantity must be a positive integer"),
        ({"line_items": [{"sku": "A", "quantity": -1}]}, "line_items[0].quantity must be a positive integer"),
        (
            {"line_items": [{"sku": "A", "quantity": 1.5}]},
            "line_items[0].quantity must be a positive integer",
        ),
        (
            {"line_items": [{"sku": "A", "quantity": True}]},
            "line_items[0].quantity must be a positive integer",
        ),
        ({"line_items": [{"sku": "A"}]}, "line_items[0].quantity must be a positive integer"),
        ({"line_items": {"sku": "A", "quantity": 1}}, "line_items must be a list"),
        ({"line_items": None}, "line_items must be a list"),
        ({"line_items": ["A"]}, "line_items[0] must be an object"),
        ({"line_items": [{"sku": 42, "quantity": 1}]}, "line_items[0].sku must be a string"),
        ({"id": None}, "id must be"),
        ({"id": True}, "id must be"),
        ({"id": 1.5}, "id must be"),
        ({"id": ""}, "id must be"),
        ({"line_items": [{"sku": "A", "quantity": 2_000_000}]}, "lines.0.quantity"),
        ({"line_items": [{"sku": "A" * 201, "quantity": 1}]}, "lines.0.sku"),
        ({"line_items": [{"sku": "A", "quantity": 2, "current_quantity": -1}]}, "current_quantity must be"),
        ({"line_items": [{"sku": "A", "quantity": 2, "current_quantity": "1"}]}, "current_quantity must be"),
        ({"refunds": {"id": 1}}, "refunds must be a list"),
        ({"refunds": [{"refund_line_items": [{"line_item_id": 1, "quantity": 1}]}]}, "restock_type must be"),
        ({"refunds": [{"refund_line_items": [{"quantity": 1, "restock_type": "return"}]}]}, "line_item_id"),
        (
            {
                "refunds": [
                    {"refund_line_items": [{"line_item_id": 1, "quantity": -2, "restock_type": "return"}]}
                ]
            },
            "quantity must be",
        ),
    ],
)
def test_wrong_types(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(AdapterError) as info:
        receive("orders/create", order(**fields))
    assert reason in info.value.reason and not isinstance(info.value, SignatureError)


def test_package_exports_inbound() -> None:
    module = adapter_for("shopify")
    assert isinstance(module.INBOUND, ShopifyInbound) and module.INBOUND.kind == "shopify"


# -- property ---------------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_sku = st.text("AB-", min_size=1, max_size=4) | st.text(max_size=4) | st.none() | _json
_line = st.fixed_dictionaries(
    {}, optional={"sku": _sku, "quantity": st.integers(1, 3) | st.integers(-1, 0) | _json}
)
_order = st.fixed_dictionaries(
    {
        "id": st.integers(0, 2**63 - 1) | st.text(max_size=3),
        "line_items": st.lists(_line, max_size=4) | _json,
    },
    optional={"cancelled_at": st.none() | st.text(max_size=3), "updated_at": st.text(max_size=30) | _json},
)


@settings(database=None, max_examples=300)
@given(
    body=st.binary(max_size=300) | _order.map(orjson.dumps) | _json.map(orjson.dumps),
    topic=st.sampled_from(["orders/create", "orders/updated", "orders/cancelled", "refunds/create", ""]),
    signed=st.booleans(),
    triggered=st.text(max_size=40),
)
def test_any_body_raises_adapter_error_or_yields_valid_events(
    body: bytes, topic: str, signed: bool, triggered: str
) -> None:
    hdrs = headers(topic, body, **{"x-shopify-triggered-at": triggered})
    if not signed:
        del hdrs["x-shopify-hmac-sha256"]
    try:
        INBOUND.verify(CHANNEL, hdrs, body)
        result = INBOUND.normalise(CHANNEL, hdrs, body)
    except AdapterError:  # SignatureError included
        return
    assert signed
    assert validate_events(result.events) == result.events
