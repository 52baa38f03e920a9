"""The Shopify adapter's pure parts: the pinned version and its warnings, the idempotent conditional
request, and how an answer's userErrors sort the SKUs (no network)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from actors.runtime import kind_warnings
from adapters.base import ListingUpdate, compare_and_set, startup_warnings
from adapters.shopify.outbound import (
    DEFAULT_API_VERSION,
    SUPPORTED_VERSIONS,
    ShopifyOutbound,
    idempotency_key,
    version_warnings,
)
from engine.config import ChannelConfig, ConfigError, load_config

IDS = {"inventory_item_id": "gid://shopify/InventoryItem/7", "location_id": "gid://shopify/Location/1"}


def channel(**extra: Any) -> ChannelConfig:
    fields = {"id": "shop", "kind": "shopify", "base_url": "https://x.example", "access_token": "t"}
    return ChannelConfig.model_validate(fields | extra)


def body_of(request: httpx.Request) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(request.content)
    return body


def key_of(request: httpx.Request) -> str:
    m = re.search(r'@idempotent\(key: "([^"]+)"\)', body_of(request)["query"])
    assert m is not None, "no @idempotent directive"
    return m.group(1)


def test_the_default_version_is_the_newest_stable_and_old_ones_are_named() -> None:
    assert DEFAULT_API_VERSION == SUPPORTED_VERSIONS[-1] == "2026-10"
    assert version_warnings("2026-10") == [] and version_warnings("2026-04") == []
    (old,) = version_warnings("2025-01")
    assert "older than the oldest version Shopify still serves (2026-04)" in old and "2026-10" in old
    assert version_warnings("2027-01") and version_warnings("unstable") and version_warnings("2026-13")
    assert startup_warnings(channel(location_id="1")) == []
    (warning,) = startup_warnings(channel(location_id="1", api_version="2025-01"))
    assert warning.startswith("channel shop: api_version 2025-01")
    assert any("no location_id" in w for w in kind_warnings([channel()]))


def test_the_request_is_idempotent_conditional_and_pinned() -> None:
    adapter = ShopifyOutbound().for_channel(channel(location_id="1"))
    update = ListingUpdate("A", 7, 3, IDS, expected=9, round=0)
    request = adapter.build(channel(location_id="1"), [update])
    assert str(request.url) == "https://x.example/admin/api/2026-10/graphql.json"
    body = body_of(request)
    (q,) = body["variables"]["input"]["quantities"]
    assert q == {
        "inventoryItemId": IDS["inventory_item_id"],
        "locationId": IDS["location_id"],
        "quantity": 7,
        "changeFromQuantity": 9,
    }
    assert "ignoreCompareQuantity" not in body["variables"]["input"] and "compareQuantity" not in q
    # The same update is the same request (same key); a new round or version is a new one.
    assert key_of(request) == key_of(adapter.build(channel(location_id="1"), [update]))
    assert key_of(request) != key_of(
        adapter.build(channel(location_id="1"), [ListingUpdate("A", 7, 3, IDS, 9, 1)])
    )
    assert key_of(request) != key_of(
        adapter.build(channel(location_id="1"), [ListingUpdate("A", 7, 4, IDS, 9, 0)])
    )
    assert key_of(request) != key_of(adapter.build(channel(id="other", location_id="1"), [update]))
    # No belief: the catalog's reading, else 0; never the opt-out null.
    for ids, guess in (({**IDS, "listed": 4}, 4), (IDS, 0)):
        (q,) = body_of(adapter.build(channel(), [ListingUpdate("A", 7, 3, ids)]))["variables"]["input"][
            "quantities"
        ]
        assert q["changeFromQuantity"] == guess
    pinned = ShopifyOutbound().for_channel(channel(api_version="2026-07"))
    assert "/admin/api/2026-07/" in str(pinned.build(channel(api_version="2026-07"), [update]).url)


def test_a_push_of_zero_opts_out_of_the_compare_and_only_it() -> None:
    """0 is below any listing a channel's unheard sale could leave, so a sold-out push needs no
    compare; a conditional one failed whenever the channel's own shoppers were still buying."""
    adapter = ShopifyOutbound().for_channel(channel(location_id="1"))
    updates = [ListingUpdate("A", 0, 3, IDS, expected=9, round=0), ListingUpdate("B", 1, 3, IDS, expected=9)]
    zero, one = body_of(adapter.build(channel(location_id="1"), updates))["variables"]["input"]["quantities"]
    assert "changeFromQuantity" in zero and zero["changeFromQuantity"] is None
    assert one["changeFromQuantity"] == 9


