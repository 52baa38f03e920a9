"""Shards hand committed changes to the channel actors: every channel but the sale's source converges."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from actors.runtime import (
    NAMESPACE,
    channel_name,
    ensure_channels,
    ensure_shards,
    kill_channels,
    kill_shards,
    pushable,
    shard_name,
)
from actors.shard_client import ShardClient
from adapters.shopify.sim.app import ShopifySimulator
from adapters.sim.core import serve_in_thread
from adapters.woocommerce.sim.app import WooCommerceSimulator
from engine.config import ChannelConfig, Config, EngineConfig, StoreConfig
from engine.routing import ShardMap
from tests.conftest import REDIS_URL
from tests.integration.support import listed, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SKUS = [f"F{i}" for i in range(40)]


@pytest.fixture
def deployment(ray_cluster: None, prefix: str) -> Iterator[tuple[Config, dict[str, str]]]:
    shop = ShopifySimulator(access_token="shpat_fanout", maximum_available=1000, restore_rate=100)
    woo = WooCommerceSimulator(consumer_secret="cs_fanout")
    (shop_url, stop_shop), (woo_url, stop_woo) = serve_in_thread(shop.app), serve_in_thread(woo.app)
    for url in (shop_url, woo_url):
        items = [{"sku": s, "quantity": 0} for s in SKUS]
        httpx.post(f"{url}/_sim/seed", json={"items": items}, timeout=10).raise_for_status()
    channels = [
        ChannelConfig(
            id="shop",
            kind="shopify",
            base_url=shop_url,
            access_token="shpat_fanout",
            location_id="gid://shopify/Location/1",
        ),
        ChannelConfig(
            id="woo",
            kind="woocommerce",
            base_url=woo_url,
            consumer_key="ck_simulated",
            consumer_secret="cs_fanout",
        ),
    ]
    cfg = Config(store=StoreConfig(key_prefix=prefix), engine=EngineConfig(shards=2), channels=channels)
    yield cfg, {"shop": shop_url, "woo": woo_url}
    kill_shards(cfg)
    kill_channels(cfg)
    stop_shop()
    stop_woo()


def sale(n: int, sku: str, quantity: int, channel: str, at: float = 0.0) -> dict[str, Any]:
    return {
        "kind": "order_placed",
        "key": f"sale-{n}",
        "channel": channel,
        "order_id": f"o{n}",
        "lines": [{"sku": sku, "quantity": quantity}],
        "at": at,
    }


def test_changes_reach_every_channel_but_the_source_and_survive_outages(
    deployment: tuple[Config, dict[str, str]],
) -> None:
    cfg, urls = deployment
    handles = ensure_channels(cfg, REDIS_URL)
    client = ShardClient(ensure_shards(cfg, REDIS_URL, fan_out=True), ShardMap(2, cfg.engine.vshards))
    client.submit([{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": 10} for s in SKUS])
    for cid, url in urls.items():
        wait_until(lambda url=url: all(listed(url).get(s) == 10 for s in SKUS), f"{cid} seeded")

    # A sale on Shopify well after our pushes landed: WooCommerce must list 7; Shopify itself is
    # not told (it took the units off its listing itself).
    client.submit([sale(1, "F0", 3, "shop", at=time.time() + 10)])
    wait_until(lambda: listed(urls["woo"])["F0"] == 7, "woo follows the shopify sale")
    shop_stats = ray.get(handles["shop"].stats.remote())
    assert shop_stats["skipped_source"] >= 1 and listed(urls["shop"])["F0"] == 10
    # A sale whose time cannot rule out a race with our push is pushed to its own channel too.
    client.submit([sale(5, "F4", 1, "shop", at=0.0)])
    wait_until(lambda: listed(urls["shop"])["F4"] == 9 == listed(urls["woo"])["F4"], "both list 9")

    # The WooCommerce actor is gone while sales happen: the shards keep the changes and deliver
    # them once it is back (its durable state is in Redis). F1 and F2 live on shard 0.
    shard = ray.get_actor(shard_name(cfg.store.key_prefix, 0), namespace=NAMESPACE)
    ray.kill(handles["woo"], no_restart=True)
    wait_until(lambda: dead(handles["woo"]), "the woo actor is gone")  # the kill is asynchronous
    failures = fanout_of(shard)["failures"]
    client.submit([sale(2, "F1", 4, "shop"), sale(3, "F2", 1, "shop")])
    wait_until(lambda: fanout_of(shard)["failures"] > failures, "shard 0's notify to the absent woo failed")
    ensure_channels(cfg, REDIS_URL)
    wait_until(lambda: (listed(urls["woo"])["F1"], listed(urls["woo"])["F2"]) == (6, 9), "woo catches up")

    # A restarted shard hands every resident SKU over again; the channels drop what they have.
    # ray.kill is asynchronous: a sale sent right after it may still be decided (and fanned out)
    # by the activation being killed, so the sale waits for the next activation.
    woo = ray.get_actor(channel_name(cfg.store.key_prefix, "woo"), namespace=NAMESPACE)
    stale = ray.get(woo.stats.remote())["stale"]
    epoch = ray.get(shard.stats.remote())["epoch"]
    ray.kill(shard, no_restart=False)
    wait_until(lambda: epoch_of(shard) not in (None, epoch), "shard 0's next activation runs")
    client.submit([sale(4, "F3", 2, "woo")])
    wait_until(lambda: listed(urls["shop"])["F3"] == 8, "shop follows the woo sale after a shard restart")
    # Shop's listing says nothing about woo's notify, which travels separately: wait for woo to have
    # dropped shard 0's republished SKUs (all but F3, whose sale may have replaced it in the outbox).
    smap = ShardMap(2, cfg.engine.vshards)
    resent = [s for s in SKUS if smap.shard(s) == 0 and s != "F3"]
    wait_until(lambda: ray.get(woo.stats.remote())["stale"] >= stale + len(resent), "woo drops the resent")
    wait_until(lambda: ray.get(woo.idle.remote()), "woo idle")
    final = listed(urls["woo"])
    expect = {s: 10 for s in SKUS} | {"F0": 7, "F1": 6, "F2": 9, "F4": 9}  # F3 sold on woo itself
    assert {s: final[s] for s in SKUS if s != "F3"} == {s: q for s, q in expect.items() if s != "F3"}


def dead(actor: Any) -> bool:
    """The actor answers no more (killed without restart)."""
    try:
        ray.get(actor.ping.remote(), timeout=5)
    except RayActorError:
        return True
    except GetTimeoutError:
        pass
    return False


def fanout_of(shard: Any) -> dict[str, Any]:
    """The shard activation's fan-out counters (``SkuShard.stats``)."""
    delivery: dict[str, Any] = ray.get(shard.stats.remote())["fanout"]
    return delivery


