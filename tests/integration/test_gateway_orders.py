"""``POST /v1/orders`` over loopback: all lines or none across shards, races, replays, the sweeper."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from actors.gateway.parsing import KEY_PREFIX
from engine.config import Config
from engine.idempotency import fingerprint
from engine.store import Keys
from engine.two_phase import TwoPhaseOrders
from tests.conftest import REDIS_URL
from tests.integration.support import Gw, gateway_config, new_prefix, wait_until
from tests.integration.test_gateway_admin import AUTH, call, skus_on_both_shards
from tests.integration.test_gateway_webhooks import new_sku

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SWEEP_S = 0.1


@pytest.fixture(scope="module")
def gw_config() -> Config:
    """The shared gateway config with a short sweep interval, so abandoned orders finish quickly."""
    config = gateway_config(new_prefix())
    config.gateway.order_sweep_interval_s = SWEEP_S
    return config


def place(gw: Gw, key: str | None, body: Any, channel: str = "pos") -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    if isinstance(body, dict):
        body = {"channel": channel, **body}
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return call(gw, "POST", "/v1/orders", content=content, headers=headers)


def order(order_id: str, **lines: int) -> dict[str, Any]:
    return {"order_id": order_id, "lines": [{"sku": s, "quantity": q} for s, q in lines.items()]}


def stock(gw: Gw, sku: str) -> tuple[int, int, int]:
    rec = call(gw, "GET", f"/v1/skus/{sku}").json()
    return rec["available"], rec["on_hand"], rec["reserved"]


def seed(gw: Gw, **quantities: int) -> None:
    for sku, q in quantities.items():
        assert call(gw, "PUT", f"/v1/skus/{sku}/stock", json={"quantity": q}).status_code == 200


def test_lines_on_two_shards_all_taken_or_none(gw: Gw) -> None:
    a, b = skus_on_both_shards(gw)
    seed(gw, **{a: 5, b: 5})
    oid = uuid.uuid4().hex[:8]
    ok = place(gw, f"k-{oid}-1", order(f"{oid}-1", **{a: 2, b: 1}))
    assert ok.status_code == 201, ok.text
    body = ok.json()
    assert (body["status"], body["order_id"], body["channel"]) == ("accepted", f"{oid}-1", "pos")
    assert sorted((ln["sku"], ln["accepted"]) for ln in body["lines"]) == sorted([(a, 2), (b, 1)])
    assert (stock(gw, a), stock(gw, b)) == ((3, 3, 0), (4, 4, 0))

    before = (gw.trace(a)[0], gw.trace(b)[0])
    no = place(gw, f"k-{oid}-2", order(f"{oid}-2", **{a: 1, b: 5}))
    assert no.status_code == 409 and no.json()["error"] == "insufficient_stock"
    assert no.json()["sku"] == b and no.json()["skus"] == [b]
    assert (stock(gw, a), stock(gw, b)) == ((3, 3, 0), (4, 4, 0))  # nothing taken, nothing held
    # Reserve and release each bumped the versions, but every quantity is where it was.
    after = (gw.trace(a)[0], gw.trace(b)[0])
    assert [raw.split(b":")[:2] for raw in after] == [raw.split(b":")[:2] for raw in before]

    unknown = place(gw, f"k-{oid}-3", order(f"{oid}-3", **{a: 1, f"nope-{oid}": 1}))
    assert unknown.status_code == 409 and unknown.json()["sku"] == f"nope-{oid}"
    assert stock(gw, a) == (3, 3, 0)


def test_orders_racing_for_the_last_units_exactly_one_wins(gw: Gw) -> None:
    sku = new_sku()
    seed(gw, **{sku: 3})
    oid = uuid.uuid4().hex[:8]

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gw.url, headers=AUTH, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/orders",
                        json={"channel": "pos", **order(f"{oid}-{i}", **{sku: 2})},
                        headers={"Idempotency-Key": f"race-{oid}-{i}"},
                    )
                    for i in range(6)
                )
            )

    statuses = sorted(r.status_code for r in asyncio.run(race()))
    assert statuses == [201] + [409] * 5
    assert stock(gw, sku) == (1, 1, 0)
    afters = [e["after"] for e in gw.audit_of(sku)]
    assert min(afters) >= 0  # available never went below zero, not even while units were held


def test_same_key_replays_and_a_different_body_is_422(gw: Gw) -> None:
    sku = new_sku()
    seed(gw, **{sku: 4})
    oid, key = uuid.uuid4().hex[:8], f"k-{uuid.uuid4().hex}"
    first = place(gw, key, order(oid, **{sku: 3}))
    again = place(gw, key, order(oid, **{sku: 3}))
    assert (first.status_code, again.status_code) == (201, 201) and first.content == again.content
    assert stock(gw, sku) == (1, 1, 0)  # taken once
    # Both records of the answered order expire with the idempotency window, not before, not never.
    window = int(gw.config.engine.idempotency_ttl_hours * 3600)
    keys = Keys(gw.config.store.key_prefix)
    for name in (keys.txn(f"pos:{KEY_PREFIX}{key}"), f"{keys.prefix}:orderkey:{KEY_PREFIX}{key}"):
        assert window - 60 <= gw.redis.ttl(name) <= window, name
    for other in (order(oid, **{sku: 1}), order(f"{oid}-x", **{sku: 3})):
        r = place(gw, key, other)
        assert r.status_code == 422 and r.json()["error"] == "idempotency_key_reused"
    r = place(gw, key, order(oid, **{sku: 3}), channel="shop-us")  # same key, other channel
    assert r.status_code == 422 and r.json()["error"] == "idempotency_key_reused"
    assert stock(gw, sku) == (1, 1, 0)
    # A refusal replays too: the same key never gets a second chance at the stock.
    refused_key = f"k-{uuid.uuid4().hex}"
    refused = place(gw, refused_key, order(f"{oid}-r", **{sku: 2}))
    seed(gw, **{sku: 10})
    assert place(gw, refused_key, order(f"{oid}-r", **{sku: 2})).content == refused.content


@pytest.mark.parametrize(
    ("key", "body", "status"),
    [
        (None, {"order_id": "x", "lines": [{"sku": "S", "quantity": 1}]}, 400),
        ("", {"order_id": "x", "lines": [{"sku": "S", "quantity": 1}]}, 400),
        ("k" * 201, {"order_id": "x", "lines": [{"sku": "S", "quantity": 1}]}, 422),
        ("k", b"{not json", 400),
        ("k", b"[]", 422),
        ("k", {"order_id": "x", "lines": []}, 422),
        ("k", {"order_id": "x", "lines": [{"sku": "S", "quantity": 0}]}, 422),
        ("k", {"order_id": "x", "lines": [{"sku": "S", "quantity": -2}]}, 422),
        ("k", {"order_id": "x", "lines": [{"sku": "S", "quantity": "1"}]}, 422),
        ("k", {"order_id": "x", "lines": [{"sku": "S", "quantity": 1.5}]}, 422),
        ("k", {"order_id": "x", "lines": [{"sku": "", "quantity": 1}]}, 422),
        ("k", {"order_id": "x", "lines": [{"sku": "S", "quantity": 1, "price": 3}]}, 422),
        ("k", {"order_id": "", "lines": [{"sku": "S", "quantity": 1}]}, 422),
        ("k", {"order_id": 7, "lines": [{"sku": "S", "quantity": 1}]}, 422),
        ("k", {"lines": [{"sku": "S", "quantity": 1}]}, 422),
        ("k", {"channel": "no/slash", "order_id": "x", "lines": [{"sku": "S", "quantity": 1}]}, 422),
    ],
)
def test_missing_key_or_bad_body_is_a_clear_4xx_and_changes_nothing(
    gw: Gw, key: str | None, body: Any, status: int
) -> None:
    sku = new_sku()
    seed(gw, **{sku: 3})
    if isinstance(body, dict):
        body = orjson.loads(orjson.dumps(body).replace(b'"S"', orjson.dumps(sku)))
    before = gw.trace(sku)
    r = place(gw, None if key is None else f"{key}{uuid.uuid4().hex}" if key == "k" else key, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]
    assert gw.trace(sku) == before


def test_orders_placed_here_appear_in_the_orders_view_and_cancel(gw: Gw) -> None:
    a, b = skus_on_both_shards(gw)
    seed(gw, **{a: 4, b: 4})
    oid = uuid.uuid4().hex[:8]
    assert place(gw, f"v-{oid}-1", order(f"{oid}-1", **{a: 1, b: 2})).status_code == 201
    assert place(gw, f"v-{oid}-2", order(f"{oid}-2", **{a: 9})).status_code == 409
    listed = {o["order_id"]: o for o in call(gw, "GET", "/v1/orders?channel=pos&limit=200").json()["orders"]}
    assert f"{oid}-2" not in listed  # refused: it took nothing, so it is no order
    view = listed[f"{oid}-1"]
    assert view["status"] == "accepted"
    assert sorted((ln["sku"], ln["requested"], ln["accepted"]) for ln in view["lines"]) == sorted(
        [(a, 1, 1), (b, 2, 2)]
    )
    r = call(gw, "POST", f"/v1/orders/pos/{oid}-1/cancel")
    assert r.status_code == 200 and r.json()["returned_units"] == 3
    assert (stock(gw, a), stock(gw, b)) == ((4, 4, 0), (4, 4, 0))
    assert call(gw, "POST", f"/v1/orders/pos/{oid}-2/cancel").status_code == 404
    cancelled = call(gw, "GET", "/v1/orders?channel=pos&status=cancelled&limit=200").json()["orders"]
    assert f"{oid}-1" in {o["order_id"] for o in cancelled}


def dead_coordinator(
    gw: Gw, key: str, request: dict[str, Any], decide: str | None, hold_s: float = 0.0
) -> None:
    """Run ``TwoPhaseOrders`` in this process up to the reserve (and a decision), then "die"."""

    async def run() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)

        async def submit(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return list((await gw.shards.submit_async(events))[0])

        # hold_s=0: the hold is over at once, as if the coordinator died long ago
        tp = TwoPhaseOrders(client, Keys(gw.config.store.key_prefix), submit, hold_s=hold_s)
        txn = f"{request['channel']}:{KEY_PREFIX}{key}"
        try:
            assert await tp._open(txn, fingerprint(request), request) == (None, txn)
            reserved = await tp._step("order_reserve", txn, request)
            assert reserved["outcome"] == "reserved"
            if decide is not None:
                assert await tp._decide(txn, decide) == decide
        finally:
            await client.aclose()

    asyncio.run(run())


@pytest.mark.parametrize("decided", [None, "commit"])
def test_a_coordinator_dying_after_reserve_is_finished_by_the_sweeper(gw: Gw, decided: str | None) -> None:
    """Undecided: the sweeper releases the held units. Commit decided: the sweeper sells them."""
    a, b = skus_on_both_shards(gw)
    seed(gw, **{a: 5, b: 5})
    oid = f"dead-{uuid.uuid4().hex[:8]}"
    request = {"channel": "pos", **order(oid, **{a: 2, b: 3})}
    # The coordinator holds long enough that no sweeper can touch the order while it reserves and
    # decides (a zero hold let the sweeper release it before the reserve: the reserve then answered
    # "released", seen in a clean-clone CI run); then its hold is made to have run out long ago.
    dead_coordinator(gw, f"k-{oid}", request, decided, hold_s=600.0)
    keys = Keys(gw.config.store.key_prefix)
    txn = f"pos:{KEY_PREFIX}k-{oid}"
    assert gw.redis.zadd(keys.open_txns(), {txn: 0.0}, xx=True, ch=True) == 1

    want = ((5, 5, 0), (5, 5, 0)) if decided is None else ((3, 3, 0), (2, 2, 0))
    wait_until(lambda: (stock(gw, a), stock(gw, b)) == want, "the sweeper to finish the order")
    assert gw.redis.zscore(keys.open_txns(), txn) is None
    answer = gw.redis.hget(keys.txn(txn), "answer")
    assert isinstance(answer, bytes)
    status, body = orjson.loads(answer)
    listed = {o["order_id"]: o for o in call(gw, "GET", "/v1/orders?channel=pos&limit=200").json()["orders"]}
    if decided is None:
        assert (status, body) == (409, {"error": "reservation_expired"})
        assert oid not in listed
    else:
        assert status == 201 and listed[oid]["status"] == "accepted"
    # The client's retry of the dead gateway's request gets the sweeper's answer, and moves nothing.
    retry = place(gw, f"k-{oid}", {k: v for k, v in request.items() if k != "channel"})
    assert (retry.status_code, retry.json()) == (status, body)
    assert (stock(gw, a), stock(gw, b)) == want
    held = [e for e in gw.audit_of(a) if e["order_id"] == oid]
    assert [e["kind"] for e in held] == [
        "order_reserve",
        "order_release" if decided is None else "order_commit",
    ]


def test_an_undecided_order_is_listed_as_reserved_and_cannot_be_cancelled_yet(gw: Gw) -> None:
    sku = new_sku()
    seed(gw, **{sku: 5})
    oid = f"held-{uuid.uuid4().hex[:8]}"
    dead_coordinator(gw, f"k-{oid}", {"channel": "pos", **order(oid, **{sku: 2})}, None, hold_s=600)
    assert stock(gw, sku) == (3, 5, 2)
    reserved = call(gw, "GET", "/v1/orders?channel=pos&status=reserved&limit=200").json()["orders"]
    assert oid in {o["order_id"] for o in reserved}
    r = call(gw, "POST", f"/v1/orders/pos/{oid}/cancel")
    assert r.status_code == 409 and "not decided" in r.json()["error"]
    assert stock(gw, sku) == (3, 5, 2)
    # The hold runs out (moved forward here rather than waited for): the sweeper releases it.
    keys = Keys(gw.config.store.key_prefix)
    gw.redis.zadd(keys.open_txns(), {f"pos:{KEY_PREFIX}k-{oid}": 0}, xx=True)
    wait_until(lambda: stock(gw, sku) == (5, 5, 0), "the sweeper to release the order")
    assert call(gw, "POST", f"/v1/orders/pos/{oid}/cancel").status_code == 404


def test_a_replay_of_an_answered_order_never_reopens_it(gw: Gw) -> None:
    """The replay is answered from Redis: the order stays out of the open set, its expiry as it was."""
    sku = new_sku()
    seed(gw, **{sku: 4})
    oid, key = uuid.uuid4().hex[:8], f"k-{uuid.uuid4().hex}"
    keys = Keys(gw.config.store.key_prefix)
    txn = f"pos:{KEY_PREFIX}{key}"
    first = place(gw, key, order(oid, **{sku: 3}))
    assert first.status_code == 201, first.text
    assert gw.redis.zscore(keys.open_txns(), txn) is None  # answered, so closed
    gw.redis.expire(keys.txn(txn), 600)  # a re-finish would restart the window: make that visible
    for _ in range(2):
        again = place(gw, key, order(oid, **{sku: 3}))
        assert again.content == first.content
        # Re-opened, it would wait out a 120 s hold for the sweeper to finish it a second time.
        assert gw.redis.zscore(keys.open_txns(), txn) is None
    assert 0 < gw.redis.ttl(keys.txn(txn)) <= 600
    assert stock(gw, sku) == (1, 1, 0)
