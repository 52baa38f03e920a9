"""BudgetReports: the channel's budget reports folded into the bucket, in any charge and answer order."""

from __future__ import annotations

from clock import FakeClock
from hypothesis import given
from hypothesis import strategies as st

from engine.budget_reports import BudgetReports
from engine.token_bucket import TokenBucket

COST = 10.0


def reports(
    rate: float = 100.0, burst: float = 1000.0, safety: float = 0.9
) -> tuple[BudgetReports, FakeClock]:
    clock = FakeClock()
    return BudgetReports(TokenBucket(rate, burst, clock, safety=safety)), clock


def test_a_lower_report_lowers_the_bucket_less_the_calls_still_in_flight() -> None:
    r, _ = reports()
    a, b = r.bucket.try_take(COST), r.bucket.try_take(COST)
    assert a and b
    sa, _sb = r.sent(COST), r.sent(COST)
    r.answered(sa, available=300.0)  # someone else spent on the account
    assert r.bucket.available == 300.0 - COST  # b is still in flight
    assert r.lowered == 1


def test_a_report_never_raises_the_bucket() -> None:
    r, _ = reports()
    r.bucket.correct(50.0)
    seq = r.sent(COST)
    r.answered(seq, available=990.0)
    assert r.bucket.available == 50.0
    assert r.lowered == 0


def test_capacity_and_rate_are_adopted_from_any_answer() -> None:
    r, _ = reports(safety=1.0)
    seq = r.sent(COST)
    r.answered(seq, available=None, capacity=2000.0, restore_per_s=50.0)
    assert r.bucket.limits.capacity == 2000.0 and r.bucket.limits.rate == 50.0


def test_old_snapshot_answered_last_does_not_undo_a_newer_charge() -> None:
    """The bug this module fixes: A and B in flight, the channel charges B then A, answers A first."""
    r, _ = reports(safety=1.0)
    channel = 1000.0
    for _ in range(2):
        assert r.bucket.try_take(COST)
    a, b = r.sent(COST), r.sent(COST)
    channel -= COST
    snapshot_b = channel  # B charged first
    channel -= COST
    snapshot_a = channel  # then A
    r.answered(a, snapshot_a)
    r.answered(b, snapshot_b)  # older snapshot arrives last: adopting it would promise 10 points too many
    assert r.bucket.available <= channel


@given(charge_order=st.permutations(range(6)), answer_order=st.permutations(range(6)))
def test_our_own_calls_never_make_the_bucket_promise_more_than_the_channel_holds(
    charge_order: list[int], answer_order: list[int]
) -> None:
    """Whatever order six concurrent calls are charged and answered in, after every answer our
    bucket is at or below the channel's real level (what another app spends shows only in reports)."""
    r, _ = reports(safety=1.0)
    channel = 1000.0
    seqs = []
    for _ in range(6):
        assert r.bucket.try_take(COST)
        seqs.append(r.sent(COST))
    snapshots = {}
    for i in charge_order:
        channel -= COST
        snapshots[i] = channel
    for i in answer_order:
        r.answered(seqs[i], snapshots[i])
        assert r.bucket.available <= channel + 1e-9
