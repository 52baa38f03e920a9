"""``/healthz`` over loopback: calls are answered from a cache, and a lost supervisor turns it 503.

The gateway runs over real shard actors through a ``ShardClient`` that counts its pings; the
supervisor is a stand-in actor under the deployment's supervisor name that counts ``health_view``
calls and answers the view a test sets, so the tests can count actor calls and stop it at will.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
import redis

from actors.gateway import create_app
from actors.gateway.health_cache import INTERVAL_S, PROBE_TIMEOUT_S, STALE_AFTER
from actors.gateway.server import BackgroundServer
from actors.names import NAMESPACE, supervisor_name
from actors.runtime import ensure_shards, kill_shards
from actors.shard_client import ShardClient
from engine.config import Config
from engine.routing import ShardMap
from tests.conftest import REDIS_URL, delete_prefix
from tests.integration.support import gateway_config, new_prefix, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
TURNS_503_WITHIN_S = (STALE_AFTER + 2) * INTERVAL_S + 2 * PROBE_TIMEOUT_S + 10  # generous: loaded CI


class CountingShards(ShardClient):
    pings = 0

    async def ping_async(self, timeout_s: float = 2.0) -> bool:
        CountingShards.pings += 1
        return await super().ping_async(timeout_s)


@ray.remote(num_cpus=0)
class StandInSupervisor:
    def __init__(self) -> None:
        self.calls = 0
        self.view: dict[str, Any] = {"status": "ok", "age_s": 1.0, "every_s": 15.0}

    async def health_view(self) -> dict[str, Any]:
        self.calls += 1
        return self.view

    async def set_view(self, view: dict[str, Any]) -> None:
        self.view = view

    async def count(self) -> int:
        return self.calls

    async def ping(self) -> bool:
        return True


@pytest.fixture(scope="module")
def served(ray_cluster: None, redis_client: redis.Redis) -> Iterator[tuple[str, Config]]:
    config = gateway_config(new_prefix())
    shards = CountingShards(ensure_shards(config, REDIS_URL), ShardMap(2, config.engine.vshards))
    server = BackgroundServer(create_app(config, shards)).start()
    try:
        yield server.url, config
    finally:
        server.stop()
        kill_shards(config)
        delete_prefix(redis_client, config.store.key_prefix)


@pytest.fixture
def supervisor(served: tuple[str, Config]) -> Iterator[Any]:
    name = supervisor_name(served[1].store.key_prefix)
    handle = StandInSupervisor.options(name=name, namespace=NAMESPACE).remote()  # type: ignore[attr-defined]
    ray.get(handle.ping.remote())
    yield handle
    ray.kill(handle, no_restart=True)


def healthz(url: str) -> httpx.Response:
    return httpx.get(f"{url}/healthz", timeout=15)


def test_many_healthz_calls_make_a_few_actor_calls(served: tuple[str, Config], supervisor: Any) -> None:
    url, _ = served
    wait_until(lambda: healthz(url).status_code == 200, "healthz to answer 200")
    wait_until(lambda: ray.get(supervisor.count.remote()) > 0, "the supervisor to be asked once")
    asked, pinged = ray.get(supervisor.count.remote()), CountingShards.pings
    started = time.monotonic()
    with httpx.Client(timeout=15) as client:
        answers = [client.get(f"{url}/healthz") for _ in range(200)]
    elapsed = time.monotonic() - started
    assert {(a.status_code, a.text) for a in answers} == {(200, '{"status":"ok"}')}
    per_interval = 2 + elapsed / INTERVAL_S  # one refresh per interval, whatever the request rate
    assert ray.get(supervisor.count.remote()) - asked <= per_interval
    assert CountingShards.pings - pinged <= per_interval
    assert answers[0].headers["cache-control"] == "no-store"


def test_a_stopped_supervisor_turns_healthz_503(served: tuple[str, Config], supervisor: Any) -> None:
    url, _ = served
    wait_until(lambda: healthz(url).status_code == 200, "healthz to answer 200")
    ray.kill(supervisor, no_restart=True)
    wait_until(lambda: healthz(url).status_code == 503, "healthz to answer 503", TURNS_503_WITHIN_S)
    assert healthz(url).json() == {"status": "unavailable", "reason": "the supervisor is not answering"}


def test_a_supervisor_whose_checks_stopped_or_found_an_actor_down_is_503(
    served: tuple[str, Config], supervisor: Any
) -> None:
    url, _ = served
    wait_until(lambda: healthz(url).status_code == 200, "a new supervisor to be found")
    ray.get(supervisor.set_view.remote({"status": "ok", "age_s": 600.0, "every_s": 15.0}))
    wait_until(lambda: healthz(url).status_code == 503, "healthz to answer 503", TURNS_503_WITHIN_S)
    assert healthz(url).json()["reason"] == "the supervisor's health checks stopped"
    ray.get(supervisor.set_view.remote({"status": "degraded", "shards": {"0": False}}))
    wait_until(
        lambda: healthz(url).json().get("reason") == "an actor is not answering the supervisor",
        "the degraded view to be read",
        TURNS_503_WITHIN_S,
    )
    body = healthz(url).json()
    assert "shards" not in body  # no token: no detail about the deployment's actors
