"""Fixtures of the conformance suite: every kind with a driver, one gateway per kind, a simulator per test.

Kinds come from ``adapters.sim.conformance.kinds()`` (the ``adapters/<kind>/sim/conformance.py``
files), so a kind joins the suite by adding its driver. The session's Redis and Ray come from
``tests/conftest.py``; the gateway is the integration tests' (``tests.integration.support``), here one
per kind for the whole package, with a single channel whose table the kind's driver writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import ray
import redis

from actors.runtime import ensure_channels, kill_channels
from adapters.sim import conformance
from adapters.sim.conformance import ConformanceDriver
from engine.config import ChannelConfig, Config, StoreConfig
from tests.conformance.support import CHANNEL, fresh_id
from tests.conftest import REDIS_URL
from tests.integration.support import TOKEN, Gw, new_prefix, running_gateway, wait_until

KINDS = conformance.kinds()


@pytest.fixture(scope="package", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="package")
def gw(kind: str, ray_cluster: None, redis_client: redis.Redis) -> Iterator[Gw]:
    """A gateway (two shard actors, the real Redis) whose channel ``CHANNEL`` is of ``kind``."""
    config = Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": new_prefix()},
            "gateway": {"admin_token": TOKEN},
            "engine": {"shards": 2},
            "channels": [conformance.driver(kind).channel(CHANNEL)],
        }
    )
    with running_gateway(config, redis_client) as running:
        yield running


@pytest.fixture
def driver(kind: str) -> Iterator[ConformanceDriver]:
    """The kind's simulator, fresh for this test, served on loopback."""
    made = conformance.driver(kind)
    made.start()
    try:
        yield made
    finally:
        made.stop()


StartChannel = Callable[..., Any]


@pytest.fixture
def start_channel(ray_cluster: None, prefix: str, driver: ConformanceDriver) -> Iterator[StartChannel]:
    """``start(**keys)``: a channel actor pushing to this test's simulator (the driver's table plus
    ``keys``), once its catalog import is done. Killed at teardown, before the simulator stops."""
    configs: list[Config] = []

    def start(**keys: Any) -> Any:
        channel = ChannelConfig.model_validate(driver.channel(fresh_id("push")) | keys)
        config = Config(store=StoreConfig(redis_url=REDIS_URL, key_prefix=prefix), channels=[channel])
        configs.append(config)
        handle = ensure_channels(config, REDIS_URL)[channel.id]
        wait_until(lambda: ray.get(handle.stats.remote())["catalog_skus"] is not None, "catalog import")
        return handle

    yield start
    for config in configs:
        kill_channels(config)
