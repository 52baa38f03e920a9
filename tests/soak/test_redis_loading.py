"""Found by the soak: webhooks that reached the gateway while a restarted Redis was still replaying
its append-only file were answered 500, not 503 with Retry-After (fixed in
``engine/store/script_conn.py``: ``LOADING`` is redis-py's ``BusyLoadingError``, store unavailable).

The shard's commit gets Redis's ``LOADING`` error, the direct link reports it as ``LinkFailed:
ResponseError: LOADING Redis is loading the dataset in memory``, and the gateway answers it as an
internal error (the 30-minute soak logged 272 such answers, all after Redis restarts). Nothing is
lost, since a marketplace retries a 500 too, but a 500 says the request was at fault and carries
no Retry-After. ``key-load-delay`` (Redis's own testing knob, per key loaded) keeps the replay
going long enough to send webhooks into it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis

from actors.local_stack import LocalStack, StackSpec
from tests.fault.private_redis import PrivateRedis
from tests.soak.faults import wait_for

pytestmark = pytest.mark.fault
FILLER = 40_000
LOAD_DELAY_US = 300
"""About 12 s of replay for the filler keys: the webhooks are answered well inside it."""


def loading(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_timeout=5).ping()
    except redis.BusyLoadingError:
        return True
    return False


def test_webhooks_during_redis_replay_are_refused_503_not_500(ray_cluster: None, tmp_path: Path) -> None:
    server = PrivateRedis(
        tmp_path,
        *("--appendonly", "yes", "--appendfsync", "always"),
        *("--key-load-delay", str(LOAD_DELAY_US)),
        # Answer clients (LOADING) every KiB loaded: by default a small file is replayed without a
        # pause, and every connection just hangs until it is done.
        *("--loading-process-events-interval-bytes", "1024"),
    )
    server.start()
    client = redis.Redis.from_url(server.url)
    pipe = client.pipeline(transaction=False)
    for i in range(FILLER):
        pipe.set(f"filler:{i}", i)
    pipe.execute()
    client.bgrewriteaof()  # into the RDB preamble, whose load key-load-delay slows
    assert wait_for(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0, 60)
    stack = LocalStack(StackSpec(skus=20, initial_quantity=50, redis_url=server.url)).start()
    try:
        server.kill()
        server.proc = subprocess.Popen(
            [server.binary, "--port", str(server.port), "--bind", "127.0.0.1", "--dir", str(server.dir),
             "--save", "", *server.args],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        assert wait_for(lambda: loading(server.url), 20)
        stack.start_shoppers(max_orders=3, rate_per_s=50)
        assert stack.wait_shoppers(30)
        still_loading = loading(server.url)
        statuses = sorted((o.status or 0) for a in stack.accounts.values() for o in a.store.orders)
        assert still_loading, "the replay ended before the webhooks were answered: raise FILLER"
        assert statuses and 500 not in statuses, statuses
    finally:
        wait_for(lambda: not loading(server.url), 60)
        stack.stop()
        server.kill()
