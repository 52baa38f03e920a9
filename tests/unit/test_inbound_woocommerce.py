"""WooCommerce inbound adapter: signature over the raw bytes, ping, status mapping, keys, validation.

The signature vectors are read from ``tests/data/signatures.json``, a verbatim copy of
``/work/shared/vectors/signatures.json`` (see MARKETPLACES.md, "Signature test vectors"): CI does not
have ``../shared``, so the tests read the copy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, Inbound, SignatureError, adapter_for
from adapters.woocommerce.inbound import WooCommerceInbound, decode_secret, signature
from engine.config import ChannelConfig
from engine.events import validate_events

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "signatures.json").read_text())
SECRET = "wc-secret"
CHANNEL = ChannelConfig(id="wc-eu", kind="woocommerce", webhook_secret=SECRET)
INBOUND = WooCommerceInbound()
PING = b"webhook_id=42"


def order(**overrides: Any) -> dict[str, Any]:
    """A trimmed WooCommerce REST v3 order (real field names, extra fields included)."""
    body: dict[str, Any] = {
        "id": 727,
        "status": "processing",
        "date_created": "2024-05-01T10:00:00",
        "date_modified": "2024-05-01T12:30:00",
        "date_modified_gmt": "2024-05-01T10:30:00",
        "line_items": [
            {
                "id": 315,
                "name": "Tee",
                "product_id": 93,
                "variation_id": 0,
                "quantity": 2,
                "sku": "TEE-RED-M",
            },
            {"id": 316, "name": "Mug", "product_id": 22, "variation_id": 23, "quantity": 1, "sku": "MUG-01"},
        ],
    }
    body.update(overrides)
    return body


def headers(topic: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-signature": signature(secret, body),
        "x-wc-webhook-source": "https://shop.example/",
        "x-wc-webhook-delivery-id": "9f1c",
        "user-agent": "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)",
    }


def receive(payload: dict[str, Any], topic: str = "order.updated") -> Inbound:
    body = orjson.dumps(payload)
    hdrs = headers(topic, body)
    INBOUND.verify(CHANNEL, hdrs, body)
    return INBOUND.normalise(CHANNEL, hdrs, body)


def raw_sign(key: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


# -- verify -----------------------------------------------------------------------------------
def vector_case() -> tuple[ChannelConfig, dict[str, str], bytes]:
    vec = VECTORS["woocommerce_webhook"]
    channel = ChannelConfig(id="wc-eu", kind="woocommerce", webhook_secret=vec["secret"])
    return channel, {"x-wc-webhook-signature": vec["expected"]}, vec["body"].encode()


def test_shared_vector_verifies() -> None:
    channel, hdrs, body = vector_case()
    assert signature(channel.webhook_secret.get_secret_value(), body) == hdrs["x-wc-webhook-signature"]
    INBOUND.verify(channel, hdrs, body)


@pytest.mark.parametrize(
    "reserialise",
    [
        lambda b: orjson.dumps(orjson.loads(b), option=orjson.OPT_INDENT_2),
        lambda b: json.dumps(json.loads(b)).encode(),  # ", " and ": " separators
        lambda b: b + b"\n",
    ],
)
def test_reserialised_body_fails(reserialise: Any) -> None:
    channel, hdrs, body = vector_case()
    other = reserialise(body)
    assert other != body and orjson.loads(other) == orjson.loads(body)
    with pytest.raises(SignatureError, match="bad signature"):
        INBOUND.verify(channel, hdrs, other)


@pytest.mark.parametrize(
    "hdrs",
    [{}, {"x-wc-webhook-signature": ""}, {"x-wc-webhook-topic": "order.created"}],
)
def test_missing_signature(hdrs: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="missing signature"):
        INBOUND.verify(CHANNEL, hdrs, orjson.dumps(order()))


def test_wrong_secret_and_tampered_body() -> None:
    body = orjson.dumps(order())
    with pytest.raises(SignatureError, match="bad signature"):
        INBOUND.verify(CHANNEL, headers("order.created", body, secret="other"), body)
    tampered = body.replace(b'"quantity":2', b'"quantity":1')
    assert tampered != body
    with pytest.raises(SignatureError, match="bad signature"):
        INBOUND.verify(CHANNEL, headers("order.created", body), tampered)


def test_empty_secret_refuses_everything() -> None:
    channel = ChannelConfig(id="wc-eu", kind="woocommerce")
    body = orjson.dumps(order())
    for hdrs, payload in ((headers("order.created", body, secret=""), body), ({}, body), ({}, PING)):
        with pytest.raises(SignatureError):
            INBOUND.verify(channel, hdrs, payload)


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        ("plain", "plain"),
        ("a&amp;b&lt;c&gt;d&quot;e&#039;f", "a&b<c>d\"e'f"),
        ("&#39;&#0039;&#x27;&#X0027;&#34;&#x22;&#38;&#x26;&#60;&#062;", "''''\"\"&&<>"),
        ("&copy;&copy&amp&#38&#x3c;&apos;&nbsp;", "&copy;&copy&amp&#38&#x3c;&apos;&nbsp;"),  # left alone
        ("&amp;lt;", "&lt;"),  # one pass, like PHP strtr
    ],
)
def test_secret_is_decoded_like_wp_specialchars_decode(secret: str, key: str) -> None:
    assert decode_secret(secret) == key
    body = orjson.dumps(order())
    channel = ChannelConfig(id="wc-eu", kind="woocommerce", webhook_secret=secret)
    INBOUND.verify(channel, {"x-wc-webhook-signature": raw_sign(key.encode(), body)}, body)


# -- ping -------------------------------------------------------------------------------------
def test_ping_accepted_and_records_nothing() -> None:
    hdrs = {"user-agent": "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)"}
    INBOUND.verify(CHANNEL, hdrs, PING)
    assert INBOUND.normalise(CHANNEL, hdrs, PING) == Inbound(events=[], note="ping")
    INBOUND.verify(CHANNEL, {}, b"webhook_id=1")


@pytest.mark.parametrize(
    ("hdrs", "body"),
    [
        ({}, b"webhook_id="),
        ({}, b"webhook_id=abc"),
        ({}, b"webhook_id=42&status=processing"),
        ({}, b"webhook_id=42\n"),
        ({}, b" webhook_id=42"),
        ({}, b'{"webhook_id": 42}'),
        ({"x-wc-webhook-topic": "order.created"}, PING),
        ({"x-wc-webhook-signature": "forged"}, PING),
        ({"x-wc-webhook-signature": ""}, PING),
    ],
)
def test_ping_only_in_its_exact_shape(hdrs: dict[str, str], body: bytes) -> None:
    with pytest.raises(SignatureError):
        INBOUND.verify(CHANNEL, hdrs, body)


# -- mapping ----------------------------------------------------------------------------------
VERSION = 1714559400000  # date_modified_gmt 2024-05-01T10:30:00 in ms
KEY = f"woocommerce:727:{VERSION}"


def reduced(qty: int, restocked: int | None = None) -> list[dict[str, Any]]:
    """Line item meta as core leaves it: ``_reduced_stock`` (and ``_restock_refunded_items``), strings."""
    meta = [{"id": 1, "key": "_reduced_stock", "value": str(qty), "display_key": "_reduced_stock"}]
    if restocked is not None:
        meta.append({"id": 2, "key": "_restock_refunded_items", "value": str(restocked)})
    return meta


@pytest.mark.parametrize("status", ["processing", "on-hold", "completed"])
@pytest.mark.parametrize("topic", ["order.created", "order.updated"])
def test_reducing_statuses_hold_the_quantity(topic: str, status: str) -> None:
    payload = order(status=status)
    payload["line_items"].append({"sku": "TEE-RED-M", "quantity": 1})  # repeated SKU: summed
    result = receive(payload, topic)
    assert result.note == ""
    assert result.events == [
        {
            "key": KEY,
            "at": 1714559400.0,
            "kind": "order_updated",
            "version": VERSION,
            "reason": status,
            "channel": "wc-eu",
            "order_id": "727",
            "lines": [
                {"sku": "TEE-RED-M", "quantity": 3, "kept": 0},
                {"sku": "MUG-01", "quantity": 1, "kept": 0},
            ],
        }
    ]
    assert validate_events(result.events) == result.events


def test_first_version_is_placed_and_both_topics_make_one_event() -> None:
    payload = order(date_created_gmt="2024-05-01T10:30:00")  # not modified since it was created
    created, updated = receive(payload, "order.created"), receive(payload, "order.updated")
    assert created == updated and created.events[0]["kind"] == "order_placed"
    assert created.events[0]["key"] == KEY and created.events[0]["version"] == VERSION


def test_pending_holds_nothing_even_with_stale_meta() -> None:
    [event] = receive(order(status="pending")).events
    assert [(ln["sku"], ln["quantity"]) for ln in event["lines"]] == [("TEE-RED-M", 0), ("MUG-01", 0)]
    payload = order(status="pending")
    payload["line_items"][0]["meta_data"] = reduced(2)  # a listing read mid-restore: status wins
    assert receive(payload).events[0]["lines"][0]["quantity"] == 0


def test_cancelled_gives_everything_back_at_its_version() -> None:
    payload = order(status="cancelled")
    payload["line_items"].append({"sku": "TEE-RED-M", "quantity": 1})
    [event] = receive(payload).events
    assert event == {
        "key": KEY,
        "at": 1714559400.0,
        "kind": "order_cancelled",
        "channel": "wc-eu",
        "order_id": "727",
        "skus": ["TEE-RED-M", "MUG-01"],
        "version": VERSION,
        "restock": True,
    }


@pytest.mark.parametrize("status", ["failed", "refunded", "checkout-draft", "some-plugin-status"])
def test_statuses_without_a_stock_hook_say_nothing_without_meta(status: str) -> None:
    result = receive(order(status=status))
    assert result.events == [] and result.note.startswith(f"{status}: no stock change")


@pytest.mark.parametrize("status", ["failed", "refunded", "processing"])
def test_reduced_stock_meta_is_what_core_holds(status: str) -> None:
    payload = order(status=status)
    payload["line_items"][0]["meta_data"] = reduced(1, restocked=1)  # 2 ordered, 1 restocked by a refund
    payload["line_items"][1]["meta_data"] = reduced(0, restocked=1)  # all restocked: "0"
    [event] = receive(payload).events
    assert [(ln["sku"], ln["quantity"], ln["kept"]) for ln in event["lines"]] == [
        ("TEE-RED-M", 1, 0),
        ("MUG-01", 0, 0),
    ]


def test_without_meta_a_reducing_status_holds_the_quantity_less_restocked() -> None:
    payload = order()
    payload["line_items"][0]["meta_data"] = [{"key": "_restock_refunded_items", "value": "1"}]
    assert receive(payload).events[0]["lines"][0]["quantity"] == 1


def test_a_sku_whose_holding_is_partly_unknown_is_left_out() -> None:
    payload = order(status="refunded")
    payload["line_items"][0]["meta_data"] = reduced(2)
    payload["line_items"].append({"sku": "TEE-RED-M", "quantity": 1})  # no meta: unknown
    payload["line_items"][1]["meta_data"] = reduced(1)
    [event] = receive(payload).events
    assert event["lines"] == [{"sku": "MUG-01", "quantity": 1, "kept": 0}]


@pytest.mark.parametrize("value", ["x", "", None, True, [1], "1.5"])
def test_unreadable_meta_falls_back_to_the_status(value: Any) -> None:
    payload = order()
    payload["line_items"][0]["meta_data"] = [{"key": "_reduced_stock", "value": value}]
    assert receive(payload).events[0]["lines"][0]["quantity"] == 2


def test_version_is_date_modified_gmt_and_required() -> None:
    [event] = receive(order(date_modified=None)).events
    assert event["key"] == KEY and event["version"] == VERSION
    for bad in (None, "", "yesterday", 7):
        with pytest.raises(AdapterError, match="date_modified_gmt"):
            receive(order(date_modified_gmt=bad))
    with pytest.raises(AdapterError, match="before 1970"):
        receive(order(date_modified_gmt="1969-12-31T23:59:59"))


def test_delivery_id_is_not_part_of_the_key() -> None:
    body = orjson.dumps(order())
    first, second = headers("order.updated", body), headers("order.updated", body)
    second["x-wc-webhook-delivery-id"] = "another"
    assert INBOUND.normalise(CHANNEL, first, body) == INBOUND.normalise(CHANNEL, second, body)


def test_other_topics_ignored_and_topic_required() -> None:
    result = INBOUND.normalise(CHANNEL, {"x-wc-webhook-topic": "product.updated"}, b"{}")
    assert result == Inbound(events=[], note="ignored topic product.updated")
    body = orjson.dumps(order())
    with pytest.raises(AdapterError, match="x-wc-webhook-topic"):
        INBOUND.normalise(CHANNEL, {"x-wc-webhook-signature": signature(SECRET, body)}, body)


def test_unknown_sku_is_kept_as_a_line() -> None:
    [event] = receive(order(line_items=[{"sku": "NOT-IN-MASTER-ANYWHERE", "quantity": 4}])).events
    assert event["lines"] == [{"sku": "NOT-IN-MASTER-ANYWHERE", "quantity": 4, "kept": 0}]


def test_lines_without_sku_are_noted() -> None:
    payload = order()
    payload["line_items"].insert(0, {"product_id": 5, "sku": "", "quantity": 1})
    result = receive(payload)
    assert [line["sku"] for line in result.events[0]["lines"]] == ["TEE-RED-M", "MUG-01"]
    assert result.note == "skipped lines without sku: line_items[0]"


@pytest.mark.parametrize("status", ["processing", "cancelled"])
def test_no_sku_lines(status: str) -> None:
    for items in ([], [{"sku": "", "quantity": 1}]):
        assert receive(order(status=status, line_items=items)) == Inbound(events=[], note="no sku lines")


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"", b"{", b"\xff", b"[]", b'"order"', b"null"])
def test_malformed_or_non_object_body(body: bytes) -> None:
    with pytest.raises(AdapterError, match="JSON"):
        INBOUND.normalise(CHANNEL, headers("order.created", body), body)


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
            {"line_items": [{"sku": "A", "quantity": 2.0}]},
            "line_items[0].quantity must be a positive integer",
        ),
        ({"line_items": "TEE-RED-M"}, "line_items must be a list"),
        ({"line_items": [None]}, "line_items[0] must be an object"),
        ({"line_items": [{"sku": ["A"], "quantity": 1}]}, "line_items[0].sku must be a string"),
        ({"id": None}, "id must be"),
        ({"id": False}, "id must be"),
        ({"status": None}, "status must be"),
        ({"status": 3}, "status must be"),
        ({"line_items": [{"sku": "A", "quantity": 1_000_001}]}, "lines.0.quantity"),
        ({"date_modified_gmt": "2024-13-01T00:00:00"}, "date_modified_gmt"),
    ],
)
def test_wrong_types(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(AdapterError) as info:
        receive(order(**fields))
    assert reason in info.value.reason and not isinstance(info.value, SignatureError)


def test_package_exports_inbound() -> None:
    module = adapter_for("woocommerce")
    assert isinstance(module.INBOUND, WooCommerceInbound) and module.INBOUND.kind == "woocommerce"


# -- property ---------------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_sku = st.text("AB-", min_size=1, max_size=4) | st.text(max_size=4) | st.none() | _json
_statuses = st.sampled_from(
    ["pending", "processing", "on-hold", "cancelled", "refunded", "failed", "trash", ""]
)
_meta = st.lists(
    st.fixed_dictionaries(
        {"key": st.sampled_from(["_reduced_stock", "_restock_refunded_items", "x"]), "value": _json}
    ),
    max_size=3,
)
_line = st.fixed_dictionaries(
    {}, optional={"sku": _sku, "quantity": st.integers(1, 3) | st.integers(-1, 0) | _json, "meta_data": _meta}
)
_order = st.fixed_dictionaries(
    {
        "id": st.integers(0, 2**63 - 1) | st.text(max_size=3),
        "status": _statuses | _statuses | _json,
        "date_modified_gmt": st.just("2024-05-01T12:30:00") | st.text(max_size=20) | _json,
        "line_items": st.lists(_line, max_size=4) | st.lists(_line, max_size=4) | _json,
    },
    optional={"date_created_gmt": st.text(max_size=30) | _json},
)
_plausible = st.fixed_dictionaries(  # well-formed but for the lines, so some deliveries get through
    {
        "id": st.integers(1, 10**6),
        "status": _statuses,
        "date_modified_gmt": st.just("2024-05-01T12:30:00"),
        "line_items": st.lists(_line, min_size=1, max_size=4),
    }
)


@settings(database=None, max_examples=300)
@given(
    body=st.binary(max_size=300)
    | _order.map(orjson.dumps)
    | _plausible.map(orjson.dumps)
    | _json.map(orjson.dumps)
    | st.just(PING),
    topic=st.sampled_from(["order.created", "order.updated", "order.deleted", ""]),
    signed=st.booleans(),
)
def test_any_body_raises_adapter_error_or_yields_valid_events(body: bytes, topic: str, signed: bool) -> None:
    hdrs = headers(topic, body)
    if not topic:  # no topic header at all: what a ping looks like
        del hdrs["x-wc-webhook-topic"]
    if not signed:
        del hdrs["x-wc-webhook-signature"]
    try:
        INBOUND.verify(CHANNEL, hdrs, body)
        result = INBOUND.normalise(CHANNEL, hdrs, body)
    except AdapterError:  # SignatureError included
        return
    assert signed or (body == PING and result == Inbound(events=[], note="ping"))
    assert validate_events(result.events) == result.events
