"""Generic pushes: the request templates filled in, matched back by the simulator's reading, and
the answers classified."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ListingUpdate
from adapters.generic.example import example_channel
from adapters.generic.keys import PushSpec
from adapters.generic.outbound import GenericOutbound, catalog_entries
from adapters.generic.sim.push import PushRefused, parse_push
from adapters.generic.template import match, render
from engine.config import ChannelConfig

TABLE = example_channel("acme", "https://api.acme.example/", "k", "tok")
CHANNEL = ChannelConfig.model_validate(TABLE)
ADAPTER = GenericOutbound().for_channel(CHANNEL)


def updates(n: int) -> list[ListingUpdate]:
    return [ListingUpdate(f"S/{i}", 10 + i, 1, {"id": f"L{i}"}) for i in range(n)]


def channel_with(push: dict[str, Any]) -> ChannelConfig:
    return ChannelConfig.model_validate(TABLE | {"push": push})


def test_a_batch_fills_the_body_template() -> None:
    request = ADAPTER.build(CHANNEL, updates(2))
    assert request.method == "POST" and str(request.url) == "https://api.acme.example/v2/inventory/batch"
    assert request.headers["authorization"] == "Bearer tok"
    assert orjson.loads(request.content) == {
        "warehouse": "main",
        "updates": [
            {"sku": "S/0", "listing_id": "L0", "available": 10},  # a whole "{quantity}" is the number
            {"sku": "S/1", "listing_id": "L1", "available": 11},
        ],
    }
    assert ADAPTER.max_batch == 50
    with pytest.raises(ValueError, match=r"1\.\.50"):
        ADAPTER.build(CHANNEL, updates(51))


def test_one_sku_a_request_in_the_url_with_its_own_auth_header() -> None:
    push = {
        "method": "PUT",
        "url": "/stock/{sku}",
        "body": {"stock": "{quantity}", "note": "set to {quantity} for {sku}"},
        "auth_header": "X-Api-Key",
        "auth_scheme": "",
    }
    channel = channel_with(push)
    adapter = GenericOutbound().for_channel(channel)
    request = adapter.build(channel, updates(1))
    assert request.method == "PUT" and request.url.raw_path == b"/stock/S%2F0"  # the SKU is one segment
    assert request.headers["x-api-key"] == "tok" and "authorization" not in request.headers
    assert orjson.loads(request.content) == {"stock": 10, "note": "set to 10 for S/0"}


def test_the_simulator_reads_back_what_was_rendered_and_refuses_anything_else() -> None:
    spec: PushSpec = CHANNEL.push  # type: ignore[attr-defined]
    body = orjson.loads(ADAPTER.build(CHANNEL, updates(3)).content)
    assert parse_push(spec, body, {}, 50) == [("S/0", "L0", 10), ("S/1", "L1", 11), ("S/2", "L2", 12)]
    with pytest.raises(PushRefused, match=r"1\.\.2 items"):
        parse_push(spec, body, {}, 2)
    refused = [
        body | {"extra": 1},
        body | {"warehouse": "other"},
        {"warehouse": "main", "updates": {"sku": "A"}},
        body | {"updates": [{"sku": "A", "listing_id": "L", "available": "5"}]},
        body | {"updates": [{"sku": "A", "available": 5}]},
    ]
    for bad in refused:
        with pytest.raises(PushRefused):
            parse_push(spec, bad, {}, 50)


def test_match_inverts_render_for_strings_with_text_around() -> None:
    template = {"path": "inv/{sku}/set", "n": "{quantity}", "fixed": [1, "a"]}
    values = {"sku": "X-1", "quantity": 4}
    assert match(template, render(template, values)) == values | {"quantity": 4}
    with pytest.raises(ValueError, match=r"\$.path"):
        match(template, {"path": "inv/X-1", "n": 4, "fixed": [1, "a"]})
    with pytest.raises(ValueError, match=r"\$.fixed\[0\]"):
        match(template, {"path": "inv/X/set", "n": 4, "fixed": [True, "a"]})


def response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body if body is not None else {})
    request = httpx.Request("POST", "https://api.acme.example/v2/inventory/batch")
    return httpx.Response(status, content=content, headers=headers, request=request)


def test_answers_are_classified_per_sku() -> None:
    batch = updates(3)
    skus = [u.sku for u in batch]
    throttled = ADAPTER.parse(response(429, headers={"Retry-After": "7"}), batch)
    assert throttled.retry == skus and throttled.retry_after_s == 7
    assert ADAPTER.parse(response(429), batch).retry_after_s == 1.0
    assert ADAPTER.parse(response(503), batch).retry == skus
    assert set(ADAPTER.parse(response(401), batch).failed) == set(skus)  # a static token will not improve
    assert set(ADAPTER.parse(response(422), batch).failed) == set(skus)
    mixed = ADAPTER.parse(response(200, {"errors": [{"sku": "S/1", "message": "listing closed"}]}), batch)
    assert mixed.ok == ["S/0", "S/2"] and mixed.failed == {"S/1": "listing closed"}
    assert ADAPTER.parse(response(200, b"<html>"), batch).retry == skus  # refusals would be unreadable
    lenient = GenericOutbound().for_channel(channel_with(TABLE["push"] | {"errors": None}))
    assert lenient.parse(response(204, b""), batch).ok == skus


def test_catalog_entries_carry_id_and_listed_quantity() -> None:
    items = [
        {"sku": "A", "listing_id": "L1", "available": 3},
        {"sku": "B", "listing_id": 9},
        {"sku": "", "listing_id": "L3"},
        {"listing_id": "L4"},
    ]
    entries = catalog_entries(CHANNEL.catalog, items)  # type: ignore[attr-defined]
    assert entries == {"A": {"id": "L1", "listed": 3}, "B": {"id": 9}}


def test_start_up_warnings_name_what_cannot_work() -> None:
    assert ADAPTER.warnings(CHANNEL) == []
    bare = ChannelConfig.model_validate(TABLE | {"webhook_secret": "", "access_token": ""})
    found = ADAPTER.warnings(bare)
    assert len(found) == 2 and "no webhook_secret" in found[0] and "no access_token" in found[1]
    inbound_only = {k: v for k, v in TABLE.items() if k not in ("push", "catalog")}
    assert "no push table" in ADAPTER.warnings(ChannelConfig.model_validate(inbound_only))[0]
