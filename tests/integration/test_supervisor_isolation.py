"""One channel's failure never stops another channel's redrive (issue 19, item 4)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray
import redis.asyncio as aioredis
from ray.exceptions import RayActorError

from actors.names import NAMESPACE, supervisor_name
from actors.runtime import ensure_channels, kill_channels, kill_shards, kill_supervisor
from actors.supervisor import Supervisor
from engine.backoff import Backoff
from engine.channel_records import Target
from engine.config import Config, load_config
from engine.store.channel_store import ChannelStore, DlqEntry
from engine.store.keys import Keys
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration
WAIT_S = 60.0


def two_channels(prefix: str) -> Config:
    """Two WooCommerce accounts that answer nothing (their dead letters stay until redriven)."""
    config = load_config(env={"SKUSYNC_STORE_KEY_PREFIX": prefix, "SKUSYNC_ENGINE_SHARDS": "1"})
    return config.model_validate(
        {
            **config.model_dump(mode="python"),
            "channels": [
                {"id": cid, "kind": "woocommerce", "base_url": "http://127.0.0.1:9", "consumer_key": "k",
                 "consumer_secret": "s", "reconcile_every_s": 0}
                for cid in ("gone", "alive")
            ],
        }
    )  # fmt: skip


async def dead_letters(prefix: str, channel: str, skus: list[str] | None = None) -> list[dict[str, Any]]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        store = ChannelStore(client, Keys(prefix), channel)
        if skus:
            await store.dead_letter(
                [DlqEntry(channel, sku, Target(3, 1), {}, None, "HTTP 500", 6, 1.0) for sku in skus]
            )
        return await store.dlq(1000)
    finally:
        await client.aclose()


@pytest.fixture
def deployment(ray_cluster: None, prefix: str) -> Iterator[Config]:
    config = two_channels(prefix)
    try:
        yield config
    finally:
        kill_supervisor(config)
        kill_channels(config)
        kill_shards(config)


def test_redrive_with_one_channels_actor_killed_still_redrives_the_others(deployment: Config) -> None:
    prefix = deployment.store.key_prefix
    for cid in ("gone", "alive"):
        asyncio.run(dead_letters(prefix, cid, ["A", "B"]))
    handles = ensure_channels(deployment, REDIS_URL)
    supervisor = Supervisor.options(  # type: ignore[attr-defined]
        name=supervisor_name(prefix), namespace=NAMESPACE, lifetime="detached", max_restarts=0
    ).remote(deployment, REDIS_URL, False, 0.0, 3600.0, redrive_backoff=Backoff(0.001, 0.001, 6))
    deadline = time.monotonic() + WAIT_S
    while ray.get(supervisor.health_view.remote())["status"] == "unknown":  # its first check, which
        assert time.monotonic() < deadline  # recreates missing actors, is over; the next is an hour away
    ray.kill(handles["gone"], no_restart=True)
    # ray.kill only asks: a call sent at once may still be answered before the process is gone.
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            ray.get(handles["gone"].ping.remote(), timeout=WAIT_S)
        except RayActorError:
            break
        assert time.monotonic() < deadline, "the killed channel actor still answers"

    report: dict[str, Any] = {}
    for _ in range(3):  # a first sight of dead letters waits one backoff step (1 ms) before redriving
        report = ray.get(supervisor.redrive_dead_letters.remote(), timeout=WAIT_S)
        if not asyncio.run(dead_letters(prefix, "alive")):
            break
    assert asyncio.run(dead_letters(prefix, "alive")) == []  # redriven (queued again), then removed
    assert report["alive"]["attempts"] >= 1
    assert len(asyncio.run(dead_letters(prefix, "gone"))) == 2  # nobody could redrive those
    assert "unreachable" in report["gone"]
    assert "unreachable" in ray.get(supervisor.dead_letters.remote())["gone"]
