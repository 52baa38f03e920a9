"""The shard link's batch check (``actors.link_events``): what the gateway would refuse or change
is refused; what it produces, and what the system's own callers send, passes."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from actors.link_events import MAX_ID, check_batch
from engine.events import validate_events
from engine.partition import by_owner
from engine.routing import ShardMap


def check(events: Any) -> None:
    asyncio.run(check_batch(orjson.dumps(events)))


def placed(*lines: dict[str, Any], key: str = "shop:1") -> dict[str, Any]:
    return {"kind": "order_placed", "key": key, "channel": "shop", "order_id": "1001", "lines": list(lines)}


CANONICAL = validate_events(
    [
        placed({"sku": "A", "quantity": 2}),
        {"kind": "order_updated", "key": "u", "channel": "shop", "order_id": "1", "version": 3,
         "lines": [{"sku": "A", "quantity": 0, "kept": 1}]},
        {"kind": "order_cancelled", "key": "c", "channel": "shop", "order_id": "1", "skus": ["A"]},
        {"kind": "stock_set", "key": "s", "sku": "A", "quantity": 7},
        {"kind": "stock_adjusted", "key": "j", "sku": "A", "delta": -3},
        {"kind": "channel_quantity_reported", "key": "r", "channel": "shop", "sku": "A", "quantity": 4},
        {"kind": "order_reserve", "key": "t:order_reserve", "txn": "t", "channel": "own", "order_id": "9",
         "lines": [{"sku": "A", "quantity": 1}]},
        {"kind": "order_commit", "key": "t:order_commit", "txn": "t", "channel": "own", "order_id": "9",
         "skus": ["A"]},
        {"kind": "order_release", "key": "t:order_release", "txn": "t", "channel": "own", "order_id": "9",
         "skus": ["A"]},
    ]
)  # fmt: skip


def test_every_kind_the_gateway_produces_passes() -> None:
    check(CANONICAL)


def test_events_without_their_defaults_and_with_grown_keys_pass() -> None:
    check([placed({"sku": "A", "quantity": 1}, key="shop-us:" + "k" * 400)])  # a scoped 400-char key
    check([{**CANONICAL[7], "txn": "own:" + "t" * 400, "key": "own:" + "t" * 400 + ":order_commit"}])


@pytest.mark.parametrize(
    ("events", "why"),
    [
        ([placed({"sku": "A", "quantity": -5})], "greater than or equal to 0"),
        ([placed({"sku": "A", "quantity": "5"})], "validated form"),  # coerced at the edge, not here
        ([placed({"sku": "A", "quantity": -5}, {"sku": "B", "quantity": 1})], "validated form"),  # set aside
        ([{**CANONICAL[3], "quantity": 10**13}], "less than or equal to"),
        ([{**CANONICAL[4], "delta": True}], "validated form"),
        ([{**CANONICAL[3], "sku": "a/b"}], "must not contain"),
        ([{**CANONICAL[3], "extra": 1}], "Extra inputs"),
        ([{**CANONICAL[3], "kind": "stock_stolen"}], "does not match any of the expected tags"),
        ([{**CANONICAL[3], "key": "k" * (MAX_ID + 1)}], "key must be a string"),
        ([{**CANONICAL[3], "key": 5}], "key must be a string"),
        ({"kind": "stock_set"}, "a list of events"),
        ([CANONICAL[3], [1]], "a list of events"),
    ],
)
def test_what_the_gateway_would_refuse_or_change_is_refused(events: Any, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check(events)


def test_a_batch_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        asyncio.run(check_batch(b"\xff{"))


def test_the_parts_of_an_event_split_across_shards_pass() -> None:
    shards = ShardMap(4, 1024)
    lines = [{"sku": f"SKU-{i}", "quantity": 1, "kept": 0} for i in range(40)]
    [event] = validate_events([placed(*lines)])
    parts = by_owner([event], shards.shard, shards.vshard)
    assert len(parts) > 1 and all("vss" in part for items in parts.values() for _, part in items)
    for items in parts.values():
        check([part for _, part in items])


def test_routing_fields_are_held_to_their_shape() -> None:
    part = {**CANONICAL[2], "fp": "ab" * 12, "vss": [1, 7]}
    check([part])
    for bad in ({"fp": 5}, {"vss": [-1]}, {"vss": ["1"]}, {"vss": 3}):
        with pytest.raises(ValueError, match="refused"):
            check([{**part, **bad}])
