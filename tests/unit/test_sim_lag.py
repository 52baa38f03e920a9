"""Lag and oversell measurement (``adapters.sim.lag``) on hand-made simulator records."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.sim.lag import ChannelRecord, measure, percentile


def line(sku: str, available: int, version: int, requested: int = 1, accepted: int = 1) -> dict[str, Any]:
    lines = [
        {"sku": sku, "available": available, "version": version, "requested": requested, "accepted": accepted}
    ]
    return {"outcome": "applied", "lines": lines}


def plain(sku: str, available: int) -> int:
    return available


def test_lag_is_the_first_received_quantity_reflecting_the_sale() -> None:
    a = ChannelRecord(
        "a", {"S": 10}, [], [(100.0, "S", 1, line("S", 9, 2)), (101.0, "S", 1, line("S", 8, 3))], plain
    )
    # b gets 9 half a second after the first sale; then an older 9 again, and 8 at 101.4
    b = ChannelRecord("b", {"S": 10}, [(100.5, "S", 9), (101.2, "S", 9), (101.4, "S", 8)], [], plain)

    report = measure([a, b])

    assert report.lags["b"] == pytest.approx([0.5, 0.4])
    assert report.lags["a"] == [] and report.summary("b")["p99_s"] == pytest.approx(0.5)


def test_a_listing_already_at_or_below_the_target_needs_no_update() -> None:
    def buffer_10(sku: str, available: int) -> int:
        return max(0, available - 10)

    a = ChannelRecord("a", {"S": 10}, [], [(5.0, "S", 1, line("S", 9, 2))], plain)
    b = ChannelRecord("b", {"S": 0}, [], [], buffer_10)

    assert measure([a, b]).lags["b"] == [0.0]


def test_the_stores_own_sales_count_toward_its_listing() -> None:
    # b lists 1 (buffer 1 of 2); it sells that unit itself at 4.0; a's sale at 5.0 leaves master 0
    def buffer_1(sku: str, available: int) -> int:
        return max(0, available - 1)

    a = ChannelRecord("a", {"S": 2}, [], [(5.0, "S", 1, line("S", 0, 3))], plain)
    b = ChannelRecord("b", {"S": 1}, [], [(4.0, "S", 1, line("S", 1, 2))], buffer_1)

    report = measure([a, b])

    assert report.lags["b"] == [0.0] and report.unreflected["b"] == 0
    # b's sale (4.0) left master 1 and a listed 2: a was safe only once its own sale (5.0) took one
    assert report.lags["a"] == [1.0]


def test_oversold_undecided_and_unreflected_sales_are_counted_not_sampled() -> None:
    sales = [
        (1.0, "S", 1, line("S", 0, 2)),  # the last unit: reflected by nobody below -> unreflected on b
        (2.0, "S", 2, line("S", 0, 2, requested=2, accepted=0)),  # master had none: oversold
        (3.0, "S", 1, None),  # webhook never answered: undecided
    ]
    a = ChannelRecord("a", {"S": 1}, [], sales, plain)
    b = ChannelRecord("b", {"S": 1}, [], [], plain)

    report = measure([a, b])

    assert report.summary("a")["oversold"] == 1 and report.summary("a")["oversold_units"] == 2
    assert report.summary("a")["undecided"] == 1
    assert report.unreflected["b"] == 1 and report.lags["b"] == []


def test_a_restock_during_the_window_is_refused() -> None:
    sales: list[tuple[float, str, int, dict[str, Any] | None]] = [
        (1.0, "S", 1, line("S", 5, 2)),
        (2.0, "S", 1, line("S", 7, 4)),
    ]
    with pytest.raises(ValueError, match="sale-only"):
        measure([ChannelRecord("a", {"S": 6}, [], sales, plain)])


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile([], 50) is None
