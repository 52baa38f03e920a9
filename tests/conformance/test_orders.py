"""Orders after checkout, as every kind notifies them: an edit, a refund and a cancel move master stock
exactly as the versioned-order rules say (README, "What the ledger decides"), and master ends where
the marketplace's own stock is. Each action's notifications are posted as the marketplace sends them;
the gateway has decided them when it answers, so master is read right away."""

from __future__ import annotations

import pytest

from adapters.sim.conformance import ConformanceDriver
from tests.conformance.support import fresh, masters, post_all, stocked, supported
from tests.integration.support import Gw

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def at(gw: Gw, driver: ConformanceDriver, expected: dict[str, int]) -> None:
    """Master holds ``expected`` and so does the marketplace's listing."""
    assert masters(gw, expected) == expected
    listed = driver.listed()
    assert {sku: listed[sku] for sku in expected} == expected


def test_an_edit_lowering_a_line_returns_the_difference(gw: Gw, driver: ConformanceDriver) -> None:
    [sku] = fresh(1)
    stocked(gw, driver, {sku: 10})
    order, sold = driver.sale({sku: 4})
    post_all(gw, sold)
    at(gw, driver, {sku: 6})
    post_all(gw, supported(driver, lambda: driver.edit(order, sku, 1)))  # 3 units removed, restocked
    at(gw, driver, {sku: 9})
    post_all(gw, sold)  # the sale notified again after the edit: its first answer, nothing moves
    at(gw, driver, {sku: 9})


def test_a_refund_returns_units_only_when_it_restocks(gw: Gw, driver: ConformanceDriver) -> None:
    [sku] = fresh(1)
    stocked(gw, driver, {sku: 10})
    order, sold = driver.sale({sku: 3})
    post_all(gw, sold)
    at(gw, driver, {sku: 7})
    post_all(gw, supported(driver, lambda: driver.refund(order, sku, 1, restock=True)))
    at(gw, driver, {sku: 8})
    post_all(gw, supported(driver, lambda: driver.refund(order, sku, 1, restock=False)))  # kept: nothing back
    at(gw, driver, {sku: 8})


@pytest.mark.parametrize(("restock", "after"), [(True, (10, 10)), (False, (7, 8))], ids=["restock", "keep"])
def test_a_cancel_returns_what_the_order_held_only_when_it_restocks(
    gw: Gw, driver: ConformanceDriver, restock: bool, after: tuple[int, int]
) -> None:
    a, b = fresh(2)
    stocked(gw, driver, {a: 10, b: 10})
    order, sold = driver.sale({a: 3, b: 2})
    post_all(gw, sold)
    at(gw, driver, {a: 7, b: 8})
    cancelled = supported(driver, lambda: driver.cancel(order, restock))
    post_all(gw, cancelled)
    expected = {a: after[0], b: after[1]}
    at(gw, driver, expected)
    post_all(gw, sold)  # late notifications of the sale and of the cancel itself move nothing
    post_all(gw, cancelled)
    at(gw, driver, expected)
