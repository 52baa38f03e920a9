"""Propagation benchmark: lag from a sale on one store to the moment every other store lists it.

The whole pipeline of ``actors.local_stack`` on this machine: 8 simulated channel accounts (4
Shopify + 4 WooCommerce by default) at their published default limits (MARKETPLACES.md: Shopify
Standard, a GraphQL bucket of 1,000 points restored at 100/s; WooCommerce core, no limit), each with
its simulated shoppers sending signed webhooks to the gateway, open loop (Poisson) at 1,000 orders/s
in total over 5,000 SKUs, some demand on hot SKUs. Our channel actors budget with the adapters'
defaults (Shopify 100 points/s, burst 1,000, at 0.9 safety; WooCommerce 5 requests/s, burst 10, a
guess since core publishes none) unless ``--woo-rate`` overrides it.

Lag is defined in ``adapters.sim.lag`` (sale on store A at t -> first quantity received by store B
at or after t reflecting it). Per channel: p50/p99/max lag, samples, sales not reflected by the end,
requests, SKU updates acked, 429s (or Shopify ``Throttled``) seen by the simulator in total and after
the warm-up (steady state: there is no other client, so every one is caused by our own traffic).
Also offered vs achieved order rate, machine, date and load average. matplotlib is not a dependency,
so no chart is drawn; the JSON holds every figure.

``--channels shopify:2,amazon:1,ebay:1,...`` runs any mix of kinds (each simulator enforces its kind's
published limits: Amazon ``patchListingsItem`` 5 requests/s, eBay's Inventory API quota about 23
calls/s); ``--marketplace-skus N`` lists only the first N SKUs on Amazon and eBay accounts (default:
every SKU).

Usage: python -m benchmarks.propagation [--smoke] [--out DIR] [--seconds N] [--rate R] [--redis URL]
       [--channels KIND:N,...] [--marketplace-skus N]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any

import ray

from actors.local_stack import LocalStack, StackSpec
from actors.local_stack.report import divergence_summary, run_report
from actors.local_stack.spec import parse_channels
from benchmarks.common import RESULTS, write_result

TARGET_P99_S = 1.0


def settings_for(a: argparse.Namespace) -> dict[str, Any]:
    if a.smoke:
        return {
            "seconds": 3.0,
            "rate": 40.0,
            "skus": 200,
            "channels": a.channels or {"shopify": 1, "woocommerce": 1},
            "hot_skus": 5,
            "hot_share": 0.3,
            "quantity": 20,
            "warmup_s": 1.0,
        }
    return {
        "seconds": a.seconds,
        "rate": a.rate,
        "skus": 5000,
        "channels": a.channels or {"shopify": 4, "woocommerce": 4},
        "hot_skus": 50,
        "hot_share": 0.2,
        "quantity": 100,
        "warmup_s": 5.0,
    }


def spec_for(s: dict[str, Any], redis_url: str | None, woo_rate: float | None) -> StackSpec:
    stores = sum(s["channels"].values())
    extras: dict[str, dict[str, Any]] = {}
    # Published defaults: Shopify Standard (the simulator's defaults); WooCommerce core has no limit.
    simulators: dict[str, dict[str, Any]] = {"shopify": {"maximum_available": 1000.0, "restore_rate": 100.0}}
    if woo_rate:  # a host's limit: the stores enforce it (429) and the channels are told it
        extras["woocommerce"] = {"rate_limit": {"per_second": woo_rate, "burst": 2 * woo_rate}}
        simulators["woocommerce"] = {"rate_limit": (woo_rate, 2 * woo_rate)}
    return StackSpec(
        skus=s["skus"],
        initial_quantity=s["quantity"],
        accounts=s["channels"],
        listed_skus={k: s["marketplace_skus"] for k in ("amazon", "ebay")} if s["marketplace_skus"] else {},
        hot_skus=s["hot_skus"],
        redis_url=redis_url,
        gateway="process",
        simulator_options=simulators,
        channel_extras=extras,
        shopper_rate_per_s=s["rate"] / stores,
        shopper_options={"hot_share": s["hot_share"], "max_units": 1, "max_in_flight": 512},
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "redis-server":
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def roles(stack: LocalStack) -> dict[str, list[int]]:
    """Process ids by role, to tell where the machine's cores went during the sale."""
    assert stack.shards is not None
    shard_pids = [int(s["pid"]) for s in ray.get([h.stats.remote() for h in stack.shards.handles])]
    return {
        "driver (simulators, shoppers)": [os.getpid()],
        "gateway": [stack.gateway_pid],
        "shards": shard_pids,
        "channel actors": [int(s["pid"]) for s in stack.channel_stats().values()],
        "redis": redis_pids(),
    }


def cpu_by_role(pids: dict[str, list[int]]) -> dict[str, float]:
    return {role: sum(cpu_seconds(p) for p in ps) for role, ps in pids.items()}


