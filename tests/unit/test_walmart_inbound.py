"""Walmart inbound: the subscription's credential (HMAC of the raw body in base64 or hex, basic,
bearer; in the header the seller named) accepted and every invalid form refused before parsing;
PO_CREATED and each ORDER_UPDATES sub-event normalised; malformed quantities refused with reasons."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from adapters.base import AdapterError, SignatureError
from adapters.walmart import INBOUND
from adapters.walmart.sim.orders import Subscription
from engine.config import ChannelConfig

SECRET = "walmart-client-secret-0123"
BODY = b'{"source":{"eventType":"PO_CREATED"},"payload":{}}'


def channel(**keys: Any) -> ChannelConfig:
    return ChannelConfig(id="wm", kind="walmart", base_url="https://x", webhook_secret=SECRET, **keys)


def b64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# -- signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "headers"),
    [
        ({}, {"authorization": b64(SECRET, BODY)}),
        ({"auth_header_name": "WM_NOTIFY.SIG"}, {"wm_notify.sig": b64(SECRET, BODY)}),
        (
            {"hmac_encoding": "hex"},
            {"authorization": hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()},
        ),
        (
            {"auth_method": "basic", "webhook_username": "events"},
            {"authorization": "Basic " + base64.b64encode(f"events:{SECRET}".encode()).decode()},
        ),
        ({"auth_method": "bearer"}, {"authorization": f"Bearer {SECRET}"}),
    ],
    ids=["hmac-base64", "named-header", "hmac-hex", "basic", "bearer"],
)
def test_each_subscription_method_is_accepted(keys: dict[str, Any], headers: dict[str, str]) -> None:
    INBOUND.verify(channel(**keys), headers, BODY)


@pytest.mark.parametrize(
    ("keys", "headers", "reason"),
    [
        ({}, {}, "missing"),
        ({}, {"authorization": b64("other-secret", BODY)}, "bad"),
        ({}, {"authorization": b64(SECRET, BODY + b" ")}, "bad"),
        ({"auth_header_name": "X-Sig"}, {"authorization": b64(SECRET, BODY)}, "missing"),
        ({"hmac_encoding": "hex"}, {"authorization": b64(SECRET, BODY)}, "bad"),
        ({}, {"authorization": hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()}, "bad"),
        (
            {"auth_method": "basic", "webhook_username": "events"},
            {"authorization": "Basic " + base64.b64encode(b"events:wrong").decode()},
            "bad",
        ),
        ({"auth_method": "basic"}, {"authorization": "Basic x"}, "webhook_username"),
        ({"auth_method": "bearer"}, {"authorization": "Bearer not-it"}, "bad"),
        ({"auth_method": "bearer"}, {"authorization": SECRET}, "bad"),
    ],
    ids=[
        "no-header",
        "wrong-key",
        "altered-body",
        "wrong-header",
        "base64-when-hex",
        "hex-when-base64",
        "basic-wrong-password",
        "basic-without-username",
        "bearer-wrong-token",
        "bearer-without-scheme",
    ],
)
def test_every_invalid_form_is_refused(keys: dict[str, Any], headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        INBOUND.verify(channel(**keys), headers, BODY)


def test_a_channel_without_a_secret_refuses_everything() -> None:
    bare = ChannelConfig(id="wm", kind="walmart", base_url="https://x")
    with pytest.raises(SignatureError, match="not configured"):
        INBOUND.verify(bare, {"authorization": b64("", BODY)}, BODY)


def test_the_simulators_signing_matches_the_adapter() -> None:
    for sub in (Subscription("hmac", "X-S", SECRET), Subscription("hmac", "X-S", SECRET, encoding="hex")):
        body, headers = sub.signed({"a": 1})
        keys = {"auth_header_name": "X-S", "hmac_encoding": sub.encoding}
        INBOUND.verify(channel(**keys), {k.lower(): v for k, v in headers.items()}, body)


# -- normalisation ------------------------------------------------------------------------------


def line(n: int, sku: str, value: Any, unit: str = "EACH", **extra: Any) -> dict[str, Any]:
    return {
        "lineNumber": str(n),
        "sku": sku,
        "quantity": {"unitOfMeasure": unit, "measurementValue": value},
        **extra,
    }


def event(kind: str, lines: list[dict[str, Any]], sub: str | None = None, **source: Any) -> bytes:
    payload: dict[str, Any] = {
        "purchaseOrderId": "1234567890123",
        "customerOrderId": "C1",
        "orderLines": lines,
    }
    if sub:
        payload["subEventType"] = sub
    src = {"eventType": kind, "eventTime": "2026-12-06T08:00:00.250Z", "eventId": "evt-1", **source}
    return orjson.dumps({"source": src, "payload": payload})


def normalise(body: bytes) -> Any:
    return INBOUND.normalise(channel(), {}, body)


def test_po_created_is_an_order_placed_with_lines_summed_per_sku() -> None:
    out = normalise(event("PO_CREATED", [line(1, "A", "2"), line(2, "B", "1"), line(3, "A", "1.0")]))
    [placed] = out.events
    assert placed["kind"] == "order_placed" and placed["key"] == "walmart:evt-1"
    assert placed["order_id"] == "1234567890123" and placed["channel"] == "wm"
    assert placed["version"] == 1796544000250 and placed["at"] == 1796544000.25
    assert [(x["sku"], x["quantity"]) for x in placed["lines"]] == [("A", 3), ("B", 1)]


def test_order_updates_po_created_and_epoch_ms_event_time() -> None:
    [placed] = normalise(
        event("ORDER_UPDATES", [line(1, "A", "4")], "PO_CREATED", eventTime=1796544000999)
    ).events
    assert placed["kind"] == "order_placed" and placed["version"] == 1796544000999


def test_auto_cancelled_lines_update_the_order_to_what_is_still_open() -> None:
    lines = [
        line(1, "A", "2"),
        line(2, "A", "1", orderLineStatus="Cancelled"),
        line(3, "B", "1", status="CANCELLED"),
    ]
    out = normalise(event("ORDER_UPDATES", lines, "PO_LINE_AUTOCANCELLED"))
    [updated] = out.events
    assert updated["kind"] == "order_updated" and updated["reason"] == "lines auto-cancelled"
    assert [(x["sku"], x["quantity"]) for x in updated["lines"]] == [("A", 2), ("B", 0)]


def test_every_line_auto_cancelled_is_a_cancel_that_restocks() -> None:
    lines = [line(1, "A", "2", orderLineStatus="Cancelled"), line(2, "B", "1", orderLineStatus="Cancelled")]
    [cancelled] = normalise(event("ORDER_UPDATES", lines, "PO_LINE_AUTOCANCELLED")).events
    assert cancelled["kind"] == "order_cancelled" and cancelled["restock"] is True
    assert cancelled["skus"] == ["A", "B"] and cancelled["key"] == "walmart:evt-1:cancelled"


def test_fraud_cancel_voids_the_whole_order() -> None:
    [cancelled] = normalise(event("ORDER_UPDATES", [line(1, "A", "2")], "FRAUD_CANCEL")).events
    assert (
        cancelled["kind"] == "order_cancelled" and cancelled["restock"] is True and cancelled["skus"] == ["A"]
    )


def test_intent_to_cancel_holds_the_units() -> None:
    out = normalise(event("ORDER_UPDATES", [line(1, "A", "2")], "INTENT_TO_CANCEL"))
    assert out.events == [] and "held" in out.note


@pytest.mark.parametrize(
    ("body", "note"),
    [
        (event("ORDER_UPDATES", [line(1, "A", "1")], "PO_SHIPPED"), "ignored sub-event"),
        (event("RETURN_CREATED", [line(1, "A", "1")]), "ignored event type"),
    ],
)
def test_other_events_are_answered_and_ignored(body: bytes, note: str) -> None:
    out = normalise(body)
    assert out.events == [] and note in out.note


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([line(1, "A", 2)], "whole number string"),
        ([line(1, "A", "1.5")], "whole number string"),
        ([line(1, "A", "two")], "whole number string"),
        ([line(1, "A", "-1")], "whole number string"),
        ([line(1, "A", "1", unit="LB")], "unitOfMeasure"),
        ([line(1, "", "1")], "sku missing"),
        ([], "non-empty list"),
    ],
)
def test_malformed_lines_are_refused_with_a_reason(lines: list[dict[str, Any]], reason: str) -> None:
    with pytest.raises(AdapterError, match=reason):
        normalise(event("PO_CREATED", lines))


def test_an_event_without_its_id_or_time_is_refused() -> None:
    with pytest.raises(AdapterError, match="eventId"):
        normalise(event("PO_CREATED", [line(1, "A", "1")], eventId=""))
    with pytest.raises(AdapterError, match="eventTime"):
        normalise(event("PO_CREATED", [line(1, "A", "1")], eventTime="yesterday"))
