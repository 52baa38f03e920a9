"""Settings that apply: a start with a changed configuration replaces exactly the actors it changes.

Each start does what ``skusync serve`` does before it listens (``actors.gateway.server.serve``):
channel actors, then shards with fan-out, then the supervisor, from this process (a Ray driver).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
import redis

from actors.deployment import Deployment, Records, actor_id, named_actors
from actors.names import NAMESPACE, supervisor_name
from actors.runtime import (
    channel_specs,
    ensure_channels,
    ensure_shards,
    ensure_supervisor,
    shard_specs,
    supervisor_spec,
)
from actors.shard_client import ShardClient
from adapters.sim.core import serve_in_thread
from adapters.woocommerce.sim.app import WooCommerceSimulator
from engine.config import Config, ConfigError
from engine.routing import ShardMap
from engine.store import Keys, idem_layout
from tests.conftest import REDIS_URL
from tests.integration.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
RIGHT_SECRET = "cs_right"


@pytest.fixture
def woo_url() -> Iterator[str]:
    """A WooCommerce store that lists one SKU and accepts only ``RIGHT_SECRET``."""
    sim = WooCommerceSimulator(consumer_secret=RIGHT_SECRET)
    url, stop = serve_in_thread(sim.app)
    httpx.post(
        f"{url}/_sim/seed", json={"items": [{"sku": "S1", "quantity": 0}]}, timeout=10
    ).raise_for_status()
    yield url
    stop()


def config(
    prefix: str, woo_url: str, secret: str = "cs_wrong", rate: float = 5.0, ttl_h: float = 1.0
) -> Config:
    def woo(cid: str, secret: str, rate: float) -> dict[str, Any]:
        return {
            "id": cid,
            "kind": "woocommerce",
            "base_url": woo_url,
            "consumer_key": "ck_simulated",
            "consumer_secret": secret,
            "rate_limit": {"per_second": rate, "burst": 5},
        }

    return Config.model_validate(
        {
            "store": {"key_prefix": prefix, "redis_url": REDIS_URL},
            "engine": {"shards": 2, "idempotency_ttl_hours": ttl_h},
            "channels": [woo("a", secret, 5.0), woo("b", RIGHT_SECRET, rate)],
        }
    )


def start(cfg: Config) -> dict[str, str]:
    """Start as ``serve`` does; every named actor of the deployment -> its Ray actor id."""
    ensure_channels(cfg, REDIS_URL)
    ensure_shards(cfg, REDIS_URL, fan_out=True)
    ensure_supervisor(cfg, REDIS_URL)
    return live_ids(cfg.store.key_prefix)


def live_ids(prefix: str) -> dict[str, str]:
    return {n: actor_id(ray.get_actor(n, namespace=NAMESPACE)) for n in named_actors(f"{prefix}-.*")}


def wanted_fingerprints(cfg: Config) -> dict[str, str]:
    specs = [*shard_specs(cfg, REDIS_URL, True), *channel_specs(cfg, REDIS_URL).values()]
    specs.append(supervisor_spec(cfg, REDIS_URL))
    return {s.name: s.fingerprint for s in specs}


def assert_recorded(cfg: Config, ids: dict[str, str]) -> None:
    """Every live actor is the recorded one, and its recorded fingerprint is ``cfg``'s."""
    records = Records(REDIS_URL, cfg.store.key_prefix).read()
    wanted = wanted_fingerprints(cfg)
    assert set(ids) == set(wanted)
    for name, aid in ids.items():
        assert (records[name].actor_id, records[name].fingerprint) == (aid, wanted[name]), name


def channel_stats(prefix: str, cid: str) -> dict[str, Any]:
    handle: Any = ray.get_actor(f"{prefix}-channel-{cid}", namespace=NAMESPACE)
    stats: dict[str, Any] = ray.get(handle.stats.remote())
    return stats


@pytest.fixture
def stopped(ray_cluster: None, prefix: str) -> Iterator[None]:
    """Removes the deployment's actors at teardown, whatever configuration started them last."""
    yield
    with Deployment(prefix, REDIS_URL) as deployment:
        deployment.stop_all([supervisor_name(prefix)], [])


def test_a_changed_setting_replaces_only_the_actors_it_reaches(
    stopped: None, prefix: str, woo_url: str, redis_client: redis.Redis
) -> None:
    """Same config: every actor kept. A channel credential: that channel's actor (and the
    supervisor, which reconciles with it); a rate limit: that channel's; the idempotency window:
    the shards (and the supervisor). Each replacement runs with the new value."""
    first = start(config(prefix, woo_url))
    assert start(config(prefix, woo_url)) == first  # nothing changed, nothing replaced
    assert channel_stats(prefix, "a")["catalog_skus"] is None  # the wrong secret: no catalog

    cfg = config(prefix, woo_url, secret=RIGHT_SECRET)
    second = start(cfg)
    wait_until(
        lambda: channel_stats(prefix, "a")["catalog_skus"] == 1, "channel a imports with its new secret"
    )
    assert {n for n in first if first[n] != second[n]} == {f"{prefix}-channel-a", supervisor_name(prefix)}
    assert_recorded(cfg, second)

    cfg = config(prefix, woo_url, secret=RIGHT_SECRET, rate=8.0)
    third = start(cfg)
    assert channel_stats(prefix, "b")["budget_rate"] == pytest.approx(8.0 * 0.9)  # rate_safety 0.9
    assert {n for n in second if second[n] != third[n]} == {f"{prefix}-channel-b", supervisor_name(prefix)}
    assert_recorded(cfg, third)

    cfg = config(prefix, woo_url, secret=RIGHT_SECRET, rate=8.0, ttl_h=3.0)
    fourth = start(cfg)
    client = ShardClient(ensure_shards(cfg, REDIS_URL, fan_out=True), ShardMap(2, cfg.engine.vshards))
    client.submit([{"kind": "stock_set", "key": "ttl-probe", "sku": "S1", "quantity": 3}])
    registry = Keys(prefix).idem_registry()
    held = [h for h, f in idem_layout.places(redis_client.hgetall(registry), registry, "ttl-probe")
            if redis_client.hexists(h, f)]  # fmt: skip
    assert len(held) == 1 and redis_client.ttl(held[0]) > 2 * 3600  # the new window, not 1 h
    shards = {f"{prefix}-shard-0", f"{prefix}-shard-1"}
    assert {n for n in third if third[n] != fourth[n]} == {*shards, supervisor_name(prefix)}
    assert_recorded(cfg, fourth)


def test_a_changed_vshard_count_is_refused_before_any_shard_stops(stopped: None, prefix: str) -> None:
    cfg = Config.model_validate({"store": {"key_prefix": prefix}, "engine": {"shards": 2}})
    client = ShardClient(ensure_shards(cfg, REDIS_URL), ShardMap(2, cfg.engine.vshards))
    client.submit([{"kind": "stock_set", "key": "seed", "sku": "S1", "quantity": 3}])
    before = live_ids(prefix)
    changed = Config.model_validate(
        {"store": {"key_prefix": prefix}, "engine": {"shards": 2, "vshards": 512}}
    )
    with pytest.raises(ConfigError, match=r"engine\.vshards"):
        ensure_shards(changed, REDIS_URL)
    assert live_ids(prefix) == before
    assert client.get("S1")["available"] == 3  # type: ignore[index]
