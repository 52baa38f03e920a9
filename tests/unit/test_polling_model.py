"""The polling-sync model (``adapters.sim.polling``) on small traces whose outcome can be checked by hand."""

from __future__ import annotations

import pytest

from adapters.sim.account import account_type
from adapters.sim.polling import Arrival, PolledChannel, PushLimits, phases, push_limits, simulate, summary

FAST = PushLimits(per_s=100.0, burst=100.0, max_batch=100, fixed=1.0, per_sku=0.0)


def two_channels(limits: PushLimits = FAST) -> list[PolledChannel]:
    return [PolledChannel("a", limits), PolledChannel("b", limits)]


def test_no_tick_during_the_sale_lets_every_channel_sell_its_whole_listing() -> None:
    # 5 units; both channels list 5; each sells 5 before the first tick at 50 s: 5 oversold, on b
    trace = [Arrival(float(i), "a", "X") for i in range(5)] + [Arrival(5.0 + i, "b", "X") for i in range(5)]
    run = simulate(trace, {"X": 5}, two_channels(), period_s=60.0, phase_s=50.0)
    report = run.lag()
    assert run.oversold_units() == 5
    assert report.oversold_units == {"a": 0, "b": 5}
    assert run.offered == {"a": 5, "b": 5} and run.refused == {"a": 0, "b": 0}
    # the tick at 50 s pushes master's 0 to both (only b's listing still had... none: both at 0)
    assert [r for rec in run.records for r in rec.received] == [(50.0, "X", 0), (50.0, "X", 0)]


def test_a_tick_between_the_sales_stops_the_oversell_and_sets_the_lag() -> None:
    # a sells 3 of 3 at t=1; the tick at t=2 lists 0 on b; b's tries at t=3 and t=4 are refused
    trace = [Arrival(1.0, "a", "X", 3), Arrival(3.0, "b", "X"), Arrival(4.0, "b", "X")]
    run = simulate(trace, {"X": 3}, two_channels(), period_s=10.0, phase_s=2.0)
    assert run.oversold_units() == 0
    assert run.refused == {"a": 0, "b": 2}
    assert run.lag().lags["b"] == [1.0]  # sale at 1, b lists 0 from the push at 2
    assert run.master["X"] == [(1.0, 0)]


def test_one_sku_a_request_at_one_a_second_follows_the_most_over_listed_first() -> None:
    limits = PushLimits(per_s=1.0, burst=1.0, max_batch=1, fixed=0.0, per_sku=1.0)
    initial = {"A": 10, "B": 10, "C": 10}
    # a sells 1 of A, 5 of B, 3 of C before the tick at 10 s; b must learn them at 1 SKU/s
    trace = [Arrival(1.0, "a", "A"), Arrival(2.0, "a", "B", 5), Arrival(3.0, "a", "C", 3)]
    run = simulate(trace, initial, two_channels(limits), period_s=100.0, phase_s=10.0)
    b = next(r for r in run.records if r.channel_id == "b")
    # B (5 over), then C (3 over), then A (1 over); the bucket is full (1 token) at 10 s
    assert b.received == [(10.0, "B", 5), (11.0, "C", 7), (12.0, "A", 9)]
    assert run.requests["b"] == 3 and run.pushed["b"] == 3
    assert sorted(run.lag().lags["b"]) == [8.0, 8.0, 11.0]


def test_batches_cost_per_request_and_wait_for_the_bucket() -> None:
    # Shopify-like: 10 points a request whatever it carries, 10 points/s, burst 10, 2 SKUs a request
    limits = PushLimits(per_s=10.0, burst=10.0, max_batch=2, fixed=10.0, per_sku=0.0)
    initial = {"A": 5, "B": 5, "C": 5}
    trace = [Arrival(1.0, "a", s) for s in ("A", "B", "C")]
    run = simulate(trace, initial, two_channels(limits), period_s=100.0, phase_s=5.0)
    b = next(r for r in run.records if r.channel_id == "b")
    assert [t for t, _, _ in b.received] == [5.0, 5.0, 6.0]
    assert run.requests["b"] == 2


def test_buffers_list_less_than_master_and_prevent_the_oversell() -> None:
    # 4 units, buffer 2 on each channel: each lists 2; a sells 2, b sells 2, nothing oversold
    channels = [PolledChannel(c, FAST, buffer={"X": 2}) for c in ("a", "b")]
    trace = [Arrival(1.0, "a", "X"), Arrival(1.5, "a", "X"), Arrival(2.0, "b", "X"), Arrival(2.5, "b", "X")]
    trace.append(Arrival(3.0, "b", "X"))
    run = simulate(trace, {"X": 4}, channels, period_s=60.0, phase_s=30.0)
    assert run.oversold_units() == 0
    assert run.refused == {"a": 0, "b": 1}


def test_a_channel_listing_fewer_skus_is_offered_only_those() -> None:
    channels = [PolledChannel("a", FAST), PolledChannel("b", FAST, skus=frozenset({"X"}))]
    trace = [Arrival(1.0, "b", "Y"), Arrival(1.0, "b", "X"), Arrival(2.0, "a", "Y")]
    run = simulate(trace, {"X": 1, "Y": 1}, channels, period_s=60.0, phase_s=10.0)
    assert run.offered == {"a": 1, "b": 1}
    assert all(sku == "X" for _, sku, _ in next(r for r in run.records if r.channel_id == "b").received)


def test_phases_and_summary() -> None:
    assert phases(60.0, 4) == [0.0, 15.0, 30.0, 45.0]
    trace = [Arrival(1.0, "a", "X"), Arrival(20.0, "b", "X")]
    runs = [simulate(trace, {"X": 1}, two_channels(), 60.0, p) for p in phases(60.0, 4)]
    s = summary(runs)
    # only the tick at 15 s falls between the two sales
    assert s["oversold_units_by_phase"] == {"0": 1, "15": 0, "30": 1, "45": 1}
    assert s["oversold_units_mean"] == 0.8 and s["oversold_units_max"] == 1


def test_bad_period_or_phase_is_refused() -> None:
    with pytest.raises(ValueError):
        simulate([], {}, [], period_s=0.0)
    with pytest.raises(ValueError):
        simulate([], {}, [], period_s=10.0, phase_s=10.0)


def test_push_limits_come_from_the_kinds_adapter_and_the_channels_rate_limit() -> None:
    amazon = account_type("amazon")("amz-1", {}, None).channel("http://127.0.0.1:9", {})
    assert push_limits(amazon) == PushLimits(5.0, 5.0, 25_000, 1.0, 0.0)  # a JSON_LISTINGS_FEED
    shop = account_type("shopify")("shop-1", {}, None).channel("http://127.0.0.1:9", {})
    limits = push_limits(shop)
    assert (limits.per_s, limits.burst, limits.max_batch, limits.cost(1), limits.cost(250)) == (
        100.0,
        1000.0,
        250,
        10.0,
        10.0,
    )
    woo = account_type("woocommerce")("woo-1", {}, None).channel(
        "http://127.0.0.1:9", {"rate_limit": {"per_second": 2, "burst": 4}}
    )
    assert (push_limits(woo).per_s, push_limits(woo).burst, push_limits(woo).max_batch) == (2.0, 4.0, 100)
