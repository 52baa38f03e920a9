"""Reconciliation at known webhook loss rates: recall, false corrections, relisting, time and API calls.

Runs the whole pipeline (``actors.local_stack``: simulators, gateway, shards, channel actors) plus
the supervisor. Per drop rate, shoppers buy on every channel while that share of sale webhooks is
lost in transit (``ShopperConfig.drop_rate``: never sent, marked on the simulator's order), a few
listings are edited behind our back (drift up and down), then one ``POST /v1/reconcile`` runs.
Measured: recall (missed sales now in master / missed), false corrections (corrections to a SKU
whose listing was already right), relisted pushes (any quantity a channel received during repair
above what master ends up holding for it), time to repair (reconcile call start until every
channel lists what master says), and channel API calls spent by the reads.

``python -m benchmarks.reconcile [--smoke] [--out DIR]`` writes ``DIR/reconcile.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from actors.local_stack import LocalStack, StackSpec
from actors.runtime import ensure_supervisor, kill_supervisor
from benchmarks.common import write_result
from engine.reconcile import ChannelOrder
from engine.routing import ShardMap
from engine.store.keys import Keys
from engine.store.reconcile_store import ReconcileStore

RATES = (0.01, 0.03, 0.10)
REDIS_URL = os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def spec(skus: int, quantity: int, redis_url: str = REDIS_URL) -> StackSpec:
    """Two channels (Shopify, WooCommerce with a buffer of 1), budgets generous enough for a test."""
    return StackSpec(
        skus=skus,
        initial_quantity=quantity,
        shards=1,
        redis_url=redis_url,
        channel_extras={
            "woocommerce": {"default_buffer": 1, "rate_limit": {"per_second": 50, "burst": 50}},
        },
        shopper_options={"max_units": 2},
    )


def start(s: StackSpec) -> tuple[LocalStack, Any]:
    """The stack and its supervisor (scheduled runs off: every run here is on demand)."""
    stack = LocalStack(s).start()
    try:
        assert stack.config is not None
        supervisor = ensure_supervisor(stack.config, stack.config.store.redis_url or "", every_s=0)
    except BaseException:
        stack.stop()
        raise
    return stack, supervisor


def stop(stack: LocalStack) -> None:
    if stack.config is not None:
        kill_supervisor(stack.config)
    stack.stop()


def quiesce(stack: LocalStack, timeout_s: float = 30.0) -> bool:
    """Wait until every channel actor is idle and no listing moved for half a second."""
    deadline, last, calm = time.monotonic() + timeout_s, None, 0
    while time.monotonic() < deadline:
        now = {cid: stack.listed(cid) for cid in stack.accounts}
        calm = calm + 1 if now == last and stack.idle() else 0
        if calm >= 5:
            return True
        last = now
        time.sleep(0.1)
    return False


def drift(stack: LocalStack, rng: random.Random) -> dict[str, dict[str, tuple[int, int]]]:
    """Edit two listings per channel behind our back: one up by 3 (more than master holds), one down."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for cid, account in stack.accounts.items():
        store = account.store
        with store.lock:
            up, down = rng.sample(sorted(store.listings), 2)
            out[cid] = {}
            for sku, delta in ((up, 3), (down, -2)):
                old = store.listings[sku].quantity
                store.listings[sku].quantity = max(0, old + delta)
                out[cid][sku] = (old, store.listings[sku].quantity)
    return out


def missed_orders(stack: LocalStack, since: dict[str, int]) -> dict[str, list[ChannelOrder]]:
    """Per channel, the sales made since ``since`` whose webhook did not get through."""
    out = {}
    for cid, account in stack.accounts.items():
        with account.store.lock:
            rows = [o for o in account.store.orders[since[cid] :] if not o.delivered]
        out[cid] = [ChannelOrder(str(o.order_id), tuple(o.lines), o.t, o.t) for o in rows]
    return out


async def _known(stack: LocalStack, missed: dict[str, list[ChannelOrder]]) -> int:
    assert stack.config is not None
    client = aioredis.Redis.from_url(stack.config.store.redis_url or "")
    try:
        cfg = stack.config
        store = ReconcileStore(
            client, Keys(cfg.store.key_prefix), ShardMap(cfg.engine.shards, cfg.engine.vshards)
        )
        return sum([len(await store.known_orders(cid, orders)) for cid, orders in missed.items()])
    finally:
        await client.aclose()


def reconcile(stack: LocalStack, channel: str | None = None, limit_s: float = 900.0) -> list[dict[str, Any]]:
    """``POST /v1/reconcile`` on the stack's gateway, followed to its end; the drift reports.

    A run reads within the reconciliation share of each channel's budget, so it may outlast the
    request's wait: a 202 is followed through ``GET /v1/reconcile/{run_id}?wait=`` until it ends.
    """
    auth = {"Authorization": f"Bearer {stack.admin_token}"}
    params: dict[str, Any] = {"wait": 60, **({"channel": channel} if channel else {})}
    response = httpx.post(f"{stack.gateway_url}/v1/reconcile", params=params, headers=auth, timeout=90)
    response.raise_for_status()
    run = response.json()
    deadline = time.monotonic() + limit_s
    while run.get("status") == "running" and time.monotonic() < deadline:
        url = f"{stack.gateway_url}/v1/reconcile/{run['run_id']}"
        follow = httpx.get(url, params={"wait": 60}, headers=auth, timeout=90)
        follow.raise_for_status()
        run = follow.json()
    if run.get("status") != "done":
        raise RuntimeError(f"reconciliation run ended {run.get('status')!r}: {run.get('reason')}")
    reports: list[dict[str, Any]] = run["reports"]
    return reports


