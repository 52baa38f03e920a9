"""The demo's comparison: the sale a local stack just ran, replayed through a 60 s poll
(``actors.local_stack.polling``): the same attempts, skusync's oversold units beside the poll's."""

from __future__ import annotations

from typing import Any

import pytest

from actors.local_stack import LocalStack, StackSpec
from actors.local_stack.polling import poll_comparison, sale_attempts
from actors.local_stack.report import run_report


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_the_sale_is_replayed_through_a_60s_poll_on_the_same_attempts(ray_cluster: None) -> None:
    spec = StackSpec(
        skus=30,
        initial_quantity=lambda i: 2 if i < 2 else 6,
        accounts={"shopify": 1, "woocommerce": 1},
        hot_skus=2,
        shopper_rate_per_s=10.0,
        shopper_options={"hot_share": 0.8, "max_units": 1},
    )
    with LocalStack(spec) as stack:
        stack.start_shoppers(max_orders=20)
        assert stack.wait_shoppers(timeout_s=30)
        stack.redeliver()
        stack.settle(timeout_s=60, stable_s=3.0)
        report: dict[str, Any] = run_report(stack, elapsed_s=2.0)
        attempts = sale_attempts(stack)
        versus = poll_comparison(stack, skusync_oversold=3, n=4)
    offered = sum(c["orders_offered"] for c in report["channels"].values())
    assert len(attempts) == offered == versus["orders"] == 40
    assert attempts[0].t == 0.0 and [a.t for a in attempts] == sorted(a.t for a in attempts)
    assert versus["skusync_oversold_units"] == 3 and versus["phases"] == 4
    low, mean, high = (versus[f"polling_oversold_units_{k}"] for k in ("min", "mean", "max"))
    assert low <= mean <= high
    # First ticks at 0, 15, 30, 45 s: in at least one phase no tick falls inside the ~2 s sale, so
    # each store sells its 2 units of each hot SKU (about 16 hot attempts each): 2 SKUs x 2 over.
    assert high == 4
