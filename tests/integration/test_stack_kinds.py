"""A local stack with one account of every kind (Shopify, WooCommerce, Amazon, eBay) sells, converges
and reports every channel; ``--channels`` parsing and the demo's refusal of a bad one."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from actors.local_stack import LocalStack, StackSpec
from actors.local_stack.report import run_report
from actors.local_stack.spec import parse_channels

ALL_KINDS = {"shopify": 1, "woocommerce": 1, "amazon": 1, "ebay": 1}


def test_channels_parse_and_name_each_account() -> None:
    assert parse_channels("shopify:2, amazon:1,ebay") == {"shopify": 2, "amazon": 1, "ebay": 1}
    for bad in ("nosuchkind:1", "shopify:x", "shopify:-1", "shopify:0", "shopify:1,shopify:2", ""):
        with pytest.raises(ValueError):
            parse_channels(bad)
    spec = StackSpec(accounts={"shopify": 2, "woocommerce": 1, "amazon": 1, "ebay": 1})
    assert [cid for cid, _ in spec.channel_ids()] == ["shop-1", "shop-2", "woo-1", "amz-1", "ebay-1"]
    legacy = StackSpec(shopify_accounts=1, woocommerce_accounts=2)
    assert legacy.channel_ids() == [("shop-1", "shopify"), ("woo-1", "woocommerce"), ("woo-2", "woocommerce")]
    limited = StackSpec(skus=10, listed_skus={"amazon": 3, "amz-2": 4})
    assert list(limited.listed_quantities("amz-1", "amazon")) == ["SKU-00000", "SKU-00001", "SKU-00002"]
    assert len(limited.listed_quantities("amz-2", "amazon")) == 4
    assert len(limited.listed_quantities("shop-1", "shopify")) == 10


@pytest.mark.parametrize("value", ["nosuchkind:1", "amazon:two"])
def test_demo_refuses_a_bad_channels_flag_naming_it(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actors.cli", "demo", "--channels", value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "--channels" in done.stderr


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_stack_of_every_kind_sells_converges_and_reports_each_channel(ray_cluster: None) -> None:
    spec = StackSpec(
        skus=40,
        initial_quantity=lambda i: 3 if i < 3 else 8,
        accounts=ALL_KINDS,
        listed_skus={"amazon": 20, "ebay": 20},
        hot_skus=3,
        shopper_rate_per_s=8.0,
        shopper_options={"hot_share": 0.5, "max_units": 1},
    )
    with LocalStack(spec) as stack:
        assert stack.converged()  # every store starts listing what master says
        assert {a.kind for a in stack.accounts.values()} == set(ALL_KINDS)
        assert len(stack.accounts["amz-1"].skus) == 20 and len(stack.accounts["shop-1"].skus) == 40
        stack.start_shoppers(max_orders=15)
        assert stack.wait_shoppers(timeout_s=30)
        stack.redeliver()
        diverged = stack.settle(timeout_s=60, stable_s=5.0)
        report: dict[str, Any] = run_report(stack, elapsed_s=2.0)
    assert not diverged, diverged
    assert set(report["channels"]) == {"shop-1", "woo-1", "amz-1", "ebay-1"}
    assert report["master"]["conserved"] and report["master"]["never_negative"], report["master"]
    assert not report["failures"], report["failures"]
    for cid, c in report["channels"].items():
        assert c["orders_accepted_by_channel"] > 0, (cid, c)  # every kind sold, its webhook decided
        assert c["samples"] > 0 and c["unreflected"] == 0, (cid, c)  # and learnt of the others' sales
        assert c["dead_letters"] == 0 and c["lag_p99_s"] is not None, (cid, c)
