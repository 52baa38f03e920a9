"""Every kind's notifications through the gateway: a valid signature is decided, every invalid one is
refused 401 and leaves no trace, and a duplicate is decided once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from adapters.sim.conformance import TAMPERINGS, ConformanceDriver
from tests.conformance.support import CHANNEL, fresh, master, post, post_all, stocked, supported
from tests.integration.support import Gw

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_a_valid_signature_is_accepted_with_decisions(gw: Gw, driver: ConformanceDriver) -> None:
    [sku] = fresh(1)
    stocked(gw, driver, {sku: 10})
    _, sold = driver.sale({sku: 3})
    answers = post_all(gw, sold)
    decisions = [d for answer in answers for d in answer["decisions"]]
    assert decisions and all(d["key"].startswith(f"{CHANNEL}:") for d in decisions)
    lines = [line for d in decisions for line in d["lines"] if line["sku"] == sku]
    assert lines and lines[0]["outcome"] in ("accepted", "applied"), lines
    assert master(gw, sku) == 7


@pytest.mark.parametrize("how", TAMPERINGS)
def test_an_invalid_signature_is_refused_and_changes_nothing(
    gw: Gw, driver: ConformanceDriver, how: str
) -> None:
    [sku] = fresh(1)
    stocked(gw, driver, {sku: 10})
    _, sold = driver.sale({sku: 3})
    tampered = [supported(driver, lambda d=d: driver.tamper(d, how)) for d in sold]  # type: ignore[misc]
    before = gw.trace(sku)
    for delivery in tampered:
        answer = post(gw, delivery)
        assert answer.status_code == 401, (how, answer.status_code, answer.text)
    assert gw.trace(sku) == before and master(gw, sku) == 10
    post_all(gw, sold)  # the genuine deliveries still go through: only the tampering was refused
    assert master(gw, sku) == 7


def test_a_duplicate_delivery_is_decided_once(gw: Gw, driver: ConformanceDriver) -> None:
    one, many = fresh(2)
    stocked(gw, driver, {one: 10, many: 10})
    _, sold = driver.sale({one: 2})
    first = post_all(gw, sold)
    trace = gw.trace(one)
    again = post_all(gw, sold)
    assert again == first  # the same key and payload get the first answer again
    assert gw.trace(one) == trace and master(gw, one) == 8

    # Five copies at once, as a marketplace retrying over a slow answer might send them.
    _, racing = driver.sale({many: 3})

    async def race() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            url = f"{gw.url}/webhooks/{CHANNEL}"
            sends = [
                client.post(url, content=d.body, headers=dict(d.headers)) for d in racing for _ in range(5)
            ]
            return [r.status_code for r in await asyncio.gather(*sends)]

    statuses = asyncio.run(race())
    assert all(s == 200 for s in statuses), statuses
    assert master(gw, many) == 7
    assert len([e for e in gw.audit_of(many) if e["channel"] == CHANNEL]) == 1  # decided once
