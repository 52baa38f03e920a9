"""An Amazon channel actor sends a 600-SKU backlog as one ``JSON_LISTINGS_FEED`` (through the push
path's ``follow`` hook: document, upload, createFeed, getFeed, report), against the strict simulator
over loopback: every SKU the feed set lands, no SKU goes by patch, and the one message Amazon
refused (its SKU delisted after the import) is dead-lettered with its issue while nothing else is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from actors.runtime import ensure_channels, kill_channels
from adapters.amazon.sim.conformance import AmazonDriver
from adapters.amazon.sim.feeds import MAX_MESSAGES
from engine.config import ChannelConfig, Config, StoreConfig
from tests.conformance.support import fresh, notify
from tests.conftest import REDIS_URL
from tests.integration.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BACKLOG = 600


@pytest.fixture
def driver() -> Iterator[AmazonDriver]:
    made = AmazonDriver()
    made.start()
    yield made
    made.stop()


def test_a_600_sku_backlog_goes_as_one_feed_and_a_refused_message_fails_only_its_sku(
    ray_cluster: None, prefix: str, driver: AmazonDriver
) -> None:
    skus = fresh(BACKLOG, "AF")
    driver.seed(dict.fromkeys(skus, 0))
    # The adapter's defaults (500 SKUs, 25,000 a feed) in place of the conformance driver's small
    # cap; a short poll so the test waits on the simulator, not the clock.
    driver.sim.feeds.max_messages = MAX_MESSAGES
    keys: dict[str, Any] = {
        "feed_min_items": 500, "feed_max_items": MAX_MESSAGES, "feed_patch_reserve": 0, "feed_poll_s": 0.2
    }
    keys["max_attempts"] = 2
    channel = ChannelConfig.model_validate(driver.channel("amz-feed") | keys)
    config = Config(store=StoreConfig(redis_url=REDIS_URL, key_prefix=prefix), channels=[channel])
    handle = ensure_channels(config, REDIS_URL)[channel.id]
    try:
        wait_until(lambda: ray.get(handle.stats.remote())["catalog_skus"] == BACKLOG, "catalog import")
        gone = skus[-1]
        with driver.sim.store.lock:
            del driver.sim.store.listings[gone]  # delisted on Amazon after the import
        targets = {sku: 1 + i % 50 for i, sku in enumerate(skus)}
        started = time.monotonic()
        notify(handle, targets, 1)
        wait_until(lambda: bool(ray.get(handle.idle.remote())), "the feed to be judged", timeout=90)
        took = time.monotonic() - started
        listed = driver.listed()
        assert {s: listed[s] for s in skus[:-1]} == {s: targets[s] for s in skus[:-1]}
        assert driver.pushes() == [BACKLOG]  # one feed of 600 messages, no patchListingsItem
        [report] = driver.sim.feeds.processed  # one feed carried the whole backlog
        assert report["summary"]["messagesProcessed"] == BACKLOG
        [dead] = ray.get(handle.dlq_list.remote())
        assert dead["sku"] == gone and "not a listing" in str(dead)
        print(f"600-SKU backlog by one feed: {took:.1f} s (simulator processes at the second poll)")
    finally:
        kill_channels(config)
