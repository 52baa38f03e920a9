"""Overload end to end: with a shard's backlog at ``gateway.max_pending_events``, webhooks and
``POST /v1/orders`` for it are answered 503 with ``Retry-After`` and change nothing; once the
backlog drains the same delivery is 200 and decided once (issue 19 item 2).

The shards are real (the session's Ray, the real Redis); the gateway's client to them is held
shut by a gate, which is how a shard that cannot keep up looks from the gateway.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest
import redis

from actors.gateway import create_app
from actors.gateway.server import BackgroundServer
from actors.runtime import ensure_shards, kill_shards
from actors.shard_client import ShardClient
from engine.config import Config
from engine.decisions import WireDecision
from engine.events import WireEvent
from engine.routing import ShardMap
from tests.conftest import REDIS_URL, delete_prefix
from tests.integration.support import TOKEN, Gw, gateway_config, new_prefix, wait_until
from tests.integration.test_gateway_webhooks import shopify_headers, shopify_order

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class GatedShards:
    """A ``ShardClient`` whose batches wait at a gate the test opens (reads pass straight through)."""

    def __init__(self, inner: ShardClient) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()

    async def submit_async(self, events: list[WireEvent]) -> tuple[list[WireDecision], dict[str, Any]]:
        await asyncio.to_thread(self.gate.wait)
        return await self.inner.submit_async(events)

    async def get_async(self, sku: str) -> dict[str, Any] | None:
        return await self.inner.get_async(sku)

    async def get_many_async(self, skus: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        return await self.inner.get_many_async(skus)

    async def ping_async(self, timeout_s: float = 2.0) -> bool:
        return await self.inner.ping_async(timeout_s)


@pytest.fixture(scope="module")
def gated(ray_cluster: None, redis_client: redis.Redis) -> Iterator[tuple[Gw, GatedShards, Any]]:
    config = gateway_config(new_prefix())
    config = Config.model_validate(
        config.model_dump(mode="python")
        | {
            "gateway": config.gateway.model_dump()
            | {"admin_token": TOKEN, "max_pending_events": 1, "batch_max_inflight": 1}
        }
    )
    shards = ShardClient(
        ensure_shards(config, REDIS_URL), ShardMap(config.engine.shards, config.engine.vshards)
    )
    gate = GatedShards(shards)
    app = create_app(config, gate)
    server = BackgroundServer(app).start()
    try:
        yield Gw(server.url, config, shards, redis_client), gate, app.state.gateway
    finally:
        gate.gate.set()
        server.stop()
        kill_shards(config)
        delete_prefix(redis_client, config.store.key_prefix)


def skus_on(gw: Gw, shard: int, n: int) -> list[str]:
    smap = ShardMap(gw.config.engine.shards, gw.config.engine.vshards)
    out: list[str] = []
    while len(out) < n:
        sku = f"OV-{uuid.uuid4().hex[:8]}"
        if smap.shard(sku) == shard:
            out.append(sku)
    return out


def webhook(gw: Gw, order_id: int, sku: str, event_id: str) -> httpx.Response:
    body = orjson.dumps(shopify_order(order_id, [(sku, 1)]))
    return httpx.post(
        f"{gw.url}/webhooks/shop-us", content=body, headers=shopify_headers(body, event_id), timeout=60
    )


def refusals(gw: Gw, route: str) -> float:
    text = httpx.get(f"{gw.url}/metrics", headers=AUTH, timeout=10).text
    name = f'skusync_overload_refusals_total{{route="{route}"}} '
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)), 0.0)


def hold_shard(
    gw: Gw, gate: GatedShards, gateway: Any, sku: str, pool: ThreadPoolExecutor
) -> list[Future[Any]]:
    """Shut the gate and park two webhooks for ``sku``'s shard: one takes its only in-flight slot,
    the other waits for a flush, so that shard is at its bound (1)."""
    gate.gate.clear()
    shard = ShardMap(gw.config.engine.shards, gw.config.engine.vshards).shard(sku)
    batcher = gateway.batcher.batchers[shard]
    parked = []
    for check in (lambda: batcher.inflight == 1, lambda: batcher.pending == 1):
        oid = 9_000_000 + uuid.uuid4().int % 1_000_000
        parked.append(pool.submit(webhook, gw, oid, sku, f"park-{uuid.uuid4().hex}"))
        wait_until(check, "a parked webhook to be queued")  # one at a time: never in one batch
    return parked


def test_webhook_refused_503_with_retry_after_then_decided_once_after_the_drain(
    gated: tuple[Gw, GatedShards, Any],
) -> None:
    gw, gate, gateway = gated
    busy, other = skus_on(gw, 0, 1)[0], skus_on(gw, 1, 1)[0]
    gw.set_stock(busy, 10)
    gw.set_stock(other, 10)
    before = refusals(gw, "webhook")
    with ThreadPoolExecutor(3) as pool:
        parked = hold_shard(gw, gate, gateway, busy, pool)
        trace = gw.trace(busy)
        refused = webhook(gw, 4242, busy, "ev-4242")
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1" and refused.json()["retry"] is True
        assert gw.trace(busy) == trace  # nothing decided, nothing written
        assert refusals(gw, "webhook") == before + 1
        # the other shard is not held up by this one's backlog: admitted, then waits at the gate
        admitted = pool.submit(webhook, gw, 4343, other, "ev-4343")
        wait_until(lambda: gateway.batcher.batchers[1].outstanding == 1, "the other shard's webhook")
        gate.gate.set()
        assert [f.result(60).status_code for f in [*parked, admitted]] == [200, 200, 200]
    wait_until(lambda: gateway.batcher.outstanding == 0, "the backlog to drain")
    again = webhook(gw, 4242, busy, "ev-4242")  # the marketplace's retry of the refused delivery
    assert again.status_code == 200, again.text
    key = again.json()["decisions"][0]["key"]
    assert [e["delta"] for e in gw.audit_of(busy) if e["key"] == key] == [-1]
    assert gw.shards.get(busy)["available"] == 7  # type: ignore[index]  # the two parked and this one


def test_order_refused_503_with_retry_after_and_nothing_written(
    gated: tuple[Gw, GatedShards, Any],
) -> None:
    gw, gate, gateway = gated
    busy = skus_on(gw, 0, 1)[0]
    gw.set_stock(busy, 5)
    key = f"ov-{uuid.uuid4().hex}"
    body = orjson.dumps({"channel": "pos", "order_id": key, "lines": [{"sku": busy, "quantity": 2}]})
    headers = {**AUTH, "Idempotency-Key": key}
    before = refusals(gw, "orders")
    with ThreadPoolExecutor(2) as pool:
        parked = hold_shard(gw, gate, gateway, busy, pool)
        refused = httpx.post(f"{gw.url}/v1/orders", content=body, headers=headers, timeout=60)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refusals(gw, "orders") == before + 1
        assert not gw.redis.keys(f"{gw.config.store.key_prefix}:*{key}*")  # no claim, no order record
        gate.gate.set()
        assert [f.result(60).status_code for f in parked] == [200, 200]
    wait_until(lambda: gateway.batcher.outstanding == 0, "the backlog to drain")
    placed = httpx.post(f"{gw.url}/v1/orders", content=body, headers=headers, timeout=60)
    assert placed.status_code == 201, placed.text
    assert gw.shards.get(busy)["available"] == 1  # type: ignore[index]  # the parked sales and this order
