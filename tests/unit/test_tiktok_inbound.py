"""TikTok Shop inbound: ``Authorization`` = hex HMAC-SHA256(app_secret, app_key + raw body) checked
over the raw bytes (the shared vector, each invalid form), then the notified order, fetched,
normalised into a versioned document per status; and Get Order Detail against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.base import AdapterError, SignatureError
from adapters.sim.core import serve_in_thread
from adapters.tiktok import inbound, orders
from adapters.tiktok.inbound import TikTokInbound
from adapters.tiktok.signing import verify_webhook, webhook_signature
from adapters.tiktok.sim.app import TikTokSimulator
from engine.config import ChannelConfig

VECTOR = json.loads((Path(__file__).parents[1] / "data" / "signatures.json").read_text())["tiktok_webhook"]
KEY, SECRET = "app-key", "app-secret"


def channel(url: str = "https://open-api.tiktokglobalshop.com", **extra: Any) -> ChannelConfig:
    keys = {"app_key": KEY, "app_secret": SECRET, "refresh_token": "sim-refresh-token"}
    keys |= {"shop_cipher": "ROW_sim-cipher", "token_url": f"{url}/api/v2/token/refresh"}
    return ChannelConfig(id="tt", kind="tiktok", base_url=url, **keys | extra)


def note(kind: int = 1, order_id: str = "576001", nid: str = "7300000000000000001", **kw: Any) -> bytes:
    body = {"type": kind, "tts_notification_id": nid, "shop_id": "7494", "timestamp": 1_790_000_000}
    return orjson.dumps(body | {"data": {"order_id": order_id, "order_status": "AWAITING_SHIPMENT"}} | kw)


def order(status: str, units: list[tuple[str, str]], updated: int = 1_790_000_100) -> dict[str, Any]:
    """units: (seller_sku, display_status) per line item."""
    items = [{"id": f"L{i}", "seller_sku": s, "display_status": d} for i, (s, d) in enumerate(units)]
    return {
        "id": "576001",
        "status": status,
        "create_time": 1_790_000_000,
        "update_time": updated,
        "line_items": items,
    }


def decide(doc: dict[str, Any], body: bytes | None = None) -> tuple[list[dict[str, Any]], str]:
    got = inbound.normalise("tt", None, body or note(), lambda oid: doc)
    return got.events, got.note


def test_the_shared_vector_verifies() -> None:
    body = VECTOR["body"].encode()
    assert webhook_signature(VECTOR["app_key"], VECTOR["app_secret"], body) == VECTOR["expected"]
    verify_webhook(VECTOR["app_key"], VECTOR["app_secret"], {"authorization": VECTOR["expected"]}, body)
    upper = {"authorization": VECTOR["expected"].upper()}  # hex in either case is the same digest
    verify_webhook(VECTOR["app_key"], VECTOR["app_secret"], upper, body)


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({}, b"{}", "missing"),
        ({"authorization": ""}, b"{}", "missing"),
        ({"authorization": "Bearer " + "0" * 64}, b"{}", "not a hex"),
        ({"authorization": webhook_signature(KEY, "other-secret", b"{}")}, b"{}", "does not match"),
        ({"authorization": webhook_signature("other-key", SECRET, b"{}")}, b"{}", "does not match"),
        ({"authorization": webhook_signature(KEY, SECRET, b"{}")}, b"{ }", "does not match"),
        ({"authorization": webhook_signature(KEY, SECRET, b"{}")[:-1]}, b"{}", "not a hex"),
    ],
    ids=["absent", "empty", "bearer", "wrong-secret", "wrong-app-key", "altered-body", "truncated"],
)
def test_each_invalid_signature_is_refused(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        TikTokInbound().verify(channel(), headers, body)


def test_unset_credentials_refuse_everything() -> None:
    signed = {"authorization": webhook_signature("", "", b"{}")}
    with pytest.raises(SignatureError, match="set app_key"):
        TikTokInbound().verify(ChannelConfig(id="tt", kind="tiktok"), signed, b"{}")


def test_a_paid_order_is_placed_keyed_by_notification_and_version() -> None:
    [event], _ = decide(
        order("AWAITING_SHIPMENT", [("A", "AWAITING_SHIPMENT")] * 2 + [("B", "AWAITING_SHIPMENT")])
    )
    assert event["kind"] == "order_placed" and event["order_id"] == "576001"
    assert (
        event["key"] == "tiktok:7300000000000000001:1790000100000" and event["version"] == 1_790_000_100_000
    )
    assert {(line["sku"], line["quantity"]) for line in event["lines"]} == {("A", 2), ("B", 1)}


@pytest.mark.parametrize("status", ["UNPAID", "ON_HOLD", "AWAITING_SHIPMENT"])
def test_first_statuses_are_placed(status: str) -> None:
    [event], _ = decide(order(status, [("A", status)]))
    assert event["kind"] == "order_placed"


@pytest.mark.parametrize(
    "status", ["PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED"]
)
def test_later_statuses_update_holding_the_same_units(status: str) -> None:
    [event], _ = decide(order(status, [("A", status)] * 3))
    assert event["kind"] == "order_updated" and event["lines"] == [{"sku": "A", "quantity": 3, "kept": 0}]


def test_a_cancelled_line_item_is_a_partial_cancel() -> None:
    doc = order("AWAITING_SHIPMENT", [("A", "AWAITING_SHIPMENT"), ("A", "CANCELLED"), ("B", "CANCELLED")])
    [event], _ = decide(doc, note(kind=11))
    assert event["kind"] == "order_updated" and "lines cancelled" in event["reason"]
    assert {(line["sku"], line["quantity"]) for line in event["lines"]} == {("A", 1), ("B", 0)}


def test_cancelled_cancels_with_restock() -> None:
    [event], note_ = decide(order("CANCELLED", [("A", "CANCELLED"), ("B", "CANCELLED")]))
    assert event["kind"] == "order_cancelled" and event["restock"] is True and note_ == "cancelled"
    assert sorted(event["skus"]) == ["A", "B"] and event["version"] == 1_790_000_100_000


def test_a_redelivery_finding_the_order_moved_on_is_a_newer_version_under_its_own_key() -> None:
    [first], _ = decide(order("AWAITING_SHIPMENT", [("A", "AWAITING_SHIPMENT")]))
    [later], _ = decide(order("CANCELLED", [("A", "CANCELLED")], updated=1_790_000_200))
    assert first["key"] != later["key"] and later["version"] > first["version"]


def test_other_types_unknown_statuses_and_lines_without_sku_decide_nothing() -> None:
    def boom(order_id: str) -> dict[str, Any]:
        raise AssertionError("no fetch for an ignored type")

    assert inbound.normalise("tt", None, note(kind=4), boom).note == "ignored notification type 4"
    assert decide(order("SOMETHING_NEW", [("A", "x")]))[1] == "ignored order status SOMETHING_NEW"
    assert decide(order("AWAITING_SHIPMENT", [("", "AWAITING_SHIPMENT")]))[1] == "no line with a seller SKU"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "JSON object"),
        (orjson.dumps({"type": 1, "data": {"order_id": "1"}}), "tts_notification_id"),
        (orjson.dumps({"type": "1", "tts_notification_id": "n"}), "type must be"),
        (orjson.dumps({"type": 1, "tts_notification_id": "n", "data": {}}), "data.order_id"),
    ],
)
def test_malformed_notifications_are_refused_naming_why(body: bytes, reason: str) -> None:
    with pytest.raises(AdapterError, match=reason):
        inbound.normalise("tt", None, body, lambda oid: {})


def test_another_shops_notification_is_refused() -> None:
    with pytest.raises(AdapterError, match="shop_id"):
        inbound.normalise("tt", "9999", note(), lambda oid: {})


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[TikTokSimulator, str]]:
    sim = TikTokSimulator(app_key=KEY, app_secret=SECRET)
    url, stop = serve_in_thread(sim.app)
    yield sim, url
    stop()


def test_get_order_detail_fetches_the_order_signed(served: tuple[TikTokSimulator, str]) -> None:
    sim, url = served
    sim.seed([{"sku": "A", "quantity": 5}])
    placed = sim.store.try_sell([("A", 2)])
    assert placed is not None
    body, headers = sim.render_webhook(placed)
    got = TikTokInbound().normalise(channel(url), {}, body)
    [event] = got.events
    assert event["lines"] == [{"sku": "A", "quantity": 2, "kept": 0}]
    TikTokInbound().verify(channel(url), {k.lower(): v for k, v in headers.items()}, body)


def test_a_fetch_the_simulator_refuses_is_an_adapter_error(served: tuple[TikTokSimulator, str]) -> None:
    _, url = served
    with pytest.raises(AdapterError, match="not found"):
        orders.fetch_sync(channel(url), "no-such-order")
    with pytest.raises(AdapterError, match="code 106011"):  # another shop's cipher: refused whole
        orders.fetch_sync(channel(url, shop_cipher="ROW_other"), "no-such-order")
