"""Etsy outbound against the strict simulator over loopback: a write is a fresh read then a write
restating everything but our quantities; a seller's price edit survives; one request per listing;
per-SKU errors, throttling and the budget headers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ListingUpdate, PushResult
from adapters.etsy.outbound import EtsyOutbound, Listings
from adapters.etsy.sim.app import EtsySimulator
from adapters.sim.conformance import RequestLog
from adapters.sim.core import TokenBucket, serve_in_thread
from engine.config import ChannelConfig


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def served() -> Iterator[tuple[EtsySimulator, RequestLog, ChannelConfig]]:
    sim = EtsySimulator(client_id="unit-key", refresh_token="unit-refresh")
    log = RequestLog(sim.app)
    url, stop = serve_in_thread(log)
    channel = ChannelConfig(
        id="etsy-unit",
        kind="etsy",
        base_url=url,
        token_url=f"{url}/v3/public/oauth/token",
        client_id="unit-key",
        refresh_token="unit-refresh",
        shop_id=sim.shop.shop_id,
    )
    try:
        yield sim, log, channel
    finally:
        stop()


def adapter(channel: ChannelConfig, clock: Clock) -> EtsyOutbound:
    return EtsyOutbound(clock=clock, state=Listings())


def push(out: EtsyOutbound, channel: ChannelConfig, updates: list[ListingUpdate]) -> list[PushResult]:
    """Send build/parse rounds until nothing is requeued, as the channel actor would."""

    async def run() -> list[PushResult]:
        async with httpx.AsyncClient() as client:
            from adapters.etsy import auth

            await auth.tokens_for(channel).ensure(client)
            results, todo = [], list(updates)
            while todo:
                result = out.parse(await client.send(out.build(channel, todo)), todo)
                results.append(result)
                todo = [u for u in todo if u.sku in result.requeue]
            return results

    return asyncio.run(run())


def ids(sim: EtsySimulator) -> dict[str, dict[str, Any]]:
    return dict(sim.store.snapshot(lists=False)["ids"])


def test_a_write_reads_then_restates_everything_but_our_quantities(served: Any) -> None:
    sim, log, channel = served
    sim.shop.seed([{"sku": s, "quantity": q} for s, q in (("A", 1), ("B", 2), ("C", 3))], varied=True)
    before = sim.shop.inventory(ids(sim)["B"]["listing_id"])
    out = adapter(channel, Clock())
    results = push(out, channel, [ListingUpdate(s, 9, 1, ids(sim)[s]) for s in ("B", "C")])
    assert [r.requeue for r in results] == [["B", "C"], []] and results[-1].ok == ["B", "C"]
    assert sim.store.snapshot(lists=False)["listed"] == {"A": 1, "B": 9, "C": 9}
    after = sim.shop.inventory(ids(sim)["B"]["listing_id"])
    assert before is not None and after is not None
    for field in ("price_on_property", "quantity_on_property", "sku_on_property"):
        assert after[field] == before[field] == [513]
    for old, new in zip(before["products"], after["products"], strict=True):
        # scale_name is the read's label of scale_id, not a field of the write
        kept = [{k: x for k, x in v.items() if k != "scale_name"} for v in old["property_values"]]
        assert new["property_values"] == kept
        assert new["offerings"][0]["price"] == old["offerings"][0]["price"]
        assert new["offerings"][0]["readiness_state_id"] == old["offerings"][0]["readiness_state_id"]
    [put] = [orjson.loads(r.body) for r in log.requests() if r.method == "PUT"]
    assert [p["offerings"][0]["price"] for p in put["products"]] == [15.0, 16.0, 17.0]  # numbers, not money


def test_a_seller_price_edit_between_our_writes_survives_and_is_counted(served: Any) -> None:
    sim, _, channel = served
    sim.shop.seed([{"sku": "A", "quantity": 5}])
    out = adapter(channel, Clock())
    push(out, channel, [ListingUpdate("A", 4, 1, ids(sim)["A"])])
    sim.shop.seller_edit("A", 2599)
    push(out, channel, [ListingUpdate("A", 3, 2, ids(sim)["A"])])
    assert sim.shop.price_of("A") == 2599 and sim.store.listings["A"].quantity == 3
    assert out.state.foreign_edits == 1


def test_a_stale_copy_is_read_again(served: Any) -> None:
    sim, _, channel = served
    sim.shop.seed([{"sku": "A", "quantity": 5}])
    clock = Clock()
    out = adapter(channel, clock)
    update = ListingUpdate("A", 4, 1, ids(sim)["A"])
    push(out, channel, [update])
    out.state.copies[ids(sim)["A"]["listing_id"]].fresh = True  # as if read, then left waiting
    clock.t += out.fresh_s + 1
    assert out.build(channel, [update]).method == "GET"


def test_one_request_per_listing_at_a_time(served: Any) -> None:
    sim, _, channel = served
    sim.shop.seed([{"sku": s, "quantity": 1} for s in ("A", "B", "C", "D")], varied=True)
    a, b, d = (ListingUpdate(s, 2, 1, ids(sim)[s]) for s in ("A", "B", "D"))
    out = adapter(channel, Clock())
    asyncio.run(_token(channel))
    assert [[u.sku for u in g] for g in out.group([a, b, d])] == [["A", "B"], ["D"]]
    first = out.build(channel, [a])
    assert first.method == "GET"
    assert [[u.sku for u in g] for g in out.group([a, b, d])] == [["D"]]  # A's listing is leased
    assert out.group([b]) == [[]]
    probe = out.build(channel, [b])  # met the lease anyway: a read whose answer is not kept
    answer = httpx.Response(
        200, content=orjson.dumps(sim.shop.inventory(ids(sim)["B"]["listing_id"])), request=probe
    )
    assert out.parse(answer, [b]).requeue == ["B"] and not out.state.copies
    with pytest.raises(ValueError, match="one listing"):
        out.build(channel, [a, d])


async def _token(channel: ChannelConfig) -> None:
    from adapters.etsy import auth

    async with httpx.AsyncClient() as client:
        await auth.tokens_for(channel).ensure(client)


def test_errors_map_to_skus_and_throttling_retries_with_the_budget_read(served: Any) -> None:
    sim, _, channel = served
    sim.shop.seed([{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 5}])
    out = adapter(channel, Clock())
    gone = ListingUpdate("X", 1, 1, {"listing_id": ids(sim)["A"]["listing_id"]})
    [result] = push(out, channel, [gone])
    assert "no longer in the listing" in result.failed["X"]
    [missing] = push(out, channel, [ListingUpdate("B", 1, 1, {"listing_id": 12345})])
    assert missing.failed["B"].startswith("HTTP 404")
    sim.second = TokenBucket(1.0, 0.5)
    sim.second.take(1.0)
    [throttled] = push(out, channel, [ListingUpdate("A", 1, 1, ids(sim)["A"])])
    assert throttled.retry == ["A"] and throttled.retry_after_s == 2.0 and throttled.budget_available == 0.0
    sim.second = TokenBucket(10.0, 10.0)
    results = push(out, channel, [ListingUpdate("A", 1, 1, ids(sim)["A"])])
    assert results[-1].ok == ["A"] and results[-1].budget_available is not None
    assert results[-1].budget_available <= 9.0


def test_the_simulator_refuses_a_money_object_price_and_a_missing_readiness_state(served: Any) -> None:
    sim, _, channel = served
    sim.shop.seed([{"sku": "A", "quantity": 5}])
    inventory = sim.shop.inventory(ids(sim)["A"]["listing_id"])
    assert inventory is not None
    url = f"{channel.base_url}/v3/application/listings/{ids(sim)['A']['listing_id']}/inventory"

    async def put(body: dict[str, Any]) -> httpx.Response:
        from adapters.etsy import auth

        async with httpx.AsyncClient() as client:
            token = await auth.tokens_for(channel).ensure(client)
            return await client.put(url, json=body, headers=auth.headers(channel, token))

    as_read = {
        "products": [{"sku": "A", "property_values": [], "offerings": inventory["products"][0]["offerings"]}]
    }
    answer = asyncio.run(put(as_read))
    assert answer.status_code == 400 and "price must be a number" in answer.text
    offer = {"price": 15.0, "quantity": 1, "is_enabled": True}
    answer = asyncio.run(put({"products": [{"sku": "A", "property_values": [], "offerings": [offer]}]}))
    assert answer.status_code == 400 and "readiness_state_id" in answer.text
