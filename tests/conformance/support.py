"""What the conformance tests share: posting deliveries, reading master, skipping what a kind lacks."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx
import pytest
import ray

from adapters.sim.conformance import ConformanceDriver, Delivery, Unsupported
from tests.integration.support import Gw, wait_until

CHANNEL = "conformance"
"""The gateway's channel (one per kind, see ``conftest.gw``)."""

T = TypeVar("T")


def fresh_id(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def fresh(n: int, stem: str = "C") -> list[str]:
    """``n`` SKUs no other test uses."""
    run = uuid.uuid4().hex[:6]
    return [f"{stem}-{run}-{i:03d}" for i in range(n)]


def supported(driver: ConformanceDriver, call: Callable[[], T]) -> T:
    """``call()``, or a skip naming the kind and its reason when it says it has no such feature."""
    try:
        return call()
    except Unsupported as exc:
        pytest.skip(f"{driver.kind} does not support this: {exc}")


def post(gw: Gw, delivery: Delivery) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/webhooks/{CHANNEL}", content=delivery.body, headers=dict(delivery.headers), timeout=30
    )


def post_all(gw: Gw, deliveries: Iterable[Delivery]) -> list[dict[str, Any]]:
    """Post each delivery in order; every one must be answered 200. The answers' bodies."""
    answers = []
    for delivery in deliveries:
        answer = post(gw, delivery)
        assert answer.status_code == 200, (delivery.what, answer.status_code, answer.text)
        answers.append(answer.json())
    return answers


def master(gw: Gw, sku: str) -> int | None:
    record = gw.shards.get(sku)
    return None if record is None else int(record["available"])


def masters(gw: Gw, skus: Iterable[str]) -> dict[str, int | None]:
    return {sku: master(gw, sku) for sku in skus}


def stocked(gw: Gw, driver: ConformanceDriver, stock: dict[str, int]) -> None:
    """The same stock listed on the marketplace and held in master."""
    driver.seed(stock)
    for sku, quantity in stock.items():
        gw.set_stock(sku, quantity)


def notify(handle: Any, targets: dict[str, int], version: int) -> None:
    """Hand master changes to a channel actor, as a shard's fan-out does."""
    changes = {sku: {"available": q, "version": version, "source": None} for sku, q in targets.items()}
    ray.get(handle.notify.remote(changes))


def converged(driver: ConformanceDriver, handle: Any, targets: dict[str, int], what: str) -> None:
    """Wait until the marketplace lists ``targets`` and the channel actor has nothing left to send."""

    def done() -> bool:
        listed = driver.listed()
        return all(listed.get(s) == q for s, q in targets.items()) and bool(ray.get(handle.idle.remote()))

    wait_until(done, what, timeout=60)