def sold(stack: LocalStack) -> dict[str, int]:
    """Units every channel sold, per SKU, over the whole run."""
    out: dict[str, int] = {}
    for account in stack.accounts.values():
        with account.store.lock:
            for order in account.store.orders:
                for sku, q in order.lines:
                    out[sku] = out.get(sku, 0) + q
    return out


def relists(
    cid: str, before: dict[str, int], pushes: list[tuple[float, str, int]], final: dict[str, int]
) -> list[tuple[str, str, int, int]]:
    """Pushes that raised a listing above what master ends up holding for the channel: each lists a
    unit that was already sold. A push that lowers a listing toward the final value is not one,
    even when it is not there yet."""
    listing, out = dict(before), []
    for _, sku, q in sorted(pushes):
        if q > final[sku] and q > listing.get(sku, 0):
            out.append((cid, sku, q, final[sku]))
        listing[sku] = q
    return out


def run_phase(
    stack: LocalStack, drop_rate: float, orders: int, rate_per_s: float, seed: int
) -> dict[str, Any]:
    """One drop rate: shop, drift, reconcile once, wait for repair; the measures (see module doc)."""
    rng = random.Random(seed)
    before = {cid: len(a.store.orders) for cid, a in stack.accounts.items()}
    stack.start_shoppers(max_orders=orders, rate_per_s=rate_per_s, drop_rate=drop_rate, seed=seed)
    stack.wait_shoppers(120)
    settled = quiesce(stack)
    missed = missed_orders(stack, before)
    edited = drift(stack, rng)
    pre = {cid: stack.listed(cid) for cid in stack.accounts}
    t0 = time.time()
    reports = reconcile(stack)
    converged = stack.wait_converged(60)
    repaired_s = time.time() - t0
    master = stack.master()
    expected = {cid: stack.expected(cid, master) for cid in stack.accounts}
    units = sold(stack)
    false_fixes, relisted = [], []
    for report in reports:
        cid = report["channel"]
        false_fixes += [c for c in report["corrections"] if pre[cid].get(c["sku"]) == expected[cid][c["sku"]]]
        with stack.accounts[cid].store.lock:
            pushes = [r for r in stack.accounts[cid].store.received if r[0] >= t0]
        relisted += relists(cid, pre[cid], pushes, expected[cid])
    n_missed = sum(len(v) for v in missed.values())
    repaired = asyncio.run(_known(stack, missed))
    return {
        "drop_rate": drop_rate,
        "orders": sum(len(a.store.orders) - before[cid] for cid, a in stack.accounts.items()),
        "missed": n_missed,
        "repaired": repaired,
        "recall": 1.0 if n_missed == 0 else repaired / n_missed,
        "backfilled": sum(r["orders_backfilled"] for r in reports),
        "drift_injected": sum(len(v) for v in edited.values()),
        "drifted_found": sum(r["drifted"] for r in reports),
        "corrections": sum(r["corrected"] for r in reports),
        "false_corrections": len(false_fixes),
        "relisted_pushes": len(relisted),
        "converged": converged,
        "settled_before": settled,
        "master_conserved": all(master[s] == stack.initial[s] - units.get(s, 0) for s in master),
        "time_to_repair_s": round(repaired_s, 3),
        "reconcile_s": round(max((r["duration_s"] for r in reports), default=0.0), 3),
        "api_calls": sum(r["api_calls"] for r in reports),
        "api_cost": sum(r["api_cost"] for r in reports),
        "errors": [r["error"] for r in reports if r["error"]],
        "examples": {"relisted": relisted[:5], "false_corrections": false_fixes[:5], "drift": edited},
        "reports": reports,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a small, quick run (CI)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    skus, quantity, orders, rate = (30, 60, 60, 60.0) if args.smoke else (200, 200, 600, 100.0)
    stack, _ = start(spec(skus, quantity))
    try:
        phases = [run_phase(stack, r, orders, rate, seed=i + 1) for i, r in enumerate(RATES)]
    finally:
        stop(stack)
    result = {
        "smoke": args.smoke,
        "skus": skus,
        "orders_per_channel_per_phase": orders,
        "channels": ["shopify", "woocommerce"],
        "phases": phases,
    }
    path = write_result("reconcile", result, args.out)  # adds the date, machine and load average
    print(path.read_text())
    ok = all(p["recall"] == 1.0 and not p["false_corrections"] and not p["relisted_pushes"] for p in phases)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
