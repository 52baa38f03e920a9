"""Flash-sale benchmark: skusync end to end against the polling sync sellers run today, on one order trace.

One seeded, open-loop trace (``benchmarks.flash_sale_trace``): simulated shoppers on several accounts
of every kind that has demo accounts, 5,000 SKUs with a few hot ones, the base order rate ramping to
ten times itself within one second, held, then back. Every channel's simulator at its published
limits. The same trace goes, in the same run, through:

1. **skusync, buffers off**: the whole pipeline (``actors.local_stack``: simulators, signed webhooks,
   gateway process, shards, channel actors) in real time.
2. **skusync, buffers from run 1**: the same again, each channel holding back per SKU
   ``ceil(p99 lag of that channel in run 1 x peak units/s offered for that SKU)`` (the arithmetic
   is in the JSON under ``buffers``).
3. **polling every 60 s, 5 min, 15 min**: ``adapters.sim.polling``, in simulated time (real minutes
   would be too long), on the same trace, initial stock, listed SKUs and per-channel limits
   (``push_limits``: what skusync's channel actor budgets with). Where the sale falls in the poll's
   cycle is luck, so each period is run at ``phases`` evenly spaced first ticks and reported as
   mean / min / max.
4. **the seed's decision path**: a webhook handler doing PostgreSQL ``UPDATE ... WHERE qty >= n``
   per order (``benchmarks.flash_sale_pg``), the same arrivals in real time.

Oversold units (units a channel sold after master ran out) and lag (``adapters.sim.lag``) are
measured the same way for skusync and polling. Writes ``flash_sale.json``, PNG charts and
``flash_sale.md`` under ``--out`` (``benchmarks.flash_sale_report``).

Usage: python -m benchmarks.flash_sale [--quick] [--out DIR] [--channels KIND:N,...] [--base-rate R]
       [--redis URL | --embedded] [--pg DSN] [--phases N]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Any

from actors.local_stack import LocalStack, StackSpec
from actors.local_stack.report import divergence_summary, lag_records, run_report
from actors.local_stack.spec import parse_channels
from adapters.base import adapter_for
from adapters.sim.account import account_type, kinds
from adapters.sim.polling import PolledChannel, phases, push_limits, simulate, summary
from benchmarks import flash_sale_pg
from benchmarks.common import RESULTS, write_result
from benchmarks.flash_sale_report import polling_figures, skusync_figures, write_outputs
from benchmarks.flash_sale_trace import Ramp, peak_unit_rate, ramp_trace, start_trace

SLOW_SKUS_PER_S = 100.0
"""A kind whose published limits take fewer SKUs a second than this lists only ``slow_listed`` SKUs
(the hot ones first), as in ``skusync demo``: Amazon (5/s) and eBay (23/s) cannot follow 5,000."""


def default_channels(total: int = 8) -> dict[str, int]:
    """Every kind with demo accounts, ``total // kinds`` accounts each (at least 1): 2 each for 4 kinds."""
    found = [k for k in kinds() if getattr(adapter_for(k), "OUTBOUND", None) is not None]
    return dict.fromkeys(found, max(1, total // max(1, len(found))))


def kind_speed(kind: str) -> float:
    """SKUs a second the kind's published default limits take (before a channel's ``rate_limit``)."""
    channel = account_type(kind)(f"{kind}-probe", {}, None).channel("http://127.0.0.1:9", {})
    return push_limits(channel).skus_per_s()


def settings_for(a: argparse.Namespace) -> dict[str, Any]:
    if a.quick:
        s: dict[str, Any] = {
            "skus": 200,
            "hot_skus": 3,
            "hot_quantity": 12,
            "hot_share": 0.5,
            "max_units": 1,
            "ramp": Ramp(base_per_s=a.base_rate or 8.0, warm_s=1.0, ramp_s=1.0, peak_s=3.0, tail_s=1.0),
            "channels": a.channels or {"shopify": 1, "amazon": 1},
            "slow_listed": 20,
            "periods": [60.0, 300.0, 900.0],
            "phases": a.phases or 4,
            "settle_s": 60.0,
        }
    else:
        s = {
            "skus": 5000,
            "hot_skus": 5,
            "hot_quantity": 150,
            "hot_share": 0.5,
            "max_units": 1,
            "ramp": Ramp(base_per_s=a.base_rate or 40.0),
            "channels": a.channels or default_channels(),
            "slow_listed": 50,
            "periods": [60.0, 300.0, 900.0],
            "phases": a.phases or 12,
            "settle_s": 120.0,
        }
    s["slow_kinds"] = sorted(k for k in s["channels"] if kind_speed(k) < SLOW_SKUS_PER_S)
    s["seed"] = 1
    return s


def initial_quantities(s: dict[str, Any]) -> dict[str, int]:
    import random

    rng = random.Random(s["seed"])
    normal = [rng.randint(5, 60) for _ in range(s["skus"])]
    return {f"SKU-{i:05d}": s["hot_quantity"] if i < s["hot_skus"] else normal[i] for i in range(s["skus"])}


def make_spec(s: dict[str, Any], redis_url: str | None, extras: dict[str, dict[str, Any]]) -> StackSpec:
    quantities = list(initial_quantities(s).values())
    return StackSpec(
        skus=s["skus"],
        initial_quantity=lambda i: quantities[i],
        accounts=s["channels"],
        listed_skus=dict.fromkeys(s["slow_kinds"], s["slow_listed"]),
        hot_skus=s["hot_skus"],
        redis_url=redis_url,
        gateway="process",
        channel_extras=extras,
    )


def run_skusync(
    s: dict[str, Any], trace: list[Any], redis_url: str | None, extras: dict[str, Any]
) -> dict[str, Any]:
    """One real-time run of the trace through the whole pipeline: report, records, polled channels."""
    with LocalStack(make_spec(s, redis_url, extras)) as stack:
        wall0, t0 = time.time(), time.monotonic()
        shoppers = start_trace(stack, trace)
        stack.wait_shoppers(timeout_s=s["ramp"].duration_s + 600)
        selling_s = time.monotonic() - t0
        load_during = os.getloadavg()
        redelivered = stack.redeliver()
        diverged = stack.settle(timeout_s=s["settle_s"], stable_s=5.0)
        report = run_report(stack, selling_s)
        records = lag_records(stack)
        polled = [
            PolledChannel(cid, push_limits(a.channel), frozenset(a.skus)) for cid, a in stack.accounts.items()
        ]
        kinds_by_id = {cid: a.kind for cid, a in stack.accounts.items()}
        decided_at = [
            o.answered_at - wall0
            for a in stack.accounts.values()
            for o in a.store.orders
            if o.decision is not None and o.answered_at
        ]
    return {
        "report": report | {"redelivered_webhooks": redelivered, "diverged": divergence_summary(diverged)},
        "records": records,
        "wall0": wall0,
        "polled": polled,
        "kinds": kinds_by_id,
        "decided_at": decided_at,
        "replay_late_s": round(max((sh.late_s for sh in shoppers.values()), default=0.0), 3),
        "load_during": [round(x, 2) for x in load_during],
        "selling_s": round(selling_s, 2),
    }


def buffers_from(run: dict[str, Any], rates: dict[str, float], hot: list[str]) -> dict[str, Any]:
    """Per channel: ``ceil(p99 lag x peak units/s)`` for each hot SKU, and for the rest the busiest
    other SKU's rate (one default rule), as ``buffer_rules`` with the arithmetic beside it."""
    cold_rate = max((r for sku, r in rates.items() if sku not in hot), default=0.0)
    out = {}
    for cid, c in run["report"]["channels"].items():
        p99 = c["lag_p99_s"] or 0.0
        hot_units = {sku: math.ceil(p99 * rates.get(sku, 0.0)) for sku in hot}
        out[cid] = {
            "p99_lag_s": p99,
            "peak_units_per_s": {sku: round(rates.get(sku, 0.0), 2) for sku in hot}
            | {"other": round(cold_rate, 2)},
            "hot": hot_units,
            "default": math.ceil(p99 * cold_rate),
            "buffer_rules": {
                "default": {"fixed": math.ceil(p99 * cold_rate)},
                "skus": {sku: {"fixed": n} for sku, n in hot_units.items()},
            },
        }
    return out


def run_polling(s: dict[str, Any], trace: list[Any], polled: list[PolledChannel]) -> dict[str, Any]:
    initial = initial_quantities(s)
    out = {}
    for period in s["periods"]:
        runs = [simulate(trace, initial, polled, period, phase) for phase in phases(period, s["phases"])]
        out[f"{period:g}"] = {"summary": summary(runs), "runs": runs}
    return out


def run(a: argparse.Namespace) -> dict[str, Any]:
    s = settings_for(a)
    load_before = os.getloadavg()
    redis_url = None if a.embedded else a.redis
    initial = initial_quantities(s)
    names = list(initial)
    hot = names[: s["hot_skus"]]
    spec = make_spec(s, redis_url, {})
    listed = {
        cid: [n for n in names[: spec.listed_skus.get(kind, len(names))]] for cid, kind in spec.channel_ids()
    }
    trace = ramp_trace(s["ramp"], listed, hot, s["hot_share"], s["max_units"], s["seed"])
    rates = peak_unit_rate(trace, s["ramp"])
    plain = run_skusync(s, trace, redis_url, {})
    buffers = buffers_from(plain, rates, hot)
    buffered = run_skusync(
        s, trace, redis_url, {cid: {"buffer_rules": b["buffer_rules"]} for cid, b in buffers.items()}
    )
    polling = run_polling(s, trace, plain["polled"])
    pg = flash_sale_pg.run(a.pg, trace, initial, s["ramp"].peak_window)
    return {
        "settings": {k: (vars(v) if isinstance(v, Ramp) else v) for k, v in s.items()}
        | {"store": "redis" if redis_url else "embedded", "orders_in_trace": len(trace), "hot": hot},
        "limits": {
            p.channel_id: vars(p.limits) | {"skus_listed": len(p.skus or ())} for p in plain["polled"]
        },
        "_runs": {"plain": plain, "buffered": buffered, "polling": polling},
        "buffers": buffers,
        "skusync": skusync_figures(plain, s["ramp"]),
        "skusync_buffered": skusync_figures(buffered, s["ramp"]),
        "polling": polling_figures(polling, plain["kinds"]),
        "postgres_decision_path": pg,
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
    }


def _channels(text: str) -> dict[str, int]:
    try:
        return parse_channels(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", "--smoke", action="store_true", dest="quick", help="tiny sale, to check it runs"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--channels", type=_channels, default=None, help="accounts per kind, e.g. shopify:2,ebay:1"
    )
    p.add_argument(
        "--base-rate", type=float, default=None, help="orders/s before and after the peak (x10 at peak)"
    )
    p.add_argument("--phases", type=int, default=None, help="poll phases simulated per period")
    p.add_argument("--redis", default=os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--embedded", action="store_true", help="use the embedded store instead of --redis")
    p.add_argument("--tag", default="", help="suffix of the output names (flash_sale-TAG.json...)")
    p.add_argument("--pg", default="host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    a = p.parse_args()
    result = run(a)
    runs = result.pop("_runs")
    name = "flash_sale-quick" if a.quick else "flash_sale"
    name += f"-{a.tag}" if a.tag else ""
    write_outputs(name, result, runs, a.out)
    path = write_result(name, result, a.out)
    print(Path(a.out / f"{name}.md").read_text())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
