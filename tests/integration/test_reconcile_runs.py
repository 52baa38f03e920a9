"""Reconciliation runs over HTTP against broken channels: 202 and a run id, deadlines, joining, fairness.

Two deployments (shards, channel actors, supervisor, gateway on the real Redis and Ray), each with
channels whose stores misbehave on purpose:

- ``refusing``: WooCommerce channels whose ``base_url`` refuses connections (every read retries
  with backoff for minutes: before runs had deadlines, such a run answered after 664 s);
- ``stuck``: ``stuck`` lists its products never (the request hangs) and refuses orders at once
  (401); ``quick`` lists nothing and refuses orders at once, and is scheduled every second. A
  scheduled run of ``quick`` therefore ends quickly (its backfill fails fast, as it must: nothing is
  corrected), while a manual run of ``stuck`` hangs until its deadline.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actors.cli import main as cli_main
from actors.gateway import create_app
from actors.gateway.server import BackgroundServer
from actors.runtime import (
    ensure_channels,
    ensure_shards,
    ensure_supervisor,
    kill_channels,
    kill_shards,
    kill_supervisor,
)
from actors.shard_client import ShardClient
from adapters.sim.core import serve_in_thread
from engine.config import Config
from engine.routing import ShardMap
from tests.conftest import REDIS_URL, delete_prefix
from tests.integration.support import TOKEN, new_prefix, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEADLINE_S = 4.0


def refused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def fake_store(hang_products: bool) -> Starlette:
    """A WooCommerce that refuses order listings at once; its product listing hangs or is empty."""

    async def products(request: Request) -> JSONResponse:
        if hang_products:
            await asyncio.sleep(600)
        return JSONResponse([], headers={"X-WP-TotalPages": "1"})

    async def orders(request: Request) -> JSONResponse:
        return JSONResponse({"code": "woocommerce_rest_cannot_view"}, status_code=401)

    return Starlette(
        routes=[Route("/wp-json/wc/v3/products", products), Route("/wp-json/wc/v3/orders", orders)]
    )


def woo(cid: str, url: str, every_s: float) -> dict[str, Any]:
    return {
        "id": cid,
        "kind": "woocommerce",
        "base_url": url,
        "webhook_secret": "s",
        "consumer_key": "ck_x",
        "consumer_secret": "cs_x",
        "reconcile_every_s": every_s,
        "rate_limit": {"per_second": 100, "burst": 100},
    }


@contextmanager
def deployment(channels: list[dict[str, Any]], redis_client: redis.Redis) -> Iterator[str]:
    """Shards, channel actors, a supervisor and a gateway for ``channels``; the gateway's URL."""
    config = Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": new_prefix()},
            "gateway": {"admin_token": TOKEN},
            "engine": {"shards": 1, "reconcile_deadline_s": DEADLINE_S},
            "channels": channels,
        }
    )
    ensure_channels(config, REDIS_URL)
    shards = ShardClient(ensure_shards(config, REDIS_URL), ShardMap(1, config.engine.vshards))
    ensure_supervisor(config, REDIS_URL, every_s=0)
    server = BackgroundServer(create_app(config, shards)).start()
    try:
        yield server.url
    finally:
        server.stop()
        kill_supervisor(config)
        kill_channels(config)
        kill_shards(config)
        delete_prefix(redis_client, config.store.key_prefix)


@pytest.fixture(scope="module")
def refusing(ray_cluster: None, redis_client: redis.Redis) -> Iterator[str]:
    channels = [woo("refusing", refused_url(), 0), woo("other", refused_url(), 0)]
    with deployment(channels, redis_client) as url:
        yield url


@pytest.fixture(scope="module")
def stuck(ray_cluster: None, redis_client: redis.Redis) -> Iterator[str]:
    stops: list[Callable[[], None]] = []
    try:
        urls = []
        for hang in (True, False):
            url, stop = serve_in_thread(fake_store(hang))
            urls.append(url)
            stops.append(stop)
        channels = [woo("stuck", urls[0], 0), woo("quick", urls[1], 1)]
        with deployment(channels, redis_client) as gateway:
            yield gateway
    finally:
        for stop in stops:
            stop()


