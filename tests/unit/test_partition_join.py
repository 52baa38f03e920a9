"""Splitting events by owner and joining the owners' decisions back, one decision per event."""

from __future__ import annotations

from typing import Any

from engine.partition import by_owner, join


def owner(sku: str) -> int:
    return 0 if sku.startswith("A") else 1


def order(key: str, *skus: str) -> dict[str, Any]:
    lines = [{"sku": s, "quantity": 1} for s in skus]
    return {"kind": "order_placed", "key": key, "channel": "c", "order_id": key, "lines": lines}


def decide(items: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {"key": p["key"], "outcome": "applied", "lines": [{"sku": ln["sku"]} for ln in p["lines"]]}
        for _, p in items
    ]


def test_every_event_gets_one_decision_in_order_with_split_lines_merged_in_line_order() -> None:
    events = [order("x", "B1"), order("y", "A1", "B2", "A3"), order("z", "A9")]
    parts = by_owner(events, owner)
    assert {o: [i for i, _ in items] for o, items in parts.items()} == {1: [0, 1], 0: [1, 2]}
    decisions = join(events, parts, [decide(items) for items in parts.values()])
    assert [d["key"] for d in decisions] == ["x", "y", "z"]
    assert [ln["sku"] for ln in decisions[1]["lines"]] == ["A1", "B2", "A3"]


def test_a_refused_part_makes_the_joined_decision_mixed() -> None:
    events = [order("y", "A1", "B2")]
    parts = by_owner(events, owner)
    answers = [decide(items) for items in parts.values()]
    answers[0][0]["outcome"] = "rejected"
    assert join(events, parts, answers)[0]["outcome"] == "mixed"
