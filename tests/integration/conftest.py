"""Fixtures the integration tests share: simulators on loopback ports and the gateway under test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from adapters.sim.core import serve_in_thread
from engine.config import Config
from tests.integration.support import Gw, gateway_config, new_prefix, running_gateway


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """Serve ASGI apps on free loopback ports; every server stops at teardown, the last first."""
    stops: list[Callable[[], None]] = []

    def start(app: Any) -> str:
        url, stop = serve_in_thread(app)
        stops.append(stop)
        return url

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture(scope="module")
def gw_config() -> Config:
    """The config of the module's gateway, under a key prefix of its own.

    A module whose gateway must differ overrides this fixture (same name, module scope).
    """
    return gateway_config(new_prefix())


@pytest.fixture(scope="module")
def gw(ray_cluster: None, redis_client: redis.Redis, gw_config: Config) -> Iterator[Gw]:
    """One gateway (uvicorn in a thread, two shard actors, the real Redis) for the whole module."""
    with running_gateway(gw_config, redis_client) as running:
        yield running
