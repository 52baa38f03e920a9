"""End to end on the local stack: shoppers' webhooks -> gateway -> shards -> channel actors -> stores.

One run (a module fixture) serves both tests: shoppers buy on one Shopify and one WooCommerce store
for three seconds, the stack settles, and the tests judge master's invariants and the stores' listings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from actors.local_stack import LocalStack, StackSpec
from actors.local_stack.report import run_report
from tests.conftest import REDIS_URL, delete_prefix

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@dataclass
class Run:
    seeded_converged: bool
    diverged: dict[str, dict[str, tuple[int, int]]]
    report: dict[str, Any]
    final: dict[str, int]
    lines: list[dict[str, Any]]
    sold_units: int
    undecided: int


def _spec(prefix: str) -> StackSpec:
    # Few units on the hot SKUs so that they sell out (and get oversold) within the run; a buffer on
    # WooCommerce so that "listed = max(0, available - buffer)" is checked with a non-zero buffer.
    return StackSpec(
        skus=200,
        initial_quantity=lambda i: 4 if i < 5 else 12,
        shopify_accounts=1,
        woocommerce_accounts=1,
        hot_skus=5,
        redis_url=REDIS_URL,
        key_prefix=prefix,
        channel_extras={"woocommerce": {"default_buffer": 1}},
        shopper_rate_per_s=25.0,
        shopper_options={"hot_share": 0.5, "max_units": 1},
    )


@pytest.fixture(scope="module")
def run(ray_cluster: None) -> Iterator[Run]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    try:
        with LocalStack(_spec(prefix)) as stack:
            seeded = stack.converged()  # the seed: every store starts listing what master says
            stack.start_shoppers(duration_s=3.0)
            assert stack.wait_shoppers(timeout_s=30)
            stack.redeliver()  # a webhook that timed out on a loaded machine, as the store would retry
            diverged = stack.settle(timeout_s=45, stable_s=3.0)
            orders = [o for a in stack.accounts.values() for o in a.store.orders]
            yield Run(
                seeded_converged=seeded,
                diverged=diverged,
                report=run_report(stack, elapsed_s=3.0),
                final=stack.master(),
                lines=[line for o in orders for line in (o.decision or {}).get("lines", [])],
                sold_units=sum(q for o in orders for _, q in o.lines),
                undecided=sum(1 for o in orders if not o.decision),
            )
    finally:
        delete_prefix(redis.Redis.from_url(REDIS_URL), prefix)


def test_master_is_conserved_and_oversell_happens_only_after_master_ran_out(run: Run) -> None:
    master = run.report["master"]
    assert master["undelivered_webhooks"] == 0 and run.undecided == 0  # every sale reached master
    assert master["conserved"] and master["never_negative"], master  # initial - accepted = final
    assert min(run.final.values()) >= 0
    # Oversold as the issue defines it: a store sold units master no longer had. Master refuses
    # only then (0 available after), and the stores sold beyond master exactly those units.
    short = [line for line in run.lines if (line["accepted"] or 0) < line["requested"]]
    assert all(line["available"] == 0 for line in short), short[:3]
    channels = run.report["channels"].values()
    assert sum(c["oversold_units"] for c in channels) == run.sold_units - master["accepted_units"]
    assert sum(c["orders_accepted_by_channel"] for c in channels) > 50
    assert all(c["samples"] > 0 and c["dead_letters"] == 0 for c in channels)


def test_after_quiescence_every_store_lists_max_0_available_minus_buffer(run: Run) -> None:
    # This caught the race where a push computed before a store's own sale landed after it and the
    # sale's change was then skipped for that store (fixed by ChannelSync's source guard).
    assert run.seeded_converged
    described = "; ".join(
        f"{c}: {len(d)} SKUs differ, e.g. {list(d.items())[:3]}" for c, d in run.diverged.items()
    )
    assert not run.diverged, described
    for cid, c in run.report["channels"].items():
        assert c["unreflected"] == 0, (cid, c)  # every other store learnt of every sale
