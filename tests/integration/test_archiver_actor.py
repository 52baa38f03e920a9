"""The archiver actor on Ray: killed mid-stream and cut off from PostgreSQL while sales go on, it
loses and duplicates nothing; the supervisor's health view and ``/healthz`` report it.

Real Ray, Redis and PostgreSQL (a database of the test's own). Waits on conditions, never on time.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import ray
import redis

from actors.names import NAMESPACE, archiver_name
from actors.runtime import ensure_archiver, ensure_shards, kill_archiver, kill_shards
from actors.shard_client import ShardClient
from engine.config import Config
from engine.routing import ShardMap
from engine.store.keys import Keys
from tests.conftest import REDIS_URL
from tests.integration.support import wait_until
from tests.integration.test_history_archive import PG_ADMIN, fresh_database, stored

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
VSHARDS = 8


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def config_for(prefix: str, pg_url: str) -> Config:
    return Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": prefix},
            "engine": {"shards": 1, "vshards": VSHARDS},
            "history": {"postgres_url": pg_url, "batch": 40, "interval_s": 0.05, "keep_in_redis_s": 3600},
        }
    )


def stats(config: Config) -> dict[str, Any]:
    try:
        handle = ray.get_actor(archiver_name(config.store.key_prefix), namespace=NAMESPACE)
        answer: dict[str, Any] = ray.get(handle.stats.remote(), timeout=5)
    except Exception:  # restarting
        return {}
    return answer


def streams(r: redis.Redis, keys: Keys) -> set[tuple[int, int, int]]:
    out = set()
    for vs in range(VSHARDS):
        for raw, _ in r.xrange(keys.audit(vs)):  # type: ignore[union-attr]
            ms, seq = raw.decode().split("-")
            out.add((vs, int(ms), int(seq)))
    return out


def set_connections(url: str, allowed: bool) -> None:
    """Let the archiver's database take connections or not, and end the ones it has."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')  # type: ignore[arg-type]
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def test_a_killed_and_cut_off_archiver_loses_and_duplicates_nothing(
    ray_cluster: None, redis_client: redis.Redis, prefix: str, pg_url: str
) -> None:
    config = config_for(prefix, pg_url)
    keys = Keys(prefix)
    shards = ShardClient(ensure_shards(config, REDIS_URL), ShardMap(1, VSHARDS))
    stop = threading.Event()
    decided = [0]

    def sell() -> None:
        n = 0
        while not stop.is_set():
            events: list[Any] = [
                {
                    "kind": "stock_set",
                    "key": f"k-{uuid.uuid4().hex}",
                    "sku": f"sku-{(n + i) % 50}",
                    "quantity": n + i,
                }
                for i in range(20)
            ]
            shards.submit(events)
            decided[0] += len(events)
            n += 20

    seller = threading.Thread(target=sell, daemon=True)
    try:
        ensure_archiver(config, REDIS_URL)
        seller.start()
        wait_until(lambda: stats(config).get("archived", 0) > 100, "the archiver storing entries")
        handle = ray.get_actor(archiver_name(prefix), namespace=NAMESPACE)
        ray.kill(handle, no_restart=False)  # mid-stream; Ray restarts it
        wait_until(
            lambda: stats(config).get("archived", 0) > 100, "the restarted archiver storing entries", 60
        )
        set_connections(pg_url, False)
        wait_until(lambda: stats(config).get("errors", 0) >= 3, "the archiver failing to reach PostgreSQL")
        wait_until(lambda: stats(config).get("backlog", 0) > 0, "a backlog while PostgreSQL is away")
        cut_off = stats(config)
        assert "postgres" not in str(cut_off["last_error"]).lower() or "@" not in str(cut_off["last_error"])
        set_connections(pg_url, True)
        wait_until(lambda: stats(config).get("connected") is True, "the archiver reconnecting", 60)
        stop.set()
        seller.join(30)
        written = streams(redis_client, keys)
        assert len(written) == decided[0]
        wait_until(lambda: len(stored(pg_url)) >= len(written), "the archiver catching up", 60)
        rows = stored(pg_url)
        assert len(rows) == len(set(rows)) and set(rows) == written
    finally:
        stop.set()
        seller.join(30) if seller.is_alive() else None
        set_connections(pg_url, True)
        kill_archiver(config)
        kill_shards(config)
