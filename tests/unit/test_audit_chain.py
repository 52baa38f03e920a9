"""The fault suite's audit-chain check passes a good chain and names each kind of break."""

from __future__ import annotations

from typing import Any

from tests.fault.audit_chain import chain_faults


def entry(
    sku: str, before: int | None, after: int | None, version: int | None, outcome: str
) -> dict[str, Any]:
    return {
        "sku": sku,
        "key": f"k-{outcome}",
        "kind": "order_placed",
        "before": before,
        "after": after,
        "version": version,
        "outcome": outcome,
        "delta": 0 if before is None else (after or 0) - before,
    }


def good() -> list[dict[str, Any]]:
    """A set to 2, two sales, a refused one (0 granted, same version), a return; B interleaved."""
    return [
        entry("A", 0, 2, 1, "set"),
        entry("B", None, None, None, "unknown_sku"),
        entry("B", 0, 5, 1, "set"),
        entry("A", 2, 1, 2, "accepted"),
        entry("A", 1, 0, 3, "accepted"),
        entry("B", 5, 4, 2, "accepted"),
        entry("A", 0, 0, 3, "insufficient"),
        entry("A", 0, 1, 4, "returned"),
    ]


def test_a_good_chain_ending_at_the_count_in_redis_passes() -> None:
    assert chain_faults(good(), {"A": (1, 4), "B": (4, 2)}) == []


def test_a_change_that_does_not_start_where_the_last_one_ended_fails() -> None:
    chain = good()
    chain[4] = entry("A", 2, 1, 3, "accepted")  # counted from 2 again: a lost or doubled commit
    assert any(
        "starts at 2, the chain was at 1" in f for f in chain_faults(chain, {"A": (1, 4), "B": (4, 2)})
    )


def test_a_skipped_or_repeated_version_fails() -> None:
    skipped = good()
    skipped[3] = entry("A", 2, 1, 3, "accepted")
    assert any("v3 after v1" in f for f in chain_faults(skipped, {"A": (1, 4), "B": (4, 2)}))
    moved = good()
    moved[6] = entry("A", 0, 1, 3, "insufficient")  # same version, yet the count moved
    assert chain_faults(moved, {"A": (1, 4), "B": (4, 2)})


def test_a_step_below_zero_fails() -> None:
    chain = [*good()[:6], entry("A", 0, -1, 4, "accepted"), entry("A", -1, 0, 5, "returned")]
    faults = chain_faults(chain, {"A": (0, 5), "B": (4, 2)})
    assert faults == ["A entry 6 (order_placed k-accepted accepted): available -1 after it"]


def test_a_chain_not_ending_at_the_count_in_redis_fails() -> None:
    assert chain_faults(good(), {"A": (2, 4), "B": (4, 2)}) == ["A: chain ends at (1, 4), Redis holds (2, 4)"]
    assert chain_faults(good(), {"A": (1, 5), "B": (4, 2)})  # a commit with no audit entry
    assert chain_faults(good(), {"A": (1, 4), "B": (4, 2), "C": (3, 1)}) == [
        "C: at (3, 1) in Redis but has no audit entry"
    ]


def test_a_trail_that_does_not_start_from_no_record_fails() -> None:
    assert chain_faults(good()[3:], {"A": (1, 4), "B": (4, 2)})
