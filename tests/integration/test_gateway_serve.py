"""``skusync serve`` as a real process: graceful SIGTERM under traffic, the embedded store, the admin CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import ray
import redis

from actors.runtime import ensure_shards, kill_channels, kill_shards
from actors.shard_client import ShardClient
from engine import audit_entries
from engine.config import Config, load_config
from engine.routing import ShardMap
from engine.store import Keys
from engine.store.durability import check_durability
from tests.conftest import REDIS_URL
from tests.integration.test_gateway_webhooks import SHOP_SECRET, TOKEN, shopify_headers, shopify_order

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def write_config(path: Path, prefix: str, redis_url: str | None) -> Path:
    store = f'redis_url = "{redis_url}"\n' if redis_url else ""
    path.write_text(
        f'[store]\n{store}key_prefix = "{prefix}"\n'
        f'[gateway]\nhost = "127.0.0.1"\nport = 0\nadmin_token = "{TOKEN}"\n'
        "[engine]\nshards = 2\n"
        f'[[channels]]\nid = "shop-us"\nkind = "shopify"\nwebhook_secret = "{SHOP_SECRET}"\n'
    )
    return path


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SKUSYNC_")}


AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'actors.cli', *sys.argv[1:]])"
)
"""Run the CLI as an operator's terminal would: SIGINT at its default. A test session started as a
background job inherits SIGINT ignored, and ``serve`` (rightly, by Unix convention) keeps an ignored
SIGINT ignored, so the tests' Ctrl-C would then do nothing and look like a hang."""


