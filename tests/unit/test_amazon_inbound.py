"""Amazon inbound: the relay signature over raw bytes, and ORDER_CHANGE / MFN quantity bodies as events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.amazon import notifications, relay
from adapters.amazon.inbound import AmazonInbound
from adapters.amazon.sim.relay_sender import order_change, quantity_change, signed
from adapters.base import AdapterError, Inbound, SignatureError
from engine.config import ChannelConfig

SECRET = "relay-secret"
NOW = 1_790_000_000.0
SELLER = "A2SIMSELLER"


def channel(**extra: Any) -> ChannelConfig:
    return ChannelConfig(id="amz", kind="amazon", webhook_secret=SECRET, seller_id=SELLER, **extra)


def inbound(now: float = NOW) -> AmazonInbound:
    return AmazonInbound(clock=lambda: now)


def change(status: str, items: list[dict[str, Any]], t: float = NOW, nid: str = "n-1", **kw: Any) -> bytes:
    return orjson.dumps(
        order_change(SELLER, "111-0000001-0000007", status, items, t, notification_id=nid, **kw)
    )


def events(body: bytes) -> tuple[list[dict[str, Any]], str]:
    got = inbound().normalise(channel(), {}, body)
    return got.events, got.note


# -- signature -------------------------------------------------------------------------------------


def test_a_relay_signature_is_accepted() -> None:
    body, headers = signed(SECRET, {"x": 1}, at=NOW - 10)
    inbound().verify(channel(), {k.lower(): v for k, v in headers.items()}, body)


@pytest.mark.parametrize(
    ("secret", "alter", "at", "reason"),
    [
        ("other-secret", False, NOW, "bad signature"),
        (SECRET, True, NOW, "bad signature"),
        (SECRET, False, NOW - 301, "stale"),  # a capture replayed five minutes later
        (SECRET, False, NOW + 301, "stale"),
    ],
    ids=["wrong key", "altered body", "old capture replayed", "from the future"],
)
def test_bad_signatures_are_refused(secret: str, alter: bool, at: float, reason: str) -> None:
    body, headers = signed(secret, {"x": 1}, at=at)
    if alter:
        body = body.replace(b"1", b"2")
    with pytest.raises(SignatureError, match=reason):
        inbound().verify(channel(), {"skusync-signature": headers["Skusync-Signature"]}, body)


def test_missing_or_malformed_header_and_unset_secret_are_refused() -> None:
    body = b"{}"
    with pytest.raises(SignatureError, match="missing"):
        inbound().verify(channel(), {}, body)
    with pytest.raises(SignatureError, match="malformed"):
        inbound().verify(channel(), {"skusync-signature": "v1=abc"}, body)
    unset = ChannelConfig(id="amz", kind="amazon")
    with pytest.raises(SignatureError, match="not configured"):
        inbound().verify(unset, {"skusync-signature": relay.sign("", body, int(NOW))}, body)


def test_the_signature_covers_the_timestamp() -> None:
    """Moving ``t`` forward to make an old capture fresh breaks the signature."""
    body = b'{"a":1}'
    old = relay.sign(SECRET, body, int(NOW - 3600))
    moved = old.replace(f"t={int(NOW - 3600)}", f"t={int(NOW)}")
    with pytest.raises(SignatureError, match="bad signature"):
        inbound().verify(channel(), {"skusync-signature": moved}, body)


# -- ORDER_CHANGE ----------------------------------------------------------------------------------


def test_pending_is_a_placed_order_keyed_by_notification_id() -> None:
    [event], _ = events(change("Pending", [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]))
    assert event["kind"] == "order_placed" and event["key"] == "amazon:n-1"
    assert event["order_id"] == "111-0000001-0000007" and event["version"] == int(NOW * 1000)
    assert [(line["sku"], line["quantity"]) for line in event["lines"]] == [("A", 2), ("B", 1)]


def test_unshipped_is_a_newer_version_holding_the_same_units() -> None:
    [event], _ = events(change("Unshipped", [{"sku": "A", "quantity": 2}], t=NOW + 5, nid="n-2"))
    assert event["kind"] == "order_updated" and event["version"] == int((NOW + 5) * 1000)
    assert event["lines"][0]["quantity"] == 2


def test_canceled_cancels_with_restock() -> None:
    [event], note = events(change("Canceled", [{"sku": "A", "quantity": 2}], nid="n-3"))
    assert event["kind"] == "order_cancelled" and event["restock"] is True
    assert event["skus"] == ["A"] and event["key"] == "amazon:n-3:cancelled" and note == "cancelled"


def test_a_partial_cancel_gives_back_the_cancelled_item() -> None:
    body = change("Unshipped", [{"sku": "A", "quantity": 0}, {"sku": "B", "quantity": 1}], nid="n-4")
    [event], _ = events(body)
    assert event["kind"] == "order_updated"
    assert [(line["sku"], line["quantity"]) for line in event["lines"]] == [("A", 0), ("B", 1)]


def test_a_buyer_requested_cancel_is_noted_and_keeps_the_units() -> None:
    body = change(
        "Unshipped", [{"sku": "A", "quantity": 2, "buyer_cancel": True}], change_type="BuyerRequestedChange"
    )
    [event], note = events(body)
    assert event["lines"][0]["quantity"] == 2 and "buyer requested cancel of A" in note


def test_fba_orders_and_unknown_statuses_are_ignored() -> None:
    fba, fba_note = events(change("Shipped", [{"sku": "A", "quantity": 1}], fulfillment="AFN"))
    odd, odd_note = events(change("Exploded", [{"sku": "A", "quantity": 1}]))
    assert (fba, odd) == ([], []) and "fulfilled by Amazon" in fba_note and "Exploded" in odd_note


def test_without_summary_the_order_is_fetched_and_without_a_fetch_it_is_refused() -> None:
    doc = orjson.loads(change("Pending", [{"sku": "A", "quantity": 1}]))
    del doc["Payload"]["OrderChangeNotification"]["Summary"]
    asked: list[str] = []

    def thin(key: str, order_id: str, note: dict[str, Any], envelope: dict[str, Any]) -> Inbound:
        asked.append(order_id)
        return Inbound(note="fetched")

    assert notifications.normalise("amz", SELLER, orjson.dumps(doc), thin).note == "fetched"
    assert asked == ["111-0000001-0000007"]
    with pytest.raises(AdapterError, match="without Summary"):
        notifications.normalise("amz", SELLER, orjson.dumps(doc))


def test_another_sellers_notification_is_refused() -> None:
    body = orjson.dumps(order_change("A9OTHER", "111-1-1", "Pending", [{"sku": "A", "quantity": 1}], NOW))
    with pytest.raises(AdapterError, match="seller_id"):
        events(body)


def test_an_eventbridge_envelope_is_unwrapped() -> None:
    detail = orjson.loads(change("Pending", [{"sku": "A", "quantity": 1}]))
    wrapped = {"version": "0", "id": "e-1", "detail-type": "x", "source": "aws.partner/x", "detail": detail}
    [event], _ = events(orjson.dumps(wrapped))
    assert event["key"] == "amazon:n-1"


# -- LISTINGS_ITEM_MFN_QUANTITY_CHANGE -------------------------------------------------------------


def test_an_mfn_quantity_change_is_only_reported() -> None:
    doc = quantity_change(SELLER, "A", 7, NOW)
    [event], _ = events(orjson.dumps(doc))
    assert event["kind"] == "channel_quantity_reported" and (event["sku"], event["quantity"]) == ("A", 7)
    assert event["key"] == f"amazon:{doc['NotificationMetadata']['NotificationId']}"