def throttled(stack: LocalStack) -> dict[str, int]:
    return {cid: a.store.counters.get("throttled", 0) for cid, a in stack.accounts.items()}


def run(s: dict[str, Any], redis_url: str | None, woo_rate: float | None) -> dict[str, Any]:
    load_before = os.getloadavg()
    started = time.monotonic()
    with LocalStack(spec_for(s, redis_url, woo_rate)) as stack:
        startup_s = time.monotonic() - started
        pids = roles(stack)
        cpu_before = cpu_by_role(pids)
        t0 = time.monotonic()
        stack.start_shoppers(duration_s=s["seconds"])
        time.sleep(min(s["warmup_s"], s["seconds"]))
        after_warmup = throttled(stack)
        stack.wait_shoppers(timeout_s=s["seconds"] + 600)
        selling_s = time.monotonic() - t0
        load_during = os.getloadavg()
        cpu = {r: round((c - cpu_before[r]) / selling_s, 2) for r, c in cpu_by_role(pids).items()}
        redelivered = stack.redeliver()
        diverged = stack.settle(timeout_s=120, stable_s=5.0)
        drained_s = time.monotonic() - t0
        report = run_report(stack, selling_s)
        final_throttled = throttled(stack)
        offered = sum(a.simulator.shoppers.offered for a in stack.accounts.values() if a.simulator.shoppers)
        decided = sum(1 for a in stack.accounts.values() for o in a.store.orders if o.decision is not None)
    for cid, skus in diverged.items():
        report["failures"].append(f"{cid}: {len(skus)} SKUs listed differently from master after settling")
    for cid, c in report["channels"].items():
        c["throttled_after_warmup"] = final_throttled[cid] - after_warmup[cid]
        c["meets_target"] = bool(
            c["lag_p99_s"] is not None
            and c["lag_p99_s"] <= TARGET_P99_S
            and c["unreflected"] == 0
            and c["throttled_after_warmup"] == 0
        )
    return {
        "settings": s | {"woo_rate_override": woo_rate, "store": "redis" if redis_url else "embedded"},
        "startup_s": round(startup_s, 1),
        "selling_s": round(selling_s, 2),
        "drained_s": round(drained_s, 2),
        "orders": {
            "offered_rate_target": s["rate"],
            "offered": offered,
            "offered_per_s": round(offered / selling_s, 1),
            "sold_and_decided": decided,
            "decided_per_s": round(decided / selling_s, 1),
        },
        "channels": report["channels"],
        "master": report["master"],
        "failures": report["failures"],
        "redelivered_webhooks": redelivered,
        "diverged_after_settling": divergence_summary(diverged),
        "target": {
            "p99_lag_s_max": TARGET_P99_S,
            "zero_self_caused_429s_at_steady_state": True,
            "met_by": sorted(c for c, v in report["channels"].items() if v["meets_target"]),
            "missed_by": sorted(c for c, v in report["channels"].items() if not v["meets_target"]),
        },
        "cores_used_while_selling": cpu,
        "load_average": {"before": load_before, "during": load_during, "after": os.getloadavg()},
    }


def _channels(text: str) -> dict[str, int]:
    try:
        return parse_channels(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts, to check the benchmark runs")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--seconds", type=float, default=20.0, help="how long shoppers buy")
    p.add_argument("--rate", type=float, default=1000.0, help="orders offered per second, all stores")
    p.add_argument("--redis", default=os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--embedded", action="store_true", help="use the embedded store instead of --redis")
    p.add_argument("--woo-rate", type=float, default=None, help="WooCommerce budget, requests/s")
    p.add_argument(
        "--channels", type=_channels, default=None, help="accounts per kind, e.g. shopify:2,amazon:1"
    )
    p.add_argument(
        "--marketplace-skus", type=int, default=None, help="SKUs listed on Amazon and eBay accounts"
    )
    a = p.parse_args()
    random.seed(1)
    result = run(
        settings_for(a) | {"marketplace_skus": a.marketplace_skus},
        None if a.embedded else a.redis,
        a.woo_rate,
    )
    name = "propagation-smoke" if a.smoke else "propagation"
    if a.woo_rate is not None:  # a what-if run: never overwrite the default one
        name += f"-woo{a.woo_rate:g}"
    path = write_result(name, result, a.out)
    for cid, c in result["channels"].items():
        print(
            f"{cid:8} p50 {c['lag_p50_s']} p99 {c['lag_p99_s']} max {c['lag_max_s']} s "
            f"(webhook answer p50 {c['webhook_answer_p50_s']} p99 {c['webhook_answer_p99_s']}); "
            f"{c['requests']} requests, {c['sku_updates_acked']} updates, "
            f"429s {c['throttled_by_simulator']} ({c['throttled_after_warmup']} after warm-up), "
            f"unreflected {c['unreflected']}"
        )
    print(f"cores used while selling: {result['cores_used_while_selling']}")
    print(f"orders: {result['orders']}; load {result['load_average']}; wrote {path}")


if __name__ == "__main__":
    main()
