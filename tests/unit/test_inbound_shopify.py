"""Shopify inbound adapter: signature over the raw bytes, topic mapping, idempotency keys, validation.

The signature vectors are read from ``tests/data/signatures.json``, a verbatim copy of
``/work/shared/vectors/signatures.json`` (see MARKETPLACES.md, "Signature test vectors"): CI does not
have ``../shared``, so the tests read the copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, Inbound, SignatureError, adapter_for
from adapters.shopify.inbound import ShopifyInbound, signature
from engine.config import ChannelConfig
from engine.events import validate_events

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
def test_orders_create() -> None:
    payload = order()
    payload["line_items"].append({"sku": "TEE-RED-M", "quantity": 3})  # repeated SKU: kept as a line
    result = receive("orders/create", payload)
    assert result.note == ""
    assert result.events == [
        {
            "key": "shopify:evt-1",
            "at": 1714572300.123456,
            "kind": "order_placed",
            "version": 0,
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
    assert INBOUND.normalise(CHANNEL, hdrs, body).events[0]["key"] == "shopify:wh-1"
    del hdrs["x-shopify-webhook-id"]
    with pytest.raises(AdapterError, match="x-shopify-event-id"):
        INBOUND.normalise(CHANNEL, hdrs, body)


@pytest.mark.parametrize(
    ("triggered", "fields", "at"),
    [
        ("garbage", {}, 1714572300.0),  # updated_at
        ("", {"updated_at": None}, 1714572000.0),  # created_at
        ("", {"updated_at": "soon", "created_at": 5}, 0.0),
    ],
)
def test_at_fallbacks(triggered: str, fields: dict[str, Any], at: float) -> None:
    result = receive("orders/create", order(**fields), **{"x-shopify-triggered-at": triggered})
    assert result.events[0]["at"] == at


def test_orders_cancelled() -> None:
    payload = order(cancelled_at="2024-05-02T09:00:00-04:00")
    payload["line_items"].append({"sku": "TEE-RED-M", "quantity": 0})  # quantity is not read on cancel
    [event] = receive("orders/cancelled", payload, **{"x-shopify-event-id": "evt-2"}).events
    assert event["kind"] == "order_cancelled"
    assert event["key"] == "shopify:evt-2"
    assert (event["channel"], event["order_id"]) == ("shop-us", "820982911946154508")
    assert event["skus"] == ["TEE-RED-M", "MUG-01"]


def test_orders_updated() -> None:
    [placed] = receive("orders/updated", order()).events
    assert placed["kind"] == "order_placed" and placed["key"] == "shopify:evt-1"
    [cancelled] = receive("orders/updated", order(cancelled_at="2024-05-02T09:00:00-04:00")).events
    assert cancelled["kind"] == "order_cancelled"
    assert cancelled["skus"] == ["TEE-RED-M", "MUG-01"]


def test_create_with_cancelled_at_is_still_a_sale() -> None:
    [event] = receive("orders/create", order(cancelled_at="2024-05-02T09:00:00-04:00")).events
    assert event["kind"] == "order_placed"


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