def test_the_key_does_not_depend_on_batch_order() -> None:
    a, b = ListingUpdate("A", 1, 1, IDS, 2), ListingUpdate("B", 1, 1, {**IDS, "inventory_item_id": "8"}, 2)
    q = [{"x": 1}, {"x": 2}]
    assert idempotency_key("c", q, [a, b]) == idempotency_key("c", q[::-1], [b, a])


def answer(user_errors: list[dict[str, Any]], group: Any) -> httpx.Response:
    payload = {"inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": user_errors}}
    return httpx.Response(200, json={"data": payload})


def err(code: str, index: int | None) -> dict[str, Any]:
    field = None if index is None else ["input", "quantities", str(index), "changeFromQuantity"]
    return {"code": code, "field": field, "message": code.lower()}


@pytest.mark.parametrize(
    ("errors", "group", "ok", "stale", "retry", "failed"),
    [
        ([err("CHANGE_FROM_QUANTITY_STALE", 1)], None, [], ["B"], [], []),
        ([err("CHANGE_FROM_QUANTITY_STALE", 1)], {"changes": []}, ["A", "C"], ["B"], [], []),
        ([err("CHANGE_FROM_QUANTITY_STALE", 0), err("INVALID_LOCATION", 0)], None, [], [], [], ["A"]),
        ([err("IDEMPOTENCY_KEY_PARAMETER_MISMATCH", None)], None, [], ["A", "B", "C"], [], []),
        ([err("IDEMPOTENCY_CONCURRENT_REQUEST", None)], None, [], [], ["A", "B", "C"], []),
        ([], {"changes": []}, ["A", "B", "C"], [], [], []),
    ],
)
def test_user_errors_sort_every_sku_once(
    errors: list[dict[str, Any]],
    group: Any,
    ok: list[str],
    stale: list[str],
    retry: list[str],
    failed: list[str],
) -> None:
    updates = [ListingUpdate(s, 1, 1, IDS, 1) for s in "ABC"]
    result = ShopifyOutbound().parse(answer(errors, group), updates)
    assert (sorted(result.ok), result.stale, sorted(result.retry), sorted(result.failed)) == (
        ok,
        stale,
        retry,
        failed,
    )
    # Whatever the call did not write for another SKU's refusal goes again at once.
    assert sorted(result.requeue) == sorted(set("ABC") - {*ok, *stale, *retry, *failed})


def test_read_listed_reads_the_location_level_and_retries_a_throttled_read() -> None:
    calls: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        calls.append(body)
        if len(calls) == 1:
            return httpx.Response(200, json={"errors": [{"message": "Throttled"}]})
        level = {"quantities": [{"name": "available", "quantity": 4}]}
        nodes = [
            {"id": body["variables"]["ids"][0], "inventoryLevel": level},
            {"id": "x", "inventoryLevel": None},
        ]
        return httpx.Response(200, json={"data": {"nodes": nodes}})

    async def no_wait(_: float) -> None:
        return None

    adapter = ShopifyOutbound(sleep=no_wait)
    assert compare_and_set(adapter) is adapter and adapter.read_cost(2) > 0
    updates = [ListingUpdate("A", 1, 1, IDS), ListingUpdate("B", 1, 1, {**IDS, "inventory_item_id": "9"})]

    async def run() -> dict[str, int | None]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            readings, _ = await adapter.read_listed(client, channel(location_id="1"), updates)
            return readings

    assert asyncio.run(run()) == {"A": 4, "B": None}
    assert calls[-1]["variables"] == {
        "ids": [IDS["inventory_item_id"], "gid://shopify/InventoryItem/9"],
        "location": "gid://shopify/Location/1",
    }
    assert "inventoryLevel(locationId: $location)" in calls[-1]["query"]


def test_api_version_and_location_are_typed_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[channels]]\nid = "shop-1"\nkind = "shopify"\napi_version = "2026-13"\n')
    with pytest.raises(ConfigError, match=r"channels\.shop-1: .*api_version: String should match pattern"):
        load_config(path)
    path.write_text('[[channels]]\nid = "shop-1"\nkind = "shopify"\nlocation_id = 7\n')
    env = {"SKUSYNC_CHANNEL_SHOP_1_API_VERSION": "2026-07"}
    (shop,) = load_config(path, env=env).channels
    assert ShopifyOutbound().for_channel(shop).api_version == "2026-07"
    assert startup_warnings(shop) == []
    (default,) = load_config(path).channels
    assert ShopifyOutbound().for_channel(default).api_version == DEFAULT_API_VERSION
    url = str(
        ShopifyOutbound()
        .for_channel(default)
        .build(default, [ListingUpdate("A", 1, 1, {"inventory_item_id": "9"})])
        .url
    )
    assert url.endswith("/admin/api/2026-10/graphql.json")
