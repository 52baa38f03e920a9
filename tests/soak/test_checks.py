"""The soak's own checks must fail on what they look for, or a passing soak says nothing.

Pure: a stand-in for the stack (its simulators' orders) and hand-made audit entries; no Ray, no Redis.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from adapters.sim.core import SimOrder
from tests.soak.checks import _answered, _decided_once, _once
from tests.soak.memory import summarise


def stack_with(orders: list[SimOrder]) -> Any:
    store = SimpleNamespace(lock=threading.Lock(), orders=orders)
    return SimpleNamespace(accounts={"shop-1": SimpleNamespace(store=store)})


def sale(order_id: int, accepted: int, delivered: bool = True) -> SimOrder:
    decision = {"order_id": str(order_id), "lines": [{"sku": "A", "quantity": 1, "accepted": accepted}]}
    return SimOrder(order_id, 0.0, [("A", 1)], delivered, 200 if delivered else None, "", decision)


def entry(order_id: int, before: int, after: int) -> dict[str, Any]:
    return {"kind": "order_placed", "channel": "shop-1", "order_id": str(order_id), "sku": "A",
            "before": before, "after": after}  # fmt: skip


def placed(*entries: dict[str, Any]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for e in entries:
        out.setdefault((e["channel"], e["order_id"], e["sku"]), []).append(e)
    return out


def test_a_sale_decided_once_as_answered_passes() -> None:
    stack = stack_with([sale(1, 1), sale(2, 0)])
    trail = placed(entry(1, 5, 4), entry(2, 4, 4))
    assert _decided_once(stack, trail)["ok"] and _once(trail)["ok"] and _answered(stack)["ok"]


def test_a_lost_sale_a_double_count_and_a_wrong_grant_are_each_caught() -> None:
    assert not _decided_once(stack_with([sale(1, 1)]), placed())["ok"]  # answered 200, no trail
    doubled = placed(entry(1, 5, 4), entry(1, 4, 3))
    assert not _decided_once(stack_with([sale(1, 1)]), doubled)["ok"]
    assert not _once(doubled)["ok"]
    assert not _decided_once(stack_with([sale(1, 0)]), placed(entry(1, 5, 4)))["ok"]


def test_an_undelivered_sale_fails_the_answered_check() -> None:
    assert not _answered(stack_with([sale(1, 1, delivered=False)]))["ok"]


def test_rss_growth_compares_the_second_and_last_quarter() -> None:
    samples = [(float(t), "gateway", 7, 1024 * (100 + t)) for t in range(0, 101)]
    row = summarise(samples)["gateway"]
    assert (row["q2_median_mib"], row["q4_median_mib"]) == (137.0, 187.5)
    assert row["growth_mib"] == 50.5 and row["processes"] == 1
