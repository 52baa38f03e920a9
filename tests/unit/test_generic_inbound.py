"""Generic normalisation: the configured paths and statuses as versioned order documents, keys,
and refusals that name the configured path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.base import AdapterError
from adapters.generic.example import example_channel
from adapters.generic.inbound import GenericInbound
from adapters.generic.orders import channel_order, moment
from engine.config import ChannelConfig

ADAPTER = GenericInbound()
CHANNEL = ChannelConfig.model_validate(example_channel("acme", "http://sim", "k", "t"))
T0 = "2026-03-01T10:00:00.000Z"
T0_MS = 1772359200000


def delivery(status: Any = "paid", items: Any = None, event: Any = "e-1", **order: Any) -> bytes:
    lines = [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1, "refunded_unrestocked": 1}]
    body = {
        "event": {"id": event},
        "data": {
            "order": {
                "id": 991,
                "status": status,
                "created_at": T0,
                "updated_at": T0,
                "items": items or lines,
            }
            | order
        },
    }
    return orjson.dumps(body)


def normalise(body: bytes, channel: ChannelConfig = CHANNEL) -> Any:
    return ADAPTER.normalise(channel, {}, body)


def test_a_paid_order_is_placed_with_its_lines_version_and_event_key() -> None:
    [event] = normalise(delivery()).events
    assert event["kind"] == "order_placed" and event["key"] == "generic:e-1"
    assert event["order_id"] == "991" and event["version"] == T0_MS and event["at"] == T0_MS / 1000
    assert event["lines"] == [{"sku": "A", "quantity": 2, "kept": 0}, {"sku": "B", "quantity": 1, "kept": 1}]


@pytest.mark.parametrize(
    ("status", "kind", "restock"),
    [
        ("edited", "order_updated", None),
        ("cancelled", "order_cancelled", True),
        ("voided", "order_cancelled", False),
    ],
)
def test_statuses_pick_the_event(status: str, kind: str, restock: bool | None) -> None:
    [event] = normalise(delivery(status, updated_at="2026-03-01T10:05:00Z")).events
    assert event["kind"] == kind and event["version"] == T0_MS + 300_000
    if restock is None:
        assert event["reason"] == status
    else:
        assert event["restock"] is restock and event["skus"] == ["A", "B"]


def test_ignored_and_unknown_statuses_move_nothing_unless_refused() -> None:
    assert normalise(delivery("pending")).note == "ignored status 'pending'"
    assert normalise(delivery("teleported")).events == []
    inbound = CHANNEL.inbound.model_dump() | {"unknown_status": "refused"}  # type: ignore[attr-defined]
    strict = ChannelConfig.model_validate(
        example_channel("acme", "http://sim", "k", "t") | {"inbound": inbound}
    )
    with pytest.raises(AdapterError, match="'teleported' is not in statuses"):
        normalise(delivery("teleported"), strict)


def test_lines_of_one_sku_are_summed_and_lines_without_one_are_skipped() -> None:
    lines = [
        {"sku": "A", "quantity": 2},
        {"sku": "A", "quantity": 0},
        {"sku": None, "quantity": 4},
        {"quantity": 1},
    ]
    result = normalise(delivery(items=lines))
    assert result.events[0]["lines"] == [{"sku": "A", "quantity": 2, "kept": 0}]
    assert result.note == "skipped 2 lines without a SKU"


def test_without_an_event_id_the_key_is_the_order_state() -> None:
    table = example_channel("acme", "http://sim", "k", "t")
    table["inbound"] = {k: v for k, v in table["inbound"].items() if k != "event_id"}
    [event] = normalise(delivery(), ChannelConfig.model_validate(table)).events
    assert event["key"] == f"generic:991:{T0_MS}:placed"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1]", "JSON object"),
        (orjson.dumps({"data": {"order": "x"}}), r"\$.data.order \(order\) must be an object"),
        (delivery(event=None), r"\$.event.id \(event_id\)"),
        (delivery(id=True), r"\$.id \(order_id\)"),
        (delivery(updated_at="yesterday"), r"\$.updated_at \(version\) must be a iso8601 time"),
        (delivery(status=3.5), r"\$.status \(status\)"),
        (delivery(items=[{"sku": "A", "quantity": -1}]), r"line 0: \$.quantity \(quantity\)"),
        (delivery(items=[{"sku": "A", "quantity": "2"}]), r"line 0: \$.quantity \(quantity\)"),
        (delivery(items=[{"sku": 5, "quantity": 1}]), r"line 0: \$.sku \(sku\) must be a string"),
        (delivery(items=[{"sku": "A", "quantity": 1, "refunded_unrestocked": True}]), r"\(kept\)"),
    ],
)
def test_malformed_deliveries_name_the_configured_path(body: bytes, reason: str) -> None:
    with pytest.raises(AdapterError, match=reason):
        normalise(body)


def test_time_formats() -> None:
    assert moment("2026-03-01T10:00:00Z", "iso8601") == T0_MS / 1000
    assert moment(1772359200, "unix_s") == moment("1772359200", "unix_s") == T0_MS / 1000
    assert moment(T0_MS, "unix_ms") == T0_MS / 1000
    assert moment(True, "unix_s") is None and moment(-1, "unix_ms") is None and moment("x", "unix_s") is None


def test_a_listed_order_is_the_same_document() -> None:
    order = orjson.loads(delivery("voided"))["data"]["order"]
    found = channel_order(CHANNEL.inbound, order)  # type: ignore[attr-defined]
    assert found is not None and found.order_id == "991" and found.version == T0_MS
    assert found.lines == (("A", 2), ("B", 1)) and found.kept == (0, 1)
    assert found.cancelled and not found.restock
    assert channel_order(CHANNEL.inbound, order | {"status": "pending"}) is None  # type: ignore[attr-defined]
    assert channel_order(CHANNEL.inbound, {"id": 1}) is None  # type: ignore[attr-defined]
