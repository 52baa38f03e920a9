"""Every kind's pushes from a channel actor to its simulator: requests never carry more than the kind's
batch limit, the actor keeps within the rate the channel is given (the kind's published one by
default), and a throttle storm loses no update and dead-letters nothing while retries remain."""

from __future__ import annotations

import math
from typing import Any

import pytest
import ray

from actors.channel_http import outbound_for
from adapters.base import ListingUpdate
from adapters.sim.conformance import ConformanceDriver
from engine.config import ChannelConfig
from tests.conformance.conftest import StartChannel
from tests.conformance.support import converged, fresh, notify
from tests.integration.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def no_dead_letters(handle: Any) -> None:
    assert ray.get(handle.stats.remote())["dead_letters"] == 0
    assert ray.get(handle.dlq_list.remote()) == []


def test_pushes_never_exceed_the_batch_limit(driver: ConformanceDriver, start_channel: StartChannel) -> None:
    adapter = outbound_for(ChannelConfig.model_validate(driver.channel("probe")))
    assert adapter.max_batch <= driver.batch_limit  # the adapter's default fits the marketplace's cap
    skus = fresh(driver.batch_limit + 1)
    driver.seed(dict.fromkeys(skus, 0))
    handle = start_channel()
    targets = {sku: 1 + i % 7 for i, sku in enumerate(skus)}
    notify(handle, targets, 1)
    converged(driver, handle, targets, "every SKU pushed")
    sizes = driver.pushes()
    assert sizes and max(sizes) <= driver.batch_limit, sizes
    assert len(sizes) >= math.ceil(len(skus) / driver.batch_limit) and sum(sizes) >= len(skus)
    assert driver.throttled() == 0
    no_dead_letters(handle)


def test_pushes_keep_within_the_rate_the_marketplace_enforces(
    driver: ConformanceDriver, start_channel: StartChannel
) -> None:
    """The published rate is the default budget; it is checked here at a rate low enough that the
    pushes must wait for it: the channel is given two requests' worth per second (burst the same) and
    the simulator enforces exactly that, so any request beyond it would be throttled."""
    probe = ChannelConfig.model_validate(driver.channel("probe"))
    adapter = outbound_for(probe)
    if driver.published_rate is not None:
        rate, burst = adapter.default_rate
        assert rate <= driver.published_rate[0] and burst <= driver.published_rate[1]
    skus = fresh(20)
    driver.seed(dict.fromkeys(skus, 0))
    call = adapter.cost([ListingUpdate(skus[0], 1, 1, {})])
    limit = {"per_second": 2 * call, "burst": 2 * call}
    handle = start_channel(rate_limit=limit, **driver.batching(5))
    driver.enforce_rate(limit["per_second"], limit["burst"])
    before = len(driver.pushes())
    targets = {sku: 3 + i for i, sku in enumerate(skus)}
    notify(handle, targets, 1)
    converged(driver, handle, targets, "every SKU pushed within the rate")
    assert len(driver.pushes()) - before >= 4  # more requests than the burst allows at once
    assert driver.throttled() == 0
    no_dead_letters(handle)


def test_a_throttle_storm_loses_no_update_and_dead_letters_nothing(
    driver: ConformanceDriver, start_channel: StartChannel
) -> None:
    """One attempt per SKU only: a throttled answer must not use it up (the account's budget ran out,
    not the SKU's luck; the throttle's wait is the backoff), so every SKU gets through once the storm
    ends, at its newest value, and nothing reaches the dead-letter queue."""
    skus = fresh(20)
    driver.seed(dict.fromkeys(skus, 0))
    handle = start_channel(max_attempts=1, retry_base_s=0.05, retry_cap_s=0.5, **driver.batching(5))
    driver.throttle(True)
    notify(handle, {sku: 1 + i for i, sku in enumerate(skus)}, 1)
    wait_until(lambda: driver.throttled() >= 1, "the marketplace to throttle")
    newest = {sku: 30 + i for i, sku in enumerate(skus)}
    notify(handle, newest, 2)  # newer versions arrive while the first are held back
    driver.throttle(False)
    converged(driver, handle, newest, "every SKU at its newest value after the storm")
    stats = ray.get(handle.stats.remote())
    assert stats["throttled"] >= 1 and stats["throttled_retries"] >= 1, stats
    no_dead_letters(handle)
