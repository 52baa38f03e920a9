"""A Walmart channel actor sends a large backlog as one bulk inventory feed (through the push path's
``follow`` hook: submitted, polled, judged), against the strict simulator over loopback: every SKU
the feed set lands, and the one item Walmart refused (its SKU delisted after the import) is
dead-lettered with the feed's error while nothing else is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import ray

from actors.runtime import ensure_channels, kill_channels
from adapters.walmart.sim.conformance import WalmartDriver
from engine.config import ChannelConfig, Config, StoreConfig
from tests.conformance.support import fresh, notify
from tests.conftest import REDIS_URL
from tests.integration.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
def driver() -> Iterator[WalmartDriver]:
    made = WalmartDriver()
    made.start()
    yield made
    made.stop()


def test_a_backlog_goes_as_one_feed_and_a_refused_item_fails_only_its_sku(
    ray_cluster: None, prefix: str, driver: WalmartDriver
) -> None:
    skus = fresh(10, "WF")
    driver.seed(dict.fromkeys(skus, 0))
    keys: dict[str, Any] = {"feed_min_items": 10, "feed_max_items": 10, "max_attempts": 2}
    channel = ChannelConfig.model_validate(driver.channel("wmt-feed") | keys)
    config = Config(store=StoreConfig(redis_url=REDIS_URL, key_prefix=prefix), channels=[channel])
    handle = ensure_channels(config, REDIS_URL)[channel.id]
    try:
        wait_until(lambda: ray.get(handle.stats.remote())["catalog_skus"] == 10, "catalog import")
        gone = skus[-1]
        with driver.sim.store.lock:
            del driver.sim.store.listings[gone]  # delisted on Walmart after the import
        targets = {sku: 20 + i for i, sku in enumerate(skus)}
        notify(handle, targets, 1)
        wait_until(lambda: bool(ray.get(handle.idle.remote())), "the feed to be judged", timeout=60)
        listed = driver.listed()
        assert {s: listed[s] for s in skus[:-1]} == {s: targets[s] for s in skus[:-1]}
        assert driver.pushes()[0] == 10  # one feed carried the whole backlog
        [dead] = ray.get(handle.dlq_list.remote())
        assert dead["sku"] == gone and "not found" in str(dead)
    finally:
        kill_channels(config)
