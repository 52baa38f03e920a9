"""Reconciliation reads survive a dropped connection: a transport error is retried, a bad answer is not."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from adapters.reading import ReadError, ReadStats, get_paced
from adapters.shopify.reconcile import ShopifyReconcile
from engine.config import ChannelConfig

PAGE = {
    "data": {
        "productVariants": {
            "edges": [
                {
                    "node": {
                        "sku": "A",
                        "inventoryQuantity": 9,  # every location: never what we compare
                        "inventoryItem": {
                            "inventoryLevel": {"quantities": [{"name": "available", "quantity": 3}]}
                        },
                    }
                }
            ],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
    }
}


def flaky(answer: httpx.Response, failures: int) -> tuple[httpx.MockTransport, list[int]]:
    """A transport whose first ``failures`` requests die mid-read, then answer ``answer``."""
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= failures:
            raise httpx.ReadError("connection closed", request=request)
        return answer

    return httpx.MockTransport(handle), calls


async def no_pace(cost: float) -> None:
    return None


async def no_sleep(seconds: float) -> None:
    return None


def read(transport: httpx.MockTransport, max_attempts: int = 5) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport) as client:
            return await get_paced(
                client,
                "http://shop.test/orders.json",
                params={},
                headers={},
                cost=1.0,
                pace=no_pace,
                stats=ReadStats(),
                sleep=no_sleep,
                max_attempts=max_attempts,
                what="orders",
            )

    return asyncio.run(go())


def test_get_paced_retries_a_dropped_connection() -> None:
    transport, calls = flaky(httpx.Response(200, json={"orders": []}), failures=2)
    assert read(transport).json() == {"orders": []}
    assert len(calls) == 3


def test_get_paced_gives_up_after_max_attempts_of_dropped_connections() -> None:
    transport, calls = flaky(httpx.Response(200), failures=10)
    with pytest.raises(ReadError, match="after 3 attempts"):
        read(transport, max_attempts=3)
    assert len(calls) == 3


def test_get_paced_does_not_retry_a_refusal() -> None:
    transport, calls = flaky(httpx.Response(403, text="forbidden"), failures=0)
    with pytest.raises(ReadError, match="HTTP 403"):
        read(transport)
    assert len(calls) == 1


def test_shopify_listing_read_retries_a_dropped_connection() -> None:
    transport, calls = flaky(httpx.Response(200, content=orjson.dumps(PAGE)), failures=1)
    channel = ChannelConfig(
        id="shop-1",
        kind="shopify",
        webhook_secret="s",
        base_url="http://shop.test",
        access_token="t",  # type: ignore[arg-type]
        location_id="gid://shopify/Location/1",
    )

    async def go() -> list[dict[str, int]]:
        async with httpx.AsyncClient(transport=transport) as client:
            adapter = ShopifyReconcile(sleep=no_sleep)
            return [page async for page in adapter.listed_quantities(client, channel, no_pace, ReadStats())]

    assert asyncio.run(go()) == [{"A": 3}]
    assert len(calls) == 2
