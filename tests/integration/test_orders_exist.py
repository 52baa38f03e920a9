"""``POST /v1/orders`` over loopback: another key for an existing order id is 409 and changes nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.support import Gw
from tests.integration.test_gateway_admin import call, sell, skus_on_both_shards
from tests.integration.test_gateway_orders import order, place, seed, stock

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_another_key_for_an_existing_order_id_is_409_order_exists_and_changes_nothing(gw: Gw) -> None:
    a, b = skus_on_both_shards(gw)
    seed(gw, **{a: 5, b: 5})
    oid = f"dup-{uuid.uuid4().hex[:8]}"
    assert place(gw, f"k-{oid}-1", order(oid, **{a: 2})).status_code == 201
    before = (stock(gw, a), stock(gw, b))
    assert before == ((3, 3, 0), (5, 5, 0))
    # The first order's shard only, then across both shards (there the other part is held, then
    # given back: every quantity ends where it was).
    for n, lines in enumerate(({a: 1}, {a: 1, b: 2})):
        key = f"k-{oid}-other-{n}"
        r = place(gw, key, order(oid, **lines))
        assert (r.status_code, r.json()) == (409, {"error": "order_exists"}), r.text
        assert (stock(gw, a), stock(gw, b)) == before
        assert place(gw, key, order(oid, **lines)).content == r.content  # the key replays it
    listed = {o["order_id"]: o for o in call(gw, "GET", "/v1/orders?channel=pos&limit=200").json()["orders"]}
    assert listed[oid]["status"] == "accepted"
    assert [(ln["sku"], ln["accepted"]) for ln in listed[oid]["lines"]] == [(a, 2)]


def test_an_order_id_a_marketplace_sold_is_409_order_exists(gw: Gw) -> None:
    a, b = skus_on_both_shards(gw)
    seed(gw, **{a: 5, b: 5})
    sold = 700_000_000 + uuid.uuid4().int % 100_000_000
    sell(gw, sold, [(a, 1)])
    before = (stock(gw, a), stock(gw, b))
    assert before == ((4, 4, 0), (5, 5, 0))
    r = place(gw, f"k-{sold}", order(str(sold), **{a: 1, b: 1}), channel="shop-us")
    assert (r.status_code, r.json()) == (409, {"error": "order_exists"}), r.text
    assert (stock(gw, a), stock(gw, b)) == before


def test_an_order_id_on_other_shards_only_is_409_order_exists(gw: Gw) -> None:
    """No line shares a shard with the existing order: the order id alone must be recognised."""
    a, b = skus_on_both_shards(gw)
    seed(gw, **{a: 5, b: 5})
    oid = f"dup-{uuid.uuid4().hex[:8]}"
    assert place(gw, f"k-{oid}-1", order(oid, **{a: 2})).status_code == 201
    r = place(gw, f"k-{oid}-2", order(oid, **{b: 2}))
    assert (r.status_code, r.json()) == (409, {"error": "order_exists"}), r.text
    assert (stock(gw, a), stock(gw, b)) == ((3, 3, 0), (5, 5, 0))