def post(url: str, query: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/reconcile?{query}", headers=AUTH, timeout=15)


def final(url: str, run_id: str) -> dict[str, Any]:
    """The run's status once it has ended (each poll is held by the server up to 2 s)."""
    for _ in range(60):
        r = httpx.get(f"{url}/v1/reconcile/{run_id}?wait=2", headers=AUTH, timeout=15)
        assert r.status_code in (200, 202), r.text
        if r.json()["status"] != "running":
            status: dict[str, Any] = r.json()
            return status
    raise AssertionError(f"run {run_id} never ended")


def test_a_refusing_channel_answers_202_and_is_cancelled_at_its_deadline(refusing: str) -> None:
    r = post(refusing, "channel=refusing&wait=0.5")
    assert r.status_code == 202, r.text
    run = r.json()
    assert r.headers["location"] == f"/v1/reconcile/{run['run_id']}"
    assert (run["status"], run["channel"], run["joined"]) == ("running", "refusing", False)
    assert run["deadline_at"] == pytest.approx(run["started_at"] + DEADLINE_S)
    done = final(refusing, run["run_id"])
    assert done["status"] == "deadline_exceeded", done
    assert done["reason"] == f"deadline of {DEADLINE_S:g} s exceeded while reading listings: run cancelled"
    assert done["elapsed_s"] >= DEADLINE_S - 0.05  # the loop's timer, read on the wall clock
    (report,) = done["reports"]
    assert report["channel"] == "refusing" and report["error"].startswith("deadline of")
    assert report["api_calls"] >= 1  # what it had done (connection attempts) is in the report
    stored = httpx.get(f"{refusing}/v1/reconcile", headers=AUTH, timeout=15).json()
    assert stored["reports"]["refusing"]["error"] == report["error"]
    assert stored["runs"][0]["run_id"] == run["run_id"] and "reports" not in stored["runs"][0]
    missing = httpx.get(f"{refusing}/v1/reconcile/nope", headers=AUTH, timeout=15)
    assert missing.status_code == 404
    assert httpx.get(f"{refusing}/v1/reconcile/{run['run_id']}", timeout=15).status_code == 401


def test_concurrent_manual_requests_share_one_run_and_others_are_refused(refusing: str) -> None:
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: post(refusing, "channel=refusing&wait=0.2"), range(3)))
    assert [a.status_code for a in answers] == [202] * 3, [a.text for a in answers]
    ids = {a.json()["run_id"] for a in answers}
    assert len(ids) == 1 and sorted(a.json()["joined"] for a in answers) == [False, True, True]
    run_id = ids.pop()
    every = post(refusing, "wait=0")  # every channel: not covered by the run in flight
    assert every.status_code == 409 and every.json()["run_id"] == run_id
    assert every.headers["retry-after"]
    cancelled = httpx.delete(f"{refusing}/v1/reconcile/{run_id}", headers=AUTH, timeout=15)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    assert cancelled.json()["reports"][0]["error"].startswith("cancelled while")
    assert post(refusing, "channel=refusing&wait=0").json()["run_id"] != run_id  # a new run now
    assert post(refusing, "wait=bad").status_code == 422


def test_a_scheduled_run_proceeds_while_a_manual_one_is_in_flight(stuck: str) -> None:
    r = post(stuck, "channel=stuck&wait=0")
    assert r.status_code == 202, r.text
    manual = r.json()

    def runs() -> list[dict[str, Any]]:
        body = httpx.get(f"{stuck}/v1/reconcile", headers=AUTH, timeout=15).json()
        out: list[dict[str, Any]] = body["runs"]
        return out

    def scheduled_beside() -> bool:
        now = runs()
        mine = next(x for x in now if x["run_id"] == manual["run_id"])
        beside = [
            x
            for x in now
            if x["kind"] == "scheduled"
            and x["status"] != "running"
            and x["started_at"] > manual["started_at"]
        ]
        return mine["status"] == "running" and bool(beside)

    wait_until(scheduled_beside, "a scheduled run to start and end while the manual one runs", DEADLINE_S * 3)
    done = final(stuck, manual["run_id"])
    assert done["status"] == "deadline_exceeded" and done["step"] == "reading listings"
    scheduled = [x for x in runs() if x["kind"] == "scheduled"]
    assert all(x["channels"] == ["quick"] for x in scheduled)  # the manual run's channel is left to it


def test_cli_follows_a_long_run_to_its_end(stuck: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["reconcile", "--url", stuck, "--token", TOKEN, "--channel", "stuck", "--wait", "0"]
    assert cli_main(args) == 1  # the run hit its deadline: a runtime failure
    out, err = capsys.readouterr()
    status = json.loads(out)
    assert status["status"] == "deadline_exceeded" and status["reports"][0]["channel"] == "stuck"
    assert "reading listings" in status["reason"]
    # Progress lines show whatever step each poll found (on a loaded machine the first poll may
    # come after the deadline), so only their presence is checked, not a particular step.
    assert "started" in err and "deadline_exceeded" in err and f"run {status['run_id']}" in err
