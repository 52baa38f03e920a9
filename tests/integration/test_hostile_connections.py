"""Hostile connections against a real ``skusync serve``: huge and slow heads, slow bodies, idle floods.

Issue 21, items 3 and 4: each sender below is bounded (a few MB, a few dozen sockets, all to
127.0.0.1) and every wait is on a socket's answer or EOF, with ``HANG_S`` as the hang detector.
"""

from __future__ import annotations

import resource
import select
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import ray
import redis

from actors.runtime import kill_channels, kill_shards, kill_supervisor
from engine.config import load_config
from tests.conftest import REDIS_URL, delete_prefix
from tests.integration.test_gateway_serve import ROOT, Served, clean_env, write_config
from tests.integration.test_gateway_webhooks import shopify_headers, shopify_order
from tests.raw_http import read_to_eof, status

pytestmark = pytest.mark.integration
HANG_S = 20.0  # a hang detector, never a performance bound
CAP = 20
QUICK = {"HEADER_TIMEOUT_S": "0.5", "BODY_TIMEOUT_S": "0.5", "MAX_CONNECTIONS": str(CAP)}
WAITING_FOR_BODY = (
    b"POST /webhooks/shop-us HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"
)
CAPPED = {"MAX_CONNECTIONS": str(CAP)}  # the default deadlines (10 s, 30 s): idle sockets stay


def start(tmp: Path, limits: dict[str, str]) -> Iterator[tuple[Served, int]]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    path = write_config(tmp / "skusync.toml", prefix, REDIS_URL)
    env = {**clean_env(), **{f"SKUSYNC_GATEWAY_{k}": v for k, v in limits.items()}}
    served = Served(["--config", str(path), "--ray-address", ray.get_runtime_context().gcs_address], env)
    try:
        yield served, int(served.url.rsplit(":", 1)[1])
    finally:
        served.stop()
        config = load_config(path, env={})
        kill_shards(config)
        kill_channels(config)
        kill_supervisor(config)
        delete_prefix(redis.Redis.from_url(REDIS_URL), prefix)


@pytest.fixture(scope="module")
def quick(ray_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, int]]:
    yield from start(tmp_path_factory.mktemp("quick"), QUICK)


@pytest.fixture(scope="module")
def capped(ray_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, int]]:
    yield from start(tmp_path_factory.mktemp("capped"), CAPPED)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=HANG_S)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def normal_client_is_answered(port: int) -> None:
    """/healthz and a signed webhook, as a marketplace would send it, both 200."""
    body = orjson.dumps(shopify_order(int(uuid.uuid4().int % 10**12), [("HOSTILE-SKU", 1)]))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=HANG_S) as client:
        assert client.get("/healthz").status_code == 200
        answer = client.post(
            "/webhooks/shop-us", content=body, headers=shopify_headers(body, uuid.uuid4().hex)
        )
        assert answer.status_code == 200, answer.text


def test_a_head_over_the_cap_is_431_closed_early_and_memory_stays_flat(capped: tuple[Served, int]) -> None:
    served, port = capped
    before = rss_kib(served.proc.pid)
    sock = connect(port)
    sent, answer = 0, b""
    try:
        sock.sendall(b"POST /webhooks/shop-us HTTP/1.1\r\nHost: t\r\nX-Shopify-Topic: ")
        while sent < 8 << 20:  # 8 MB at most, stopped as soon as the server answers or resets
            sock.sendall(b"a" * 65536)
            sent += 65536
            if select.select([sock], [], [], 0)[0]:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = read_to_eof(sock)
    assert status(answer) == 431, answer[:200]
    assert sent < 8 << 20, "the server read the whole 8 MB head"
    assert rss_kib(served.proc.pid) - before < 8 * 1024, "the gateway's memory grew with the head"
    normal_client_is_answered(port)


def test_a_slow_head_is_closed_after_the_header_timeout(quick: tuple[Served, int]) -> None:
    _, port = quick
    idle, partial = connect(port), connect(port)
    partial.sendall(b"POST /webhooks/shop-us HTTP/1.1\r\nHost: t\r\nX-Shopify-")
    assert status(read_to_eof(idle)) == 408  # EOF well before HANG_S
    assert status(read_to_eof(partial)) == 408