class Served:
    """``skusync serve`` in a subprocess; ``url`` once it announced its port."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", AS_FROM_A_TERMINAL, "serve", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.out: list[str] = []
        self.ready = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()
        # stdout is read too: a full pipe would block the server on its next write (Ray forwards
        # its workers' output to the driver's stdout)
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        if not self.ready.wait(90) or not self.url:
            self.proc.kill()
            raise AssertionError("serve did not start:\n" + "".join(self.lines[-40:]))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "gateway serving on " in line:
                self.url = line.split("serving on ", 1)[1].split()[0]
                self.ready.set()
        self.ready.set()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 120) -> int:
        # A guard against a hang, not a measurement: the drain (up to 30 s of graceful shutdown),
        # the embedded deployment's teardown and Ray's own shutdown of the cluster serve started,
        # beside the test session's cluster on 2 cores. 60 s ran out once in a clean-clone run
        # (2026-12-06) that then passed 15 times alone.
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            # serve dumps every thread's stack on SIGUSR1: the failure then says where it waits
            dumped = len(self.lines)
            self.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not any("File " in ln for ln in self.lines[dumped:]):
                time.sleep(0.1)
            self.proc.kill()
            raise AssertionError(
                f"serve did not stop within {timeout_s:g} s of signal {sig}; its stderr ends with:\n"
                + "".join(self.lines[-120:])
                + "\nand its stdout with:\n"
                + "".join(self.out[-20:])
            ) from None

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actors.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def ray_address(ray_cluster: None) -> str:
    address: str = ray.get_runtime_context().gcs_address
    return address


@pytest.fixture
def deployment(ray_cluster: None, prefix: str, tmp_path: Path) -> Iterator[tuple[Config, Path]]:
    path = write_config(tmp_path / "skusync.toml", prefix, REDIS_URL)
    config = load_config(path, env={})
    yield config, path
    kill_shards(config)
    kill_channels(config)  # serve creates one per configured channel


def test_sigterm_during_traffic_drains_exits_zero_and_every_answer_is_durable(
    deployment: tuple[Config, Path], ray_address: str, redis_client: redis.Redis
) -> None:
    config, path = deployment
    smap = ShardMap(config.engine.shards, config.engine.vshards)
    shards = ShardClient(ensure_shards(config, REDIS_URL, fan_out=True), smap)
    skus = [f"DRAIN-{i}" for i in range(4)]
    shards.submit([{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": 1_000_000} for s in skus])
    served = Served(["--config", str(path), "--ray-address", ray_address], clean_env())
    answered: dict[str, bytes] = {}
    failures: list[str] = []
    stop = threading.Event()

    def traffic(worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            for n in range(100_000):
                if stop.is_set():
                    return
                order_id = worker * 1_000_000 + n
                order = shopify_order(order_id, [(skus[n % len(skus)], 1)])
                body = orjson.dumps(order)
                event = f"drain-{worker}-{n}"
                try:
                    r = client.post(
                        f"{served.url}/webhooks/shop-us", content=body, headers=shopify_headers(body, event)
                    )
                except httpx.TransportError:
                    return  # the server stopped accepting: expected after SIGTERM
                if r.status_code == 200:
                    # the key the adapter derives: channel, kind, topic, order id, event id
                    answered[f"shop-us:shopify:orders/create:{order_id}:{event}"] = r.content
                else:
                    failures.append(f"{r.status_code} {r.text}")

    threads = [threading.Thread(target=traffic, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(answered) < 200 and time.monotonic() < deadline and not failures:
        time.sleep(0.02)
    at_signal = len(answered)
    code = served.stop(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join(60)
    # eight clients always had a request in flight: those were finished, not cut off
    assert len(answered) > at_signal
    assert code == 0, served.stderr[-3000:]
    assert "drained" in served.stderr
    assert not failures, failures[:3]
    gap = check_durability(redis_client)  # the test Redis keeps nothing on disk: serve must say so
    assert gap is None or f"skusync: warning: {gap}" in served.stderr
    assert len(answered) >= 200
    keys = Keys(config.store.key_prefix)
    decided: list[str] = []
    for stream in {keys.audit(smap.vshard(s)) for s in skus}:
        entries: Any = redis_client.xrange(stream)
        decided += [audit_entries.decode(f)["key"] for _, f in entries]  # type: ignore[index]
    decided = [k for k in decided if k.startswith("shop-us:shopify:orders/create:") and ":drain-" in k]
    assert set(answered) <= set(decided)  # every answered request is durable...
    assert len(decided) == len(set(decided))  # ...exactly once
    taken = sum(1_000_000 - shards.get(s)["available"] for s in skus)  # type: ignore[index]
    assert taken == len(decided)


def test_embedded_store_serve_and_admin_cli(ray_address: str, tmp_path: Path) -> None:
    path = write_config(tmp_path / "skusync.toml", f"e{uuid.uuid4().hex[:8]}", None)
    served = Served(["--config", str(path), "--ray-address", ray_address], clean_env())
    env = {**clean_env(), "SKUSYNC_URL": served.url, "SKUSYNC_ADMIN_TOKEN": TOKEN}
    try:
        assert "embedded in-memory store" in served.stderr

        def ok(*args: str) -> Any:
            done = cli(*args, env=env)
            assert done.returncode == 0, done.stderr
            return orjson.loads(done.stdout)

        assert ok("stock", "set", "CLI-1", "10")["available"] == 10
        assert ok("stock", "adjust", "CLI-1", "-3", "--reason", "damage")["available"] == 7
        assert ok("stock", "get", "CLI-1")["available"] == 7
        audit = ok("audit", "CLI-1", "--limit", "5")["entries"]
        assert [e["kind"] for e in audit] == ["stock_adjusted", "stock_set"]
        oversold = ok("orders", "--channel", "shop-us", "--status", "oversold")
        assert oversold == {"orders": [], "next_cursor": None}
        refused = cli("stock", "adjust", "CLI-1", "-100", env=env)
        assert refused.returncode == 1 and "409" in refused.stderr and len(refused.stderr.splitlines()) == 1
        wrong = cli("stock", "get", "CLI-1", "--url", served.url, "--token", "wrong", env=clean_env())
        assert wrong.returncode == 1 and "401" in wrong.stderr
        assert cli("stock", "get", "CLI-1", "--url", served.url, env=clean_env()).returncode == 2
        assert cli("stock", "get", "NOPE", env=env).returncode == 1
    finally:
        code = served.stop(signal.SIGINT)
    assert code == 0, served.stderr[-3000:]


def test_bad_usage_and_bad_configuration_exit_2_with_one_line(tmp_path: Path) -> None:
    for args in (
        ["serve", "--config", str(tmp_path / "missing.toml")],
        ["serve", "--port", "70000"],
        ["stock", "set", "A", "many"],
    ):
        done = cli(*args, env=clean_env())
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
