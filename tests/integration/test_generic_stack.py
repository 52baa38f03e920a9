"""A local stack with a generic account (the README's worked example) beside a Shopify one: the
generic store's sales are decided from its configured webhooks, and its listings converge on master
through its configured push template."""

from __future__ import annotations

from typing import Any

import pytest

from actors.local_stack import LocalStack, StackSpec
from actors.local_stack.report import run_report

KINDS = {"shopify": 1, "generic": 1}


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_stack_with_a_generic_account_sells_and_converges(ray_cluster: None) -> None:
    spec = StackSpec(
        skus=40,
        initial_quantity=lambda i: 3 if i < 3 else 8,
        accounts=KINDS,
        hot_skus=3,
        shopper_rate_per_s=8.0,
        shopper_options={"hot_share": 0.5, "max_units": 1},
    )
    with LocalStack(spec) as stack:
        assert stack.converged()
        assert {a.kind for a in stack.accounts.values()} == set(KINDS)
        stack.start_shoppers(max_orders=15)
        assert stack.wait_shoppers(timeout_s=30)
        stack.redeliver()
        diverged = stack.settle(timeout_s=60, stable_s=5.0)
        report: dict[str, Any] = run_report(stack, elapsed_s=2.0)
    assert not diverged, diverged
    assert set(report["channels"]) == {"shop-1", "gen-1"}
    assert report["master"]["conserved"] and report["master"]["never_negative"], report["master"]
    assert not report["failures"], report["failures"]
    generic = report["channels"]["gen-1"]
    assert generic["orders_accepted_by_channel"] > 0, generic  # its webhooks were decided
    assert generic["samples"] > 0 and generic["unreflected"] == 0, generic  # it learnt of Shopify's sales
    assert generic["dead_letters"] == 0 and generic["throttled_by_simulator"] == 0, generic
