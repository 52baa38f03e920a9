"""Flipkart outbound: update/inventory bodies (10 SKUs a call), per-SKU statuses mapped back to SKUs
(a 200 can hold failures), throttling and token answers; the reads' search bodies and shipments as
documents; the channel keys."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ListingUpdate
from adapters.flipkart.oauth import FlipkartTokens
from adapters.flipkart.orders import channel_order
from adapters.flipkart.outbound import PATH, FlipkartOutbound
from adapters.flipkart.reconcile import searches
from adapters.flipkart.sim.validate import filter_refusal
from engine.config import ChannelConfig

BASE = "http://127.0.0.1:9"
TOKEN = "fk-access-token"


def channel(**extra: Any) -> ChannelConfig:
    keys = {"app_id": "app", "app_secret": "secret", "base_url": BASE} | extra
    return ChannelConfig(id="fk", kind="flipkart", **keys)


def adapter(**extra: Any) -> FlipkartOutbound:
    tokens = FlipkartTokens(channel(), clock=lambda: 1000.0)
    tokens.adopt(httpx.Response(200, json={"access_token": TOKEN, "expires_in": 3600}))
    made = FlipkartOutbound(tokens=tokens)
    return made if not extra else FlipkartOutbound(tokens=tokens, **extra)


def update(sku: str, quantity: int = 5) -> ListingUpdate:
    return ListingUpdate(sku, quantity, 1, {"product_id": f"PRD{sku:0>13}", "location_id": "LOC1"})


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", BASE + PATH, headers={"authorization": f"Bearer {TOKEN}"})
    content = orjson.dumps(body) if body is not None else b""
    return httpx.Response(status, content=content, headers=headers, request=request)


def test_a_call_is_keyed_by_sku_with_absolute_quantities_at_the_location() -> None:
    request = adapter().build(channel(), [update("A", 7), update("B", 0)])
    assert request.method == "POST" and str(request.url) == BASE + "/sellers/listings/v3/update/inventory"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    assert orjson.loads(request.content) == {
        "A": {"product_id": "PRD000000000000A", "locations": [{"id": "LOC1", "inventory": 7}]},
        "B": {"product_id": "PRD000000000000B", "locations": [{"id": "LOC1", "inventory": 0}]},
    }


def test_a_call_carries_at_most_ten_skus() -> None:
    out = adapter()
    assert out.max_batch == 10
    out.build(channel(), [update(str(i)) for i in range(10)])
    with pytest.raises(ValueError, match=r"1\.\.10"):
        out.build(channel(), [update(str(i)) for i in range(11)])
    tuned = FlipkartOutbound().for_channel(channel(max_batch=3))
    assert tuned.max_batch == 3 and tuned.cost([update("A"), update("B")]) == 1.0


def test_a_listing_without_imported_ids_is_not_pushed_blind() -> None:
    with pytest.raises(ValueError, match="import the catalog"):
        adapter().build(channel(), [ListingUpdate("A", 1, 1, {})])


def test_each_sku_is_judged_by_its_own_status() -> None:
    updates = [update(s) for s in ("ok", "warn", "bad", "silent")]
    body = {
        "ok": {"status": "SUCCESS"},
        "warn": {"status": "WARNING", "errors": [{"severity": "WARNING", "description": "low price"}]},
        "bad": {"status": "FAILURE", "errors": [{"code": "E1", "description": "SKU does not exist"}]},
    }
    result = adapter().parse(answer(200, body), updates)
    assert result.ok == ["ok", "warn"]
    assert result.failed == {"bad": "FAILURE: E1: SKU does not exist"}
    assert result.retry == ["silent"]  # Flipkart did not say it was written


@pytest.mark.parametrize(
    ("status", "headers", "pause"),
    [(429, {"Retry-After": "3"}, 3.0), (429, None, 1.0), (500, None, None), (503, {"Retry-After": "2"}, 2.0)],
)
def test_throttles_and_server_errors_are_retried(
    status: int, headers: dict[str, str] | None, pause: float | None
) -> None:
    result = adapter().parse(answer(status, {"error": "x"}, headers), [update("A"), update("B")])
    assert result.retry == ["A", "B"] and result.retry_after_s == pause and not result.failed


def test_a_refused_token_is_dropped_and_the_skus_retried() -> None:
    out = adapter()
    result = out.parse(answer(401, {"error": "unauthorized"}), [update("A")])
    assert result.retry == ["A"]
    assert out.tokens is not None and out.tokens.token is None  # never sent again


def test_a_bad_request_fails_every_sku_of_the_call() -> None:
    result = adapter().parse(
        answer(400, {"message": "Max batch size allowed is 10"}), [update("A"), update("B")]
    )
    assert set(result.failed) == {"A", "B"} and "HTTP 400" in result.failed["A"]


def test_an_unreadable_200_is_retried() -> None:
    request = httpx.Request("POST", BASE + PATH)
    result = adapter().parse(httpx.Response(200, content=b"<html>", request=request), [update("A")])
    assert result.retry == ["A"]


# -- reads -----------------------------------------------------------------------------------------


def test_the_shipment_searches_are_ones_flipkart_accepts() -> None:
    bodies = searches(1_790_000_000.0, 1_790_000_600.0, 7)
    assert [b["filter"]["type"] for b in bodies] == [
        "preDispatch",
        "postDispatch",
        "cancelled",
        "cancelled",
        "cancelled",
    ]
    assert all(filter_refusal(b) == "" for b in bodies)
    assert bodies[0]["filter"]["modifiedDate"] == {
        "from": "2026-09-21T14:13:20.000Z",
        "to": "2026-09-21T14:23:20.000Z",
    }
    assert {b["filter"].get("cancellationType") for b in bodies[2:]} == {
        "sellerCancellation",
        "buyerCancellation",
        "marketplaceCancellation",
    }
    assert all(b["pagination"]["pageSize"] == 7 for b in bodies)


def test_a_listed_shipment_is_a_versioned_document() -> None:
    listed = {
        "shipmentId": "SHP-9",
        "updatedAt": "2026-09-01T12:00:00.000Z",
        "orderItems": [
            {"sku": "A", "quantity": 2.0, "status": "PACKED", "orderDate": "2026-09-01T11:00:00Z"},
            {"sku": "A", "quantity": 1, "status": "CANCELLED", "orderDate": "2026-09-01T11:00:00Z"},
            {"sku": "F", "quantity": 4, "status": "PACKED", "serviceProfile": "FBF"},
        ],
    }
    order = channel_order(listed)
    assert order is not None and order.order_id == "SHP-9" and not order.cancelled
    assert order.lines == (("A", 2),) and order.version == 1_788_264_000_000
    assert order.at == 1_788_260_400.0
    every = channel_order(listed | {"orderItems": [listed["orderItems"][1]]})
    assert every is not None and every.cancelled and every.restock and every.lines == (("A", 0),)
    assert channel_order({"shipmentId": "S", "orderItems": []}) is None


# -- keys ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"app_secert": "x"}, "app_secert"),
        ({"signature_encoding": "sha1"}, "signature_encoding"),
        ({"max_batch": 11}, "max_batch"),
        ({"catalog_page_size": 20}, "catalog_page_size"),
        ({"date_tolerance_s": "soon"}, "date_tolerance_s"),
    ],
)
def test_a_misspelt_or_mistyped_key_is_refused_naming_it(keys: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):  # a KeyProblem, as pydantic reports it
        ChannelConfig(id="fk", kind="flipkart", **keys)


def test_the_secret_stays_secret() -> None:
    made = channel(app_secret="hush-0123456789")
    assert "hush" not in repr(made.model_extra) and "hush" not in repr(made)


def test_missing_signing_keys_are_named_at_start_up() -> None:
    assert FlipkartOutbound().warnings(channel(endpoint_url="https://sync.example.com/webhooks/fk")) == []
    [named] = FlipkartOutbound().warnings(channel())
    assert "endpoint_url" in named and "401" in named
    assert len(FlipkartOutbound().warnings(ChannelConfig(id="fk", kind="flipkart"))) == 2
