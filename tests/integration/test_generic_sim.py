"""The generic simulator is as strict as the configuration it is built from, over real loopback HTTP
(no Ray, no Redis): auth, rate, body templates, batch size, unknown listings, paging and since."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ListingUpdate
from adapters.generic.example import example_channel
from adapters.generic.outbound import GenericOutbound
from adapters.generic.reconcile import GenericReconcile
from adapters.generic.sim.app import GenericSimulator
from adapters.reading import ReadStats
from engine.config import ChannelConfig

pytestmark = pytest.mark.timeout(60)
Serve = Callable[[Any], str]
PUSH = "/v2/inventory/batch"


def simulator(**options: Any) -> GenericSimulator:
    table = example_channel("acme", "http://127.0.0.1", "secret", "token")
    return GenericSimulator.from_channel(ChannelConfig.model_validate(table), **options)


def item(sku: str, listing: str, quantity: Any) -> dict[str, Any]:
    return {"sku": sku, "listing_id": listing, "available": quantity}


def post(url: str, body: Any, token: str = "token") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{url}{PUSH}", content=orjson.dumps(body), headers=headers, timeout=5)


def test_pushes_are_refused_unless_they_are_what_the_templates_make(serve: Serve) -> None:
    sim = simulator(batch_limit=2, rate=(1000.0, 1000.0))
    ids = sim.seed([{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}])
    url = serve(sim.app)
    a, b = ids["A"]["id"], ids["B"]["id"]
    assert post(url, {"warehouse": "main", "updates": [item("A", a, 5)]}, token="other").status_code == 401
    for bad in (
        {"warehouse": "main", "updates": [item("A", a, "5")]},  # a string where the number stands
        {"warehouse": "main", "updates": [item("A", a, 5)], "extra": True},
        {"warehouse": "east", "updates": [item("A", a, 5)]},
        {"warehouse": "main", "updates": [item("A", a, 5), item("B", b, 5), item("A", a, 6)]},  # over 2
        {"warehouse": "main", "updates": []},
    ):
        answer = post(url, bad)
        assert answer.status_code == 400, (bad, answer.text)
    assert (
        httpx.post(f"{url}{PUSH}", content=b"{", headers={"Authorization": "Bearer token"}).status_code == 400
    )
    assert sim.store.snapshot()["listed"] == {"A": 1, "B": 1}  # nothing refused was applied

    answer = post(url, {"warehouse": "main", "updates": [item("A", a, 7), item("Z", "L999", 3)]})
    assert answer.status_code == 200
    assert answer.json() == {"errors": [{"sku": "Z", "message": "no such listing"}]}  # at push.errors
    assert sim.store.snapshot()["listed"] == {"A": 7, "B": 1}
    wrong_id = post(url, {"warehouse": "main", "updates": [item("B", a, 2)]})
    assert wrong_id.json()["errors"][0]["sku"] == "B" and sim.store.snapshot()["listed"]["B"] == 1


def test_the_rate_is_enforced_with_retry_after(serve: Serve) -> None:
    sim = simulator(rate=(0.5, 2.0))
    ids = sim.seed([{"sku": "A", "quantity": 1}])
    url = serve(sim.app)
    body = {"warehouse": "main", "updates": [item("A", ids["A"]["id"], 2)]}
    answers = [post(url, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["retry-after"]) >= 1 and sim.store.counters["throttled"] == 1


def test_reads_refuse_pages_over_the_limit_and_orders_without_since(serve: Serve) -> None:
    sim = simulator(page_limit=10)
    url = serve(sim.app)
    auth = {"Authorization": "Bearer token"}
    assert httpx.get(f"{url}/v2/listings", params={"per_page": 11}, headers=auth).status_code == 400
    assert httpx.get(f"{url}/v2/listings", params={"page": "x"}, headers=auth).status_code == 400
    assert httpx.get(f"{url}/v2/listings", headers={}).status_code == 401
    assert httpx.get(f"{url}/v2/orders", headers=auth).status_code == 400
    assert httpx.get(f"{url}/v2/orders", params={"updated_since": "soon"}, headers=auth).status_code == 400


def test_the_adapter_pushes_imports_and_reads_through_the_simulator(serve: Serve) -> None:
    sim = simulator(rate=(1000.0, 1000.0))
    sim.seed([{"sku": f"S{i}", "quantity": i} for i in range(7)])
    url = serve(sim.app)
    table = example_channel("acme", url, "secret", "token")
    table["catalog"] |= {"page_size": 3}
    table["orders"] |= {"page_size": 2}
    channel = ChannelConfig.model_validate(table)
    adapter = GenericOutbound().for_channel(channel)
    stats = ReadStats()

    async def free(cost: float) -> None:
        return None

    async def run() -> tuple[dict[str, Any], dict[str, int], list[Any]]:
        async with httpx.AsyncClient(timeout=5) as client:
            catalog = await adapter.import_catalog(client, channel)
            updates = [ListingUpdate(sku, 40, 1, ids) for sku, ids in catalog.items()]
            response = await client.send(adapter.build(channel, updates))
            assert adapter.parse(response, updates).ok == list(catalog)
            reader = GenericReconcile()
            listed = {
                k: v
                async for page in reader.listed_quantities(client, channel, free, stats)
                for k, v in page.items()
            }
            orders = [
                o async for page in reader.orders_since(client, channel, 0.0, free, stats) for o in page
            ]
            return catalog, listed, orders

    for n in range(5):
        placed = sim.store.try_sell([(f"S{n + 1}", 1)])
        assert placed is not None
        sim.render_webhook(placed)
    catalog, listed, orders = asyncio.run(run())
    assert catalog["S3"] == {"id": sim.store.listings["S3"].ids["id"], "listed": 2}
    assert listed == dict.fromkeys(catalog, 40)
    assert len(orders) == 5 and all(o.version is not None and not o.cancelled for o in orders)
    assert stats.calls >= 3 + 3  # listings in pages of 3 (7 SKUs), orders by cursor in pages of 2 (5 orders)
