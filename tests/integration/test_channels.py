"""ChannelActor on the session Ray, the real Redis and the marketplace simulators over loopback."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import ray
import redis

from actors.runtime import NAMESPACE, channel_name, ensure_channels, kill_channels
from adapters.shopify.sim.app import ShopifySimulator
from adapters.woocommerce.sim.app import WooCommerceSimulator
from engine.channel_sync import rules_for
from engine.config import ChannelConfig, Config, StoreConfig
from engine.store.keys import Keys
from tests.conftest import REDIS_URL
from tests.integration.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOKEN = "shpat_integration_secret"
Start = Callable[[ChannelConfig], Any]


@pytest.fixture
def start_channel(ray_cluster: None, prefix: str) -> Iterator[Start]:
    """Create a channel's actor under this test's key prefix; every one is killed at teardown."""
    configs: list[Config] = []

    def start(channel: ChannelConfig) -> Any:
        cfg = Config(store=StoreConfig(key_prefix=prefix), channels=[channel])
        configs.append(cfg)
        return ensure_channels(cfg, REDIS_URL)[channel.id]

    yield start
    for cfg in configs:
        kill_channels(cfg)


class Master:
    """The master side as the shards would report it: available and version per SKU."""

    def __init__(self) -> None:
        self.available: dict[str, int] = {}
        self.version: dict[str, int] = {}

    def set(self, sku: str, available: int, source: str | None = None) -> dict[str, dict[str, Any]]:
        self.available[sku] = available
        self.version[sku] = self.version.get(sku, 0) + 1
        return {sku: {"available": available, "version": self.version[sku], "source": source}}


def shopify(url: str, **extra: Any) -> ChannelConfig:
    return ChannelConfig(
        id="shop",
        kind="shopify",
        base_url=url,
        access_token=TOKEN,
        location_id="gid://shopify/Location/1",
        catalog_page_size=100,
        **extra,
    )


def woo(url: str, **extra: Any) -> ChannelConfig:
    return ChannelConfig(
        id="woo",
        kind="woocommerce",
        base_url=url,
        consumer_key="ck_simulated",
        consumer_secret="cs_x",
        **extra,
    )


def state(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/_sim/state", params={"lists": "0"}, timeout=5).json())


def stats(handle: Any) -> dict[str, Any]:
    return dict(ray.get(handle.stats.remote()))


def catalog_loaded(handle: Any) -> None:
    wait_until(lambda: stats(handle)["catalog_skus"] is not None, what="catalog import")


def expected(channel: ChannelConfig, master: Master) -> dict[str, int]:
    rules = rules_for(channel)
    return {sku: max(0, rules.listed(sku, a)) for sku, a in master.available.items()}


def converge(handle: Any, url: str, channel: ChannelConfig, master: Master, timeout: float = 30) -> None:
    """Wait until the actor is idle and the simulator lists exactly max(0, available - buffer)."""
    want = expected(channel, master)

    def done() -> bool:
        listed = state(url)["listed"]
        return bool(ray.get(handle.idle.remote())) and all(listed[s] == q for s, q in want.items())

    wait_until(done, "convergence", timeout)


def seed(url: str, skus: list[str], groups: int = 0) -> None:
    items = [
        {"sku": s, "quantity": 0} | ({"group": f"g{i % groups}"} if groups and i % 5 == 0 else {})
        for i, s in enumerate(skus)
    ]
    httpx.post(f"{url}/_sim/seed", json={"items": items}, timeout=10).raise_for_status()


def steady_load(handle: Any, master: Master, skus: list[str], seconds: float, per_tick: int) -> int:
    """Notify ``per_tick`` random SKUs every 50 ms (as shard commits would); returns changes sent."""
    rng, sent, end = random.Random(3), 0, time.monotonic() + seconds
    while time.monotonic() < end:
        changes: dict[str, dict[str, Any]] = {}
        for sku in rng.sample(skus, per_tick):
            changes |= master.set(sku, rng.randint(-2, 40))
        ray.get(handle.notify.remote(changes))
        sent += len(changes)
        time.sleep(0.05)
    return sent


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
def test_steady_load_stays_within_the_budget_and_converges_with_buffers(
    kind: str, serve: Callable[[Any], str], start_channel: Start
) -> None:
    buffers = {
        "buffer_rules": {"skus": {"S1": {"percent": 50}, "S2": {"max_listed": 3}}},
        "default_buffer": 2,
    }
    if kind == "shopify":
        url = serve(ShopifySimulator(access_token=TOKEN, maximum_available=200, restore_rate=100).app)
        channel = shopify(url, rate_limit={"per_second": 100, "burst": 200}, **buffers)
    else:
        url = serve(WooCommerceSimulator(consumer_secret="cs_x", rate_limit=(5.0, 10.0)).app)
        channel = woo(url, **buffers)  # the adapter's default budget (5/s, burst 10) matches the host's
    skus = [f"S{i}" for i in range(300)]
    seed(url, skus, groups=4 if kind == "woocommerce" else 0)
    handle = start_channel(channel)
    catalog_loaded(handle)
    master = Master()

    changes = steady_load(handle, master, skus, seconds=3.0, per_tick=30)
    # Last values for the SKUs with their own rules (and one below zero), then one the shop lacks.
    ray.get(handle.notify.remote(master.set("S1", 7) | master.set("S2", 30) | master.set("S3", -1)))
    ghost = ray.get(handle.notify.remote({"GHOST": {"available": 5, "version": 1, "source": None}}))
    converge(handle, url, channel, master)

    sim, ours = state(url), stats(handle)
    assert sim["counters"]["throttled"] == 0 and ours["throttled"] == 0
    assert ghost["unknown"] == ["GHOST"] and ours["unknown_skus"] == 1 and "GHOST" not in sim["listed"]
    assert ours["requests"] < changes / 5  # batched and coalesced
    assert [sim["listed"][s] for s in ("S1", "S2", "S3")] == [3, 3, 0]
    shown = ray.get(handle.status.remote(["S1", "S2", "S3"]))
    for sku in ("S1", "S2", "S3"):
        assert shown[sku]["listed"] == sim["listed"][sku] and shown[sku]["last_push_at"] is not None
        assert shown[sku]["synced_version"] == master.version[sku]
        assert shown[sku]["buffer"] == max(0, master.available[sku]) - sim["listed"][sku]
    print(f"\n{kind}: {changes} changes -> {ours['requests']} requests, {ours['acked']} SKU updates")


def test_throttled_anyway_the_budget_adopts_the_channel_and_recovers(
    serve: Callable[[Any], str], start_channel: Start
) -> None:
    # A shop charging a point per quantity, so that a 100-SKU call costs 110 (the published model: 10).
    sim = ShopifySimulator(
        access_token=TOKEN, maximum_available=200, restore_rate=100, mutation_cost_per_quantity=1
    )
    url = serve(sim.app)
    channel = shopify(url, rate_limit={"per_second": 100, "burst": 200}, mutation_cost_per_quantity=1)
    skus = [f"T{i}" for i in range(100)]
    seed(url, skus)
    handle = start_channel(channel)
    catalog_loaded(handle)
    master = Master()
    ray.get(handle.notify.remote({k: v for s in skus for k, v in master.set(s, 10).items()}))
    converge(handle, url, channel, master)

    # The shop's budget shrinks behind our back: a 100-SKU call (110 points) no longer fits in 50.
    httpx.post(f"{url}/_sim/settings", json={"maximum_available": 50}, timeout=5).raise_for_status()
    ray.get(handle.notify.remote({k: v for s in skus for k, v in master.set(s, 7).items()}))
    converge(handle, url, channel, master)

    ours = stats(handle)
    assert 1 <= state(url)["counters"]["throttled"] == ours["throttled"] <= 3
    assert ours["budget_capacity"] <= 50 and ours["dead_letters"] == 0
    print(f"\nthrottled anyway: {ours['throttled']} throttled answers, {ours['requests']} requests")


def test_burst_of_100_changes_to_one_sku_coalesces(serve: Callable[[Any], str], start_channel: Start) -> None:
    url = serve(ShopifySimulator(access_token=TOKEN).app)
    channel = shopify(url)
    seed(url, ["HOT", "COLD"])
    handle = start_channel(channel)
    catalog_loaded(handle)
    master = Master()
    ray.get(handle.notify.remote(master.set("HOT", 600) | master.set("COLD", 1)))
    converge(handle, url, channel, master)
    time.sleep(1.0)  # let the budget refill: the burst must not be coalesced by a budget wait alone

    ray.get([handle.notify.remote(master.set("HOT", 500 - i)) for i in range(100)])
    converge(handle, url, channel, master)

    pushes = [r for r in httpx.get(f"{url}/_sim/state", timeout=5).json()["received"] if r[1] == "HOT"]
    pushes = pushes[1:]  # the first set 600, before the burst
    assert len(pushes) < 50 and pushes[-1][2] == 401
    print(f"\nburst: 100 changes to one SKU -> {len(pushes)} pushes")


def test_retries_then_dead_letter_then_redrive(
    serve: Callable[[Any], str], start_channel: Start, prefix: str, redis_client: redis.Redis
) -> None:
    url = serve(ShopifySimulator(access_token=TOKEN).app)
    channel = shopify(url, max_attempts=3, retry_base_s=0.05, retry_cap_s=0.2)
    skus = ["D1", "D2", "D3"]
    seed(url, skus)
    handle = start_channel(channel)
    catalog_loaded(handle)
    master = Master()
    httpx.post(f"{url}/_sim/faults", json={"error_rate": 1.0}, timeout=5).raise_for_status()

    ray.get(handle.notify.remote({k: v for s in skus for k, v in master.set(s, 6).items()}))
    wait_until(lambda: stats(handle)["dead_letters"] == 3, what="dead letters")

    entries = ray.get(handle.dlq_list.remote())
    assert sorted(e["sku"] for e in entries) == skus
    assert all(e["attempts"] == 3 and e["response"]["status"] == 500 and "500" in e["error"] for e in entries)
    assert entries[0]["request"]["update"]["quantity"] == 6 and entries[0]["request"]["method"] == "POST"
    raw = repr(redis_client.xrange(Keys(prefix).dlq())).encode()
    assert b"D1" in raw and TOKEN.encode() not in raw and b"access-token" not in raw.lower()
    ours = stats(handle)
    # Three tries each; full jitter spreads the retries, so they may travel in separate requests.
    assert ours["retries"] == 6 and 3 <= ours["requests"] <= 9
    assert redis_client.hlen(Keys(prefix).channel_pending("shop")) == 0

    httpx.post(f"{url}/_sim/faults", json={}, timeout=5).raise_for_status()
    redriven = ray.get(handle.dlq_redrive.remote())
    assert redriven == {"entries": 3, "requeued": 3, "obsolete": 0}
    converge(handle, url, channel, master)
    assert ray.get(handle.dlq_list.remote()) == []


def test_timeouts_and_resets_after_apply_are_retried_until_converged(
    serve: Callable[[Any], str], start_channel: Start
) -> None:
    url = serve(WooCommerceSimulator(consumer_secret="cs_x").app)
    channel = woo(url, timeout_s=0.3, retry_base_s=0.05, retry_cap_s=0.3, max_attempts=20, max_batch=10)
    skus = [f"F{i}" for i in range(60)]
    seed(url, skus)
    handle = start_channel(channel)
    catalog_loaded(handle)
    master = Master()
    faults = {"timeout_rate": 0.2, "timeout_hold_s": 1.0, "reset_after_apply_rate": 0.3, "seed": 1}
    httpx.post(f"{url}/_sim/faults", json=faults, timeout=5).raise_for_status()

    ray.get(handle.notify.remote({k: v for s in skus for k, v in master.set(s, 3).items()}))
    converge(handle, url, channel, master)

    sim, ours = state(url)["counters"], stats(handle)
    assert sim["timeouts"] > 0 and sim["resets"] > 0, (sim, ours)
    assert ours["transport_errors"] >= sim["resets"] and ours["dead_letters"] == 0


def test_actor_killed_mid_drain_resumes_from_the_durable_pending_set(
    serve: Callable[[Any], str], start_channel: Start, prefix: str, redis_client: redis.Redis
) -> None:
    url = serve(WooCommerceSimulator(consumer_secret="cs_x").app)
    channel = woo(url, max_in_flight=1, rate_limit={"per_second": 100, "burst": 100}, max_batch=50)
    skus = [f"K{i}" for i in range(400)]
    seed(url, skus)
    handle = start_channel(channel)
    catalog_loaded(handle)
    master = Master()
    httpx.post(f"{url}/_sim/faults", json={"latency_s": 0.15}, timeout=5).raise_for_status()

    ray.get(handle.notify.remote({k: v for s in skus for k, v in master.set(s, 9).items()}))
    wait_until(lambda: bool(httpx.get(f"{url}/_sim/state", timeout=5).json()["received"]), what="a push")
    pid_before = stats(handle)["pid"]
    ray.kill(handle, no_restart=False)
    assert redis_client.hlen(Keys(prefix).channel_pending("woo")) > 0  # work left at the kill

    # Watch only the simulator: Ray's restart runs __init__, which resumes the drain by itself.
    want = expected(channel, master)
    wait_until(lambda: state(url)["listed"] == want, timeout=40, what="convergence after restart")
    restarted = ray.get_actor(channel_name(prefix, "woo"), namespace=NAMESPACE)
    wait_until(lambda: _answers(restarted), what="the restarted actor")
    converge(restarted, url, channel, master)
    assert redis_client.hlen(Keys(prefix).channel_pending("woo")) == 0
    after = stats(restarted)
    assert after["pid"] != pid_before and after["requests"] > 0 and after["dead_letters"] == 0
    print(f"\nkilled mid-drain: restarted actor sent {after['requests']} requests to finish")


def _answers(handle: Any) -> bool:
    try:
        return bool(ray.get(handle.ping.remote(), timeout=2))
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return False