def test_a_slow_body_is_closed_after_the_body_timeout(quick: tuple[Served, int]) -> None:
    _, port = quick
    body = orjson.dumps(shopify_order(1, [("HOSTILE-SKU", 1)]))
    sock = connect(port)
    head = "".join(f"{k}: {v}\r\n" for k, v in shopify_headers(body, uuid.uuid4().hex).items())
    sock.sendall(
        f"POST /webhooks/shop-us HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
    )
    sock.sendall(body[:10])
    assert status(read_to_eof(sock)) == 408
    normal_client_is_answered(port)


def test_idle_sockets_over_the_cap_are_refused_and_normal_clients_still_answered(
    capped: tuple[Served, int],
) -> None:
    _, port = capped
    idle = [connect(port) for _ in range(2 * CAP)]
    try:
        # the gateway holds at most CAP: the oldest CAP were told 503 and closed as the rest came
        for sock in idle[:CAP]:
            answer = read_to_eof(sock)
            assert status(answer) == 503 and b"too_many_connections" in answer, answer[:200]
        normal_client_is_answered(port)  # while the newest CAP idle sockets are held open
    finally:
        for sock in idle:
            sock.close()


def test_with_every_slot_busy_a_new_connection_is_refused_with_503(capped: tuple[Served, int]) -> None:
    _, port = capped
    busy = [connect(port) for _ in range(CAP)]
    try:
        for sock in busy:  # a request in progress on each: its body is still to come
            sock.sendall(WAITING_FOR_BODY)
        for sock in busy:  # "100 Continue": the gateway holds the request and waits for its body
            assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        answer = read_to_eof(healthz(port))
        assert status(answer) == 503 and b"connection: close" in answer and b"retry-after" in answer
    finally:
        for sock in busy:
            sock.close()
    # the slots free as the gateway sees the closes; a client retrying after 503 gets in
    for _ in range(1000):
        if status(read_to_eof(healthz(port))) == 200:
            break
    normal_client_is_answered(port)


def healthz(port: int) -> socket.socket:
    sock = connect(port)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return sock


def test_hostile_benchmark_smoke(ray_cluster: None, tmp_path: Path) -> None:
    from benchmarks import hostile

    doc = orjson.loads(hostile.main(["--smoke", "--out", str(tmp_path)]).read_bytes())
    assert doc["serve_exit_status"] == 0
    for name, phase in doc["phases"].items():  # the normal client is answered in every phase
        for route in ("healthz", "webhook"):
            assert phase["client"][route]["statuses"] == {"200": 20}, (name, route, phase["client"])
    assert {"idle_webhook_p99", "huge_header_healthz_p99"} <= set(doc["ratios_to_quiet"])


def test_serve_with_a_short_descriptor_limit_warns_and_lowers_the_cap(
    ray_cluster: None, tmp_path: Path, prefix: str
) -> None:
    path = write_config(tmp_path / "skusync.toml", prefix, REDIS_URL)

    def short_limit() -> None:  # in the child only: 700 < max_connections 1000 + 256 kept
        resource.setrlimit(resource.RLIMIT_NOFILE, (700, 700))

    address = ray.get_runtime_context().gcs_address
    proc = subprocess.Popen(
        [sys.executable, "-m", "actors.cli", "serve", "--config", str(path), "--ray-address", address],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=short_limit,
    )
    lines: list[str] = []
    announced = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "gateway serving on" in line:
                announced.set()
        announced.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert announced.wait(90), "".join(lines)
    finally:
        proc.terminate()
        proc.wait(60)
        config = load_config(path, env={})
        kill_shards(config)
        kill_channels(config)
        kill_supervisor(config)
    warning = next((line for line in lines if "gateway.max_connections" in line), "")
    assert "gateway.max_connections = 1000" in warning and "serving at most 444 connections" in warning, lines
