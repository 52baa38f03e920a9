"""``POST /v1/orders`` against a hostile or careless caller (issue 21 item 7, and its ids from item 8).

An order id is the shopper's to retry: a refusal must leave no claim on it, neither for the next
``Idempotency-Key`` nor for a marketplace order that happens to carry the same id; and an order
must name a configured channel.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from tests.integration.support import Gw
from tests.integration.test_gateway_admin import call, sell
from tests.integration.test_gateway_orders import order, place, seed, stock
from tests.integration.test_gateway_webhooks import new_sku

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_an_unknown_channel_is_422_and_takes_nothing(gw: Gw) -> None:
    sku = new_sku()
    seed(gw, **{sku: 5})
    oid = uuid.uuid4().hex[:8]
    r = place(gw, f"k-{oid}", order(oid, **{sku: 2}), channel="nope")
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "unknown_channel" and r.json()["channel"] == "nope"
    assert stock(gw, sku) == (5, 5, 0)
    # nothing was bound either: the same key on a configured channel is a first request
    assert place(gw, f"k-{oid}", order(oid, **{sku: 2}), channel="shop-us").status_code == 201


def test_a_refused_order_id_leaves_no_claim_for_the_next_key(gw: Gw) -> None:
    sku = new_sku()
    seed(gw, **{sku: 1})
    oid = uuid.uuid4().hex[:8]
    first = place(gw, f"k-{oid}-1", order(oid, **{sku: 3}), channel="shop-us")
    assert (first.status_code, first.json()["error"]) == (409, "insufficient_stock")
    # still short: the same refusal, not a claim that the refused order exists
    again = place(gw, f"k-{oid}-2", order(oid, **{sku: 3}), channel="shop-us")
    assert (again.status_code, again.json()["error"]) == (409, "insufficient_stock"), again.text
    assert (
        call(gw, "POST", f"/v1/skus/{sku}/adjust", json={"delta": 5, "reason": "restock"}).status_code == 200
    )
    placed = place(gw, f"k-{oid}-3", order(oid, **{sku: 3}), channel="shop-us")
    assert placed.status_code == 201, placed.text
    assert stock(gw, sku) == (3, 3, 0)
    # and now it exists: another key is order_exists
    other = place(gw, f"k-{oid}-4", order(oid, **{sku: 1}), channel="shop-us")
    assert (other.status_code, other.json()) == (409, {"error": "order_exists"})
    assert stock(gw, sku) == (3, 3, 0)


def test_a_refusal_does_not_make_a_marketplace_order_with_the_same_id_a_duplicate(gw: Gw) -> None:
    sku = new_sku()
    seed(gw, **{sku: 2})
    oid = 800_000_000 + uuid.uuid4().int % 100_000_000
    refused = place(gw, f"k-{oid}", order(str(oid), **{sku: 9}), channel="shop-us")
    assert (refused.status_code, refused.json()["error"]) == (409, "insufficient_stock")
    decision = sell(gw, oid, [(sku, 1)])
    assert [ln["outcome"] for ln in decision["lines"]] == ["accepted"], decision
    assert stock(gw, sku) == (1, 1, 0)  # the sale counted
    listed = call(gw, "GET", "/v1/orders?channel=shop-us&limit=200").json()["orders"]
    assert [o["status"] for o in listed if o["order_id"] == str(oid)] == ["accepted"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order_id", "a/b"),
        ("order_id", "a\x00b"),
        ("sku", "SKU/1"),
        ("sku", "SKU\x00"),
        ("sku", "SKU\x1b[2J"),
    ],
)
def test_ids_the_admin_paths_could_not_name_are_refused_with_the_rule(gw: Gw, field: str, value: str) -> None:
    sku = new_sku()
    seed(gw, **{sku: 5})
    oid = uuid.uuid4().hex[:8]
    body = {"channel": "shop-us", "order_id": oid, "lines": [{"sku": sku, "quantity": 1}]}
    if field == "order_id":
        body["order_id"] = value
    else:
        body["lines"] = [{"sku": sku, "quantity": 1}, {"sku": value, "quantity": 1}]
    r = call(gw, "POST", "/v1/orders", content=orjson.dumps(body), headers={"Idempotency-Key": f"k-{oid}"})
    assert r.status_code == 422, r.text
    assert "must not contain '/' or control characters" in r.json()["error"]
    assert stock(gw, sku) == (5, 5, 0)
