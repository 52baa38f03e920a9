"""Dead-letter redrive schedule: backoff per channel, give up after the attempts, reset when empty."""

from __future__ import annotations

import random

from engine.backoff import Backoff
from engine.redrive import RedrivePlan
from tests.unit.clock import FakeClock


def entry(sku: str, error: str = "HTTP 400: bad") -> dict[str, object]:
    return {"sku": sku, "error": error}


def test_backoff_then_give_up_and_reset() -> None:
    clock = FakeClock()
    plan = RedrivePlan(clock, Backoff(base_s=10.0, cap_s=100.0, max_attempts=3, rng=random.Random(3)))
    entries = [entry("A"), entry("B", "HTTP 422: invalid item")]
    assert not plan.due("shop", entries)  # first sight waits one step
    redrives = 0
    for _ in range(200):
        clock.advance(5.0)
        if plan.due("shop", entries):
            plan.redriven("shop", {"entries": 2, "requeued": 2})
            redrives += 1
    assert redrives == 3
    report = plan.report()["shop"]
    assert report["gave_up"] and report["attempts"] == 3
    assert report["skus"] == ["A", "B"] and report["last_error"] == "HTTP 422: invalid item"
    assert not plan.due("shop", [])
    assert plan.report()["shop"] == {
        **report,
        "entries": 0,
        "skus": [],
        "last_error": "",
        "attempts": 0,
        "next_at": None,
        "gave_up": False,
    }


def test_channels_are_independent() -> None:
    clock = FakeClock()
    plan = RedrivePlan(clock, Backoff(base_s=1.0, cap_s=1.0, max_attempts=5, rng=random.Random(1)))
    plan.due("a", [entry("X")])
    clock.advance(2.0)
    assert plan.due("a", [entry("X")])
    assert not plan.due("b", [])
    assert set(plan.report()) == {"a", "b"}
