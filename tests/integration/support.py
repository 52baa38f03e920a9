"""Plumbing the integration tests share: the gateway under test, waiting, simulator state, smoke runs.

Fixtures built on these live in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from actors.gateway import create_app
from actors.gateway.server import BackgroundServer
from actors.runtime import ensure_shards, kill_shards
from actors.shard_client import ShardClient
from engine import audit_entries
from engine.config import Config
from engine.routing import ShardMap
from engine.store import Keys
from tests.conftest import REDIS_URL, delete_prefix

ROOT = Path(__file__).resolve().parents[2]
SHOP_SECRET = "shpss-test-secret"
WOO_SECRET = "woo &amp; secret"
TOKEN = "admin-token-for-tests"
VECTORS = orjson.loads((ROOT / "tests" / "data" / "signatures.json").read_bytes())


def new_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@dataclass
class Gw:
    """The running gateway and what tests need to look behind it."""

    url: str
    config: Config
    shards: ShardClient
    redis: redis.Redis

    def vshard(self, sku: str) -> int:
        return ShardMap(self.config.engine.shards, self.config.engine.vshards).vshard(sku)

    def trace(self, sku: str) -> tuple[Any, Any]:
        """What a change to ``sku`` would leave: its stock record and its vshard's audit length."""
        keys, vs = Keys(self.config.store.key_prefix), self.vshard(sku)
        return self.redis.hget(keys.stock(vs), sku), self.redis.xlen(keys.audit(vs))

    def audit_of(self, sku: str) -> list[dict[str, Any]]:
        stream = Keys(self.config.store.key_prefix).audit(self.vshard(sku))
        entries: Any = self.redis.xrange(stream)
        # the stream is the SKU's vshard's: other SKUs hashed there (other tests') are left out
        return [d for d in (audit_entries.decode(f) for _, f in entries) if d.get("sku") == sku]

    def set_stock(self, sku: str, quantity: int) -> None:
        self.shards.submit(
            [{"kind": "stock_set", "key": f"seed-{uuid.uuid4().hex}", "sku": sku, "quantity": quantity}]
        )


def gateway_config(prefix: str) -> Config:
    """The webhook/admin/orders tests' deployment: two shards, two webhook channels, two vector ones,
    and an own checkout (``pos``)."""
    return Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": prefix},
            "gateway": {"admin_token": TOKEN, "max_body_bytes": 1_048_576},
            "engine": {"shards": 2},
            "channels": [
                {"id": "shop-us", "kind": "shopify", "webhook_secret": SHOP_SECRET},
                {"id": "woo-eu", "kind": "woocommerce", "webhook_secret": WOO_SECRET},
                {"id": "vec-shop", "kind": "shopify", "webhook_secret": VECTORS["shopify_webhook"]["secret"]},
                {
                    "id": "vec-woo",
                    "kind": "woocommerce",
                    "webhook_secret": VECTORS["woocommerce_webhook"]["secret"],
                },
                {"id": "pos", "kind": "generic"},  # the seller's own checkout: POST /v1/orders only
            ],
        }
    )


@contextmanager
def running_gateway(config: Config, redis_client: redis.Redis) -> Iterator[Gw]:
    """``config``'s shard actors (on the running Ray) and a gateway over them in a thread.

    At exit the server stops, the shards are killed and every key under the config's prefix goes.
    """
    shards = ShardClient(
        ensure_shards(config, REDIS_URL), ShardMap(config.engine.shards, config.engine.vshards)
    )
    server = BackgroundServer(create_app(config, shards)).start()
    try:
        yield Gw(server.url, config, shards, redis_client)
    finally:
        server.stop()
        kill_shards(config)
        delete_prefix(redis_client, config.store.key_prefix)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``check`` until true; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def listed(sim_url: str) -> dict[str, int]:
    """SKU -> quantity a marketplace simulator lists now."""
    state = httpx.get(f"{sim_url}/_sim/state", params={"lists": "0"}, timeout=5).json()
    return dict(state["listed"])


def run_benchmark_smoke(module: str, out: Path, result: str) -> dict[str, Any]:
    """Run ``python -m benchmarks.<module> --smoke`` from the repo root; the JSON it wrote to ``result``."""
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc: dict[str, Any] = orjson.loads((out / result).read_bytes())
    return doc
