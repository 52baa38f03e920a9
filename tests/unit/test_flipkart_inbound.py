"""Flipkart inbound: the FKLOGIN signature (every invalid form refused), and notifications as events."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest

from adapters.base import AdapterError, SignatureError
from adapters.flipkart import notifications, signature
from adapters.flipkart.inbound import FlipkartInbound
from engine.config import ChannelConfig

APP, SECRET, URL = "fk-app", "fk-secret", "https://sync.example.com/webhooks/fk"
NOW = 1_790_000_000.0


def channel(**extra: Any) -> ChannelConfig:
    keys = {"app_id": APP, "app_secret": SECRET, "endpoint_url": URL} | extra
    return ChannelConfig(id="fk", kind="flipkart", **keys)


def verify(headers: dict[str, str], now: float = NOW, **extra: Any) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    FlipkartInbound(clock=lambda: now).verify(channel(**extra), lowered, b'{"any": "body"}')


def fklogin(app: str, sig: str) -> str:
    return "FKLOGIN " + base64.b64encode(f"{app}:{sig}".encode()).decode()


# -- signature -------------------------------------------------------------------------------------


def test_a_flipkart_signature_is_accepted() -> None:
    headers = signature.sign(APP, SECRET, URL, NOW - 30)
    date = headers["X_Date"]
    assert date.endswith(" GMT")  # an HTTP-date
    # the digest is SHA-1 over date + URL + method + secret, hex by default
    expected = hashlib.sha1((date + URL + "POST" + SECRET).encode()).hexdigest()
    assert headers["X_Authorization"] == fklogin(APP, expected)
    verify(headers)


def test_the_digest_encoding_is_the_channels_choice() -> None:
    as_base64 = signature.sign(APP, SECRET, URL, NOW, encoding="base64")
    verify(as_base64, signature_encoding="base64")
    with pytest.raises(SignatureError, match="bad signature"):
        verify(as_base64)  # hex expected by default
    with pytest.raises(SignatureError, match="bad signature"):
        verify(signature.sign(APP, SECRET, URL, NOW), signature_encoding="base64")


def _headers(how: str) -> dict[str, str]:
    good = signature.sign(APP, SECRET, URL, NOW)
    date = good["X_Date"]
    if how == "wrong secret":
        return signature.sign(APP, "other", URL, NOW)
    if how == "another app":
        return signature.sign("other-app", SECRET, URL, NOW)
    if how == "another URL":
        return signature.sign(APP, SECRET, URL + "x", NOW)
    if how == "another method":
        return signature.sign(APP, SECRET, URL, NOW, method="GET")
    if how == "no X_Authorization":
        return {"X_Date": date}
    if how == "no X_Date":
        return {"X_Authorization": good["X_Authorization"]}
    if how == "date changed after signing":
        return good | {"X_Date": signature.http_date(NOW + 1)}
    if how == "not FKLOGIN":
        return good | {"X_Authorization": good["X_Authorization"].replace("FKLOGIN", "Bearer")}
    if how == "not base64":
        return good | {"X_Authorization": "FKLOGIN %%%"}
    if how == "no app id":
        return good | {"X_Authorization": "FKLOGIN " + base64.b64encode(b"just-a-signature").decode()}
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("wrong secret", "bad signature"),
        ("another app", "bad signature"),
        ("another URL", "bad signature"),
        ("another method", "bad signature"),
        ("no X_Authorization", "missing signature"),
        ("no X_Date", "missing signature"),
        ("date changed after signing", "bad signature"),
        ("not FKLOGIN", "not FKLOGIN"),
        ("not base64", "not base64"),
        ("no app id", "lacks"),
    ],
)
def test_bad_signatures_are_refused(how: str, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify(_headers(how))


@pytest.mark.parametrize("offset", [-301, 301], ids=["old capture replayed", "from the future"])
def test_a_date_outside_the_tolerance_is_refused(offset: float) -> None:
    with pytest.raises(SignatureError, match="stale"):
        verify(signature.sign(APP, SECRET, URL, NOW + offset))
    verify(signature.sign(APP, SECRET, URL, NOW + offset), date_tolerance_s=600)


def test_a_signed_date_that_is_no_http_date_is_refused() -> None:
    date = "yesterday"
    sig = hashlib.sha1((date + URL + "POST" + SECRET).encode()).hexdigest()
    with pytest.raises(SignatureError, match="HTTP-date"):
        verify({"X_Date": date, "X_Authorization": fklogin(APP, sig)})


def test_nothing_is_accepted_without_the_channels_keys() -> None:
    headers = signature.sign(APP, "", URL, NOW)
    with pytest.raises(SignatureError, match="configured"):
        FlipkartInbound(clock=lambda: NOW).verify(
            ChannelConfig(id="fk", kind="flipkart", app_id=APP, endpoint_url=URL),
            {k.lower(): v for k, v in headers.items()},
            b"{}",
        )


# -- notifications ---------------------------------------------------------------------------------

UPDATED = "2026-09-01T12:00:00.250+05:30"
UPDATED_MS = 1_788_244_200_250


def created(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "eventType": "shipment_created",
        "source": "flipkart",
        "version": "v3",
        "shipmentId": "SHP-1",
        "timestamp": "2026-09-01T12:00:01+05:30",
        "attributes": {"updatedAt": UPDATED, "orderItems": items} | extra,
    }


def item(sku: str | None, quantity: Any, status: str = "APPROVED", **extra: Any) -> dict[str, Any]:
    return {
        "orderItemId": f"OI-{sku}",
        "orderId": "OD1",
        "sku": sku,
        "quantity": quantity,
        "status": status,
        "orderDate": "2026-09-01T11:59:00+05:30",
    } | extra


def run(event: Any, fetch: notifications.Fetch | None = None) -> tuple[list[dict[str, Any]], str]:
    body = event if isinstance(event, bytes) else orjson.dumps(event)
    got = notifications.normalise("fk", body, fetch)
    return got.events, got.note


def test_a_created_shipment_is_an_order_placed_of_its_sku_lines() -> None:
    events, note = run(created([item("A", 2), item("B", 1.0), item("A", 1), item(None, 1)]))
    [event] = events
    assert event["kind"] == "order_placed" and event["order_id"] == "SHP-1"
    assert event["key"] == "flipkart:SHP-1:shipment_created:2026-09-01T12:00:01+05:30"
    assert event["version"] == UPDATED_MS  # attributes.updatedAt, in ms
    assert event["at"] == 1_788_244_140.0  # the order date
    assert [(line["sku"], line["quantity"]) for line in event["lines"]] == [("A", 3), ("B", 1)]
    assert "without sku" in note


def test_without_updated_at_the_timestamp_versions_it() -> None:
    event = created([item("A", 1)])
    del event["attributes"]["updatedAt"]
    [placed], _ = run(event)
    assert placed["version"] == 1_788_244_201_000


@pytest.mark.parametrize("kind", ["shipment_packed", "shipment_shipped", "return_created", "shipment_hold"])
def test_other_events_are_acknowledged_and_move_nothing(kind: str) -> None:
    events, note = run({"eventType": kind, "shipmentId": "SHP-1", "attributes": {"status": "X"}})
    assert events == [] and "ignored" in note


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        orjson.dumps(created([item("A", 1.5)])),
        orjson.dumps(created([item(None, 1)])),
        orjson.dumps(created([item("A", 1)]) | {"shipmentId": None}),
        orjson.dumps(created([item("A", 1)]) | {"attributes": {"orderItems": "x"}}),
    ],
    ids=["not json", "fractional quantity", "no sku at all", "no shipment id", "items not a list"],
)
def test_an_unreadable_signed_notification_is_acknowledged_not_refused(body: bytes) -> None:
    events, note = run(body)  # a refusal would block every later event of its group
    assert events == [] and note.startswith("acknowledged unread")


def cancel_event() -> dict[str, Any]:
    return {
        "eventType": "shipment_cancelled",
        "shipmentId": "SHP-1",
        "timestamp": "2026-09-01T13:00:00+05:30",
        "attributes": {"status": "CANCELLED", "orderItems": [{"orderItemId": "OI-A", "quantity": 2}]},
    }


def shipment(
    items: list[dict[str, Any]], updated: str | None = "2026-09-01T13:00:00.500+05:30"
) -> dict[str, Any]:
    out: dict[str, Any] = {"shipmentId": "SHP-1", "orderItems": items}
    return out | ({"updatedAt": updated} if updated else {})


def test_a_whole_cancel_is_an_order_cancelled_with_restock() -> None:
    read = shipment([item("A", 2, "CANCELLED"), item("B", 1, "CANCELLED")])
    [event], _ = run(cancel_event(), lambda sid: read if sid == "SHP-1" else {})
    assert event["kind"] == "order_cancelled" and event["restock"] is True
    assert set(event["skus"]) == {"A", "B"} and event["version"] == 1_788_247_800_500
    assert event["key"] == "flipkart:SHP-1:shipment_cancelled:2026-09-01T13:00:00+05:30:1788247800500"


def test_a_partial_cancel_is_a_newer_version_holding_what_is_left() -> None:
    read = shipment([item("A", 1), item("A", 2, "CANCELLED", orderItemId="OI-AC"), item("B", 1)])
    [event], _ = run(cancel_event(), lambda sid: read)
    assert event["kind"] == "order_updated" and event["version"] == 1_788_247_800_500
    assert [(line["sku"], line["quantity"]) for line in event["lines"]] == [("A", 1), ("B", 1)]


def test_a_cancel_read_without_updated_at_takes_the_events_time() -> None:
    [event], _ = run(cancel_event(), lambda sid: shipment([item("A", 2, "CANCELLED")], updated=None))
    assert event["version"] == 1_788_247_800_000


def test_flipkart_fulfilled_items_are_not_masters() -> None:
    read = shipment([item("A", 2, "CANCELLED", serviceProfile="FBF")])
    events, note = run(cancel_event(), lambda sid: read)
    assert events == [] and "acknowledged unread" in note


def test_a_failed_shipment_read_is_acknowledged_for_backfill() -> None:
    def failing(shipment_id: str) -> dict[str, Any]:
        raise AdapterError("shipment read answered HTTP 503")

    events, note = run(cancel_event(), failing)
    assert events == [] and "HTTP 503" in note and "backfill" in note