def epoch_of(shard: Any) -> str | None:
    """The fencing epoch of the shard's running activation; None while it restarts."""
    try:
        epoch: str = ray.get(shard.stats.remote(), timeout=5)["epoch"]
    except (RayActorError, ActorUnavailableError, GetTimeoutError):
        return None
    return epoch


def test_a_channel_without_an_outbound_push_gets_no_actor_and_blocks_nothing(
    ray_cluster: None, prefix: str
) -> None:
    channels = [
        ChannelConfig(id="woo", kind="woocommerce", base_url="http://127.0.0.1:9", consumer_key="ck_x"),
        ChannelConfig(id="pos", kind="generic"),  # no push table: the seller's own checkout
    ]
    cfg = Config(store=StoreConfig(key_prefix=prefix), engine=EngineConfig(shards=1), channels=channels)
    try:
        assert [c.id for c in pushable(cfg)] == ["woo"]
        assert set(ensure_channels(cfg, REDIS_URL)) == {"woo"}
        client = ShardClient(ensure_shards(cfg, REDIS_URL, fan_out=True), ShardMap(1, cfg.engine.vshards))
        decisions, _ = client.submit([{"kind": "stock_set", "key": "s1", "sku": "A", "quantity": 3}])
        assert decisions[0]["lines"][0]["available"] == 3
    finally:
        kill_shards(cfg)
        kill_channels(cfg)
