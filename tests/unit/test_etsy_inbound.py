"""Etsy inbound: Standard Webhooks signatures (valid, each invalid form) and receipts as events."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from adapters.base import AdapterError, SignatureError
from adapters.etsy import inbound, signature
from engine.config import ChannelConfig

SECRET = "whsec_" + base64.b64encode(b"unit-test-etsy-secret-0123456789").decode()
KEY = signature.key_bytes(SECRET)
NOW = 1_800_000_000
SHOP = 77


def channel(**extra: Any) -> ChannelConfig:
    return ChannelConfig(
        id="etsy-1", kind="etsy", base_url="http://127.0.0.1:9", webhook_secret=SECRET, shop_id=SHOP, **extra
    )


def body(event: str = "order.paid", rid: int = 9001, shop: int = SHOP) -> bytes:
    url = f"https://openapi.etsy.com/v3/application/shops/{shop}/receipts/{rid}"
    return orjson.dumps({"event_type": event, "resource_url": url, "shop_id": shop})


def signed(raw: bytes, at: int = NOW, key: bytes = KEY) -> dict[str, str]:
    return {
        signature.ID: "msg_1",
        signature.TIMESTAMP: str(at),
        signature.SIGNATURE: signature.sign(key, "msg_1", at, raw),
    }


def adapter() -> inbound.EtsyInbound:
    return inbound.EtsyInbound(clock=lambda: float(NOW))


def test_a_valid_signature_passes_and_a_rotating_list_is_accepted() -> None:
    raw = body()
    adapter().verify(channel(), signed(raw), raw)
    both = signed(raw)
    both[signature.SIGNATURE] = "v1,AAAA " + both[signature.SIGNATURE]
    adapter().verify(channel(), both, raw)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("wrong_key", "bad signature"),
        ("altered_body", "bad signature"),
        ("missing_signature", "missing signature"),
        ("missing_id", "malformed"),
        ("bad_timestamp", "malformed"),
        ("stale", "stale signature"),
        ("future", "stale signature"),
        ("not_v1", "bad signature"),
    ],
)
def test_each_invalid_form_is_refused(how: str, reason: str) -> None:
    raw = body()
    headers = signed(raw)
    if how == "wrong_key":
        headers = signed(raw, key=b"another key")
    elif how == "altered_body":
        raw = body(rid=9002)
    elif how == "missing_signature":
        del headers[signature.SIGNATURE]
    elif how == "missing_id":
        del headers[signature.ID]
    elif how == "bad_timestamp":
        headers[signature.TIMESTAMP] = "12ab"
    elif how in ("stale", "future"):
        headers = signed(raw, at=NOW - 301 if how == "stale" else NOW + 301)
    elif how == "not_v1":
        headers[signature.SIGNATURE] = headers[signature.SIGNATURE].replace("v1,", "v2,")
    with pytest.raises(SignatureError, match=reason):
        adapter().verify(channel(), headers, raw)


def test_tolerance_and_secret_encoding_are_keys() -> None:
    raw = body()
    adapter().verify(channel(signature_tolerance_s=600), signed(raw, at=NOW - 500), raw)
    utf8 = "whsec_plain-text-secret"
    headers = signed(raw, key=b"plain-text-secret")
    ch = ChannelConfig(
        id="e", kind="etsy", webhook_secret=utf8, shop_id=SHOP, signature_secret_encoding="utf8"
    )
    adapter().verify(ch, headers, raw)
    with pytest.raises(SignatureError):
        adapter().verify(ChannelConfig(id="e", kind="etsy", webhook_secret=utf8, shop_id=SHOP), headers, raw)
    with pytest.raises(SignatureError, match="not configured"):
        adapter().verify(ChannelConfig(id="e", kind="etsy", shop_id=SHOP), headers, raw)


def receipt(status: str = "Paid", updated: int = NOW, **extra: Any) -> dict[str, Any]:
    rows = [
        {"transaction_id": 1, "sku": "A", "quantity": 2},
        {"transaction_id": 2, "sku": "A", "quantity": 1},
        {"transaction_id": 3, "sku": "B", "quantity": 4},
        {"transaction_id": 4, "sku": "", "quantity": 1},
    ]
    return {
        "receipt_id": 9001,
        "status": status,
        "create_timestamp": NOW - 10,
        "updated_timestamp": updated,
        "transactions": rows,
        **extra,
    }


def fetched(found: dict[str, Any]) -> inbound.Fetch:
    def fetch(rid: int) -> dict[str, Any]:
        assert rid == 9001
        return found

    return fetch


@pytest.mark.parametrize("status", ["Paid", "Completed", "Open", "Payment Processing", "Partially Refunded"])
def test_a_receipt_holding_units_is_an_order_placed_document(status: str) -> None:
    result = inbound.normalise(channel(), body(), fetched(receipt(status)))
    [event] = result.events
    assert event["kind"] == "order_placed" and event["order_id"] == "9001"
    assert event["version"] == NOW * 1000 and event["key"] == f"etsy:9001:{NOW * 1000}"
    assert {(line["sku"], line["quantity"]) for line in event["lines"]} == {("A", 3), ("B", 4)}
    assert "without sku" in result.note


@pytest.mark.parametrize("restock", [True, False])
def test_a_canceled_receipt_is_a_cancel_restocking_per_the_key(restock: bool) -> None:
    result = inbound.normalise(
        channel(cancel_restocks=restock), body(), fetched(receipt("Canceled", NOW + 5))
    )
    [event] = result.events
    assert event["kind"] == "order_cancelled" and event["restock"] is restock
    assert event["key"].endswith(":cancelled") and sorted(event["skus"]) == ["A", "B"]


def test_a_late_paid_delivery_after_a_cancel_repeats_the_cancel_key() -> None:
    cancelled = receipt("Canceled", NOW + 5)
    by_cancel = inbound.normalise(
        channel(event_types=["order.canceled"]), body("order.canceled"), fetched(cancelled)
    )
    late_paid = inbound.normalise(channel(), body(), fetched(cancelled))
    assert by_cancel.events == late_paid.events


def test_other_events_shops_and_payloads() -> None:
    never = fetched({})
    assert inbound.normalise(channel(), body("order.shipped"), never).note.startswith("ignored event type")
    with pytest.raises(AdapterError, match="another shop"):
        inbound.normalise(channel(), body(shop=78), never)
    with pytest.raises(AdapterError, match="resource_url"):
        inbound.normalise(channel(), orjson.dumps({"event_type": "order.paid", "resource_url": "x"}), never)
    with pytest.raises(AdapterError, match="JSON"):
        inbound.normalise(channel(), b"{", never)
    assert inbound.normalise(channel(), body(), fetched(receipt(transactions=[]))).events == []
