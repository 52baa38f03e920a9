"""The gateway's channel views over loopback: ``GET /v1/skus`` listings, ``/v1/dlq`` and redrive, the CLI.

One gateway, two shard actors, a Shopify simulator and one ``ChannelActor`` pushing to it; a second
configured channel never gets an actor, so every view must report it instead of failing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import ray
import redis

from actors.cli import main
from actors.runtime import ensure_channels, kill_channels
from adapters.shopify.sim.app import ShopifySimulator
from adapters.sim.core import serve_in_thread
from engine.config import Config
from tests.conftest import REDIS_URL
from tests.integration.support import listed, new_prefix, running_gateway, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "admin-token-channels-test"
SHOP_TOKEN = "shpat_channels_secret_token"
BASIC_SECRET = "basic-auth-secret-in-url"
SKUS = ["G1", "G2", "G3", "G4"]
UNAVAILABLE = {"error": "unavailable"}


@dataclass
class Env:
    url: str
    sim: str
    config: Config
    channel: Any

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def listed(self) -> dict[str, int]:
        return listed(self.sim)

    def faults(self, **faults: Any) -> None:
        httpx.post(f"{self.sim}/_sim/faults", json=faults, timeout=5).raise_for_status()

    def set_and_notify(self, sku: str, quantity: int) -> int:
        """Set master stock through the gateway and hand the change to the channel, as a shard would."""
        r = self.call("PUT", f"/v1/skus/{sku}/stock", json={"quantity": quantity})
        assert r.status_code == 200, r.text
        version = int(r.json()["version"])
        change = {sku: {"available": quantity, "version": version, "source": None}}
        ray.get(self.channel.notify.remote(change))
        return version


@pytest.fixture(scope="module")
def env(ray_cluster: None, redis_client: redis.Redis) -> Iterator[Env]:
    prefix = new_prefix()
    sim_url, stop_sim = serve_in_thread(ShopifySimulator(access_token=SHOP_TOKEN).app)
    httpx.post(
        f"{sim_url}/_sim/seed", json={"items": [{"sku": s, "quantity": 0} for s in SKUS]}, timeout=10
    ).raise_for_status()
    shop = {
        "id": "shop",
        "kind": "shopify",
        # user info in the URL: a credential the DLQ view must not show
        "base_url": sim_url.replace("http://", f"http://dlq-user:{BASIC_SECRET}@"),
        "access_token": SHOP_TOKEN,
        "location_id": "gid://shopify/Location/1",
        "default_buffer": 1,
        "max_attempts": 2,
        "retry_base_s": 0.05,
        "retry_cap_s": 0.2,
    }
    ghost = {"id": "ghost", "kind": "woocommerce", "base_url": "http://127.0.0.1:9"}
    config = Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": prefix},
            "gateway": {"admin_token": TOKEN},
            "engine": {"shards": 2},
            "channels": [shop, ghost],
        }
    )
    running = config.model_copy(update={"channels": config.channels[:1]})  # "ghost" gets no actor
    try:
        with running_gateway(config, redis_client) as gw:
            channel = ensure_channels(running, REDIS_URL)["shop"]
            try:
                wait_until(
                    lambda: ray.get(channel.stats.remote())["catalog_skus"] is not None, "catalog import"
                )
                yield Env(gw.url, sim_url, config, channel)
            finally:
                kill_channels(running)  # before the gateway's exit deletes the prefix's keys
    finally:
        stop_sim()


def test_sku_shows_each_channels_listing_and_a_missing_actor_as_unavailable(env: Env) -> None:
    version = env.set_and_notify("G1", 7)
    wait_until(lambda: env.listed().get("G1") == 6, "the push of G1")
    wait_until(lambda: bool(ray.get(env.channel.idle.remote())), "the channel to settle")
    rec = env.call("GET", "/v1/skus/G1").json()
    assert (rec["available"], rec["version"]) == (7, version)
    shop = rec["channels"]["shop"]
    assert (shop["listed"], shop["buffer"], shop["synced_version"]) == (6, 1, version)
    assert isinstance(shop["last_push_at"], float) and shop["last_push_at"] <= time.time()
    assert rec["channels"]["ghost"] == UNAVAILABLE

    never = env.call("PUT", "/v1/skus/G4/stock", json={"quantity": 2}).json()
    shown = env.call("GET", "/v1/skus/G4").json()["channels"]["shop"]
    assert never["version"] == 1 and shown["synced_version"] is None and shown["last_push_at"] is None


def test_dead_letters_listed_without_secrets_then_redriven_by_the_cli(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.faults(error_rate=1.0)
    versions = {sku: env.set_and_notify(sku, q) for sku, q in (("G2", 5), ("G3", 9))}
    wait_until(lambda: ray.get(env.channel.stats.remote())["dead_letters"] >= 2, "dead letters")

    r = env.call("GET", "/v1/dlq")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["channels"] == {"shop": {"entries": 2}, "ghost": UNAVAILABLE}
    entries = sorted(body["entries"], key=lambda e: e["sku"])
    assert [(e["channel"], e["sku"], e["attempts"]) for e in entries] == [
        ("shop", "G2", 2),
        ("shop", "G3", 2),
    ]
    for entry, quantity in zip(entries, (5, 9), strict=True):
        assert entry["request"]["method"] == "POST" and entry["request"]["url"].startswith(
            "http://127.0.0.1:"
        )
        assert entry["request"]["update"]["quantity"] == quantity - 1  # the buffer is applied
        assert entry["request"]["update"]["version"] == versions[entry["sku"]]
        assert entry["response"]["status"] == 500 and "500" in entry["error"]
        assert isinstance(entry["at"], float) and entry["id"]
    for secret in (SHOP_TOKEN, BASIC_SECRET, TOKEN, "dlq-user"):
        assert secret not in r.text

    assert env.call("GET", "/v1/dlq?channel=ghost").json() == {
        "entries": [],
        "channels": {"ghost": UNAVAILABLE},
    }
    assert env.call("GET", "/v1/dlq?channel=nope").status_code == 404
    assert len(env.call("GET", "/v1/dlq?limit=1").json()["entries"]) == 1
    assert env.call("POST", "/v1/dlq/redrive?channel=ghost").status_code == 503

    cli = ["--url", env.url, "--token", TOKEN]
    assert main(["dlq", "list", "--channel", "shop", *cli]) == 0
    assert len(orjson.loads(capsys.readouterr().out)["entries"]) == 2

    env.faults()  # the channel recovers
    assert main(["dlq", "redrive", "--channel", "shop", *cli]) == 0
    redriven = orjson.loads(capsys.readouterr().out)
    assert (redriven["entries"], redriven["requeued"], redriven["obsolete"]) == (2, 2, 0)
    wait_until(
        lambda: {k: env.listed().get(k) for k in ("G2", "G3")} == {"G2": 4, "G3": 8}, "redriven pushes"
    )
    assert env.call("GET", "/v1/dlq").json()["entries"] == []
    assert env.call("GET", "/v1/skus/G3").json()["channels"]["shop"]["synced_version"] == versions["G3"]
    assert main(["dlq", "list", "--token", "wrong", "--url", env.url]) == 1


def test_a_dead_channel_actor_is_reported_not_a_failure(env: Env) -> None:
    """Runs last in this module: it kills the channel's actor for good."""
    assert env.call("GET", "/v1/skus/G1").json()["channels"]["shop"]["listed"] == 6  # handle cached
    ray.kill(env.channel, no_restart=True)
    rec = env.call("GET", "/v1/skus/G1")
    assert rec.status_code == 200 and rec.json()["available"] == 7
    assert rec.json()["channels"] == {"shop": UNAVAILABLE, "ghost": UNAVAILABLE}
    listing = env.call("GET", "/v1/dlq")
    assert listing.status_code == 200 and listing.json()["channels"]["shop"] == UNAVAILABLE
    redrive = env.call("POST", "/v1/dlq/redrive")
    assert redrive.status_code == 503 and redrive.json()["channels"]["shop"] == UNAVAILABLE
