"""The Flipkart adapter against its strict simulator over loopback HTTP (no Ray, no Redis): tokens,
a push whose 200 holds per-SKU failures, what the simulator refuses, and the catalog import."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ListingUpdate
from adapters.flipkart.oauth import FlipkartTokens, TokenError
from adapters.flipkart.outbound import PATH, FlipkartOutbound
from adapters.flipkart.sim.app import FlipkartSimulator
from engine.config import ChannelConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

Serve = Callable[[Any], str]


def channel(url: str, **over: Any) -> ChannelConfig:
    keys = {
        "base_url": url,
        "token_url": f"{url}/oauth-service/oauth/token",
        "app_id": "fk-sim-app",
        "app_secret": "fk-sim-secret",
    }
    return ChannelConfig(id=f"fk-{url.rsplit(':', 1)[1]}", kind="flipkart", **{**keys, **over})


def sim_with(serve: Serve, skus: int = 12) -> tuple[FlipkartSimulator, str]:
    sim = FlipkartSimulator()
    sim.seed([{"sku": f"S{i:03d}", "quantity": 5} for i in range(skus)])
    return sim, serve(sim.app)


def test_wrong_application_credentials_get_no_token(serve: Serve) -> None:
    _, url = sim_with(serve)

    async def run(ch: ChannelConfig) -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            return await FlipkartTokens(ch).refresh(client)

    with pytest.raises(TokenError, match="HTTP 401"):
        asyncio.run(run(channel(url, app_secret="not-the-secret")))
    assert asyncio.run(run(channel(url)))


def test_a_200_with_failures_is_mapped_back_to_each_sku(serve: Serve) -> None:
    sim, url = sim_with(serve)
    ch = channel(url)

    async def run() -> tuple[dict[str, dict[str, Any]], Any]:
        adapter = FlipkartOutbound(tokens=FlipkartTokens(ch))
        async with httpx.AsyncClient(timeout=10) as client:
            catalog = await adapter.import_catalog(client, ch)
            await adapter.tokens.ensure(client)  # type: ignore[union-attr]
            wrong = dict(catalog["S002"]) | {"product_id": "PRDNOTTHISONE00"}
            updates = [
                ListingUpdate("S001", 2, 1, catalog["S001"]),
                ListingUpdate("S002", 3, 1, wrong),
                ListingUpdate("GONE", 4, 1, catalog["S003"]),
            ]
            response = await client.send(adapter.build(ch, updates))
            assert response.status_code == 200
            return catalog, adapter.parse(response, updates)

    catalog, result = asyncio.run(run())
    assert set(catalog) == {f"S{i:03d}" for i in range(12)}
    assert catalog["S001"]["location_id"] == sim.location_id
    assert result.ok == ["S001"] and not result.retry
    assert set(result.failed) == {"S002", "GONE"}
    assert "product_id" in result.failed["S002"] and "does not exist" in result.failed["GONE"]
    assert sim.store.listings["S001"].quantity == 2 and sim.store.listings["S002"].quantity == 5


def test_the_simulator_refuses_what_flipkart_refuses(serve: Serve) -> None:
    sim, url = sim_with(serve)
    token = httpx.get(
        f"{url}/oauth-service/oauth/token",
        params={"grant_type": "client_credentials", "scope": "Seller_Api"},
        auth=("fk-sim-app", "fk-sim-secret"),
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    ids = sim.store.snapshot()["ids"]
    eleven = {
        s: {"product_id": ids[s]["product_id"], "locations": [{"id": sim.location_id, "inventory": 1}]}
        for s in list(ids)[:11]
    }
    push = f"{url}{PATH}"
    json_type = {"Content-Type": "application/json"}
    assert httpx.post(push, content=orjson.dumps(eleven), headers=auth | json_type).status_code == 400
    ten = dict(list(eleven.items())[:10])
    assert httpx.post(push, content=orjson.dumps(ten), headers=json_type).status_code == 401  # no token
    assert (
        httpx.post(push, content=orjson.dumps(ten), headers=auth | {"Content-Type": "text/plain"}).status_code
        == 400
    )
    negative = {"S000": ten["S000"] | {"locations": [{"id": sim.location_id, "inventory": -1}]}}
    answer = httpx.post(push, content=orjson.dumps(negative), headers=auth | json_type).json()
    assert answer["S000"]["status"] == "FAILURE"
    details = f"{url}/sellers/listings/v3/" + ",".join(list(ids)[:11])
    assert httpx.get(details, headers=auth).status_code == 400  # at most 10 SKU ids
    search = f"{url}/sellers/v3/shipments/filter"
    assert httpx.post(search, json={"filter": {"type": "preDispatch"}}, headers=auth).status_code == 400
    cancelled = {"filter": {"type": "cancelled", "states": ["CANCELLED"]}}
    assert httpx.post(search, json=cancelled, headers=auth).status_code == 400  # cancellationType
    both = f"{url}/sellers/v3/shipments?shipmentIds=a&orderIds=b"
    assert httpx.get(both, headers=auth).status_code == 400
