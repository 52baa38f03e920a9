"""After a run on a ``LocalStack``: per-channel figures and the master invariants, as one JSON-ready dict."""

from __future__ import annotations

from typing import Any

from actors.local_stack.stack import LocalStack
from adapters.sim.lag import ChannelRecord, measure, percentile
from engine.channel_sync import rules_for


def lag_records(stack: LocalStack) -> list[ChannelRecord]:
    """Every simulator's sales and received quantities, with its seeded listing and buffer rules."""
    out = []
    for cid, account in stack.accounts.items():
        rules = rules_for(account.channel)
        seeded = {
            sku: max(0, rules.listed(sku, q)) for sku, q in stack.initial.items() if sku in account.skus
        }
        failed = stack.shopper_loop.redelivered.get(cid, set()) if stack.shopper_loop else set()
        out.append(ChannelRecord.from_store(cid, account.store, seeded, rules.listed, failed))
    return out


def master_checks(stack: LocalStack, accepted_units: int) -> dict[str, Any]:
    """Conservation (initial - accepted = final, ``accepted_units`` from the decisions) and no negatives."""
    final = stack.master()
    initial_units, final_units = sum(stack.initial.values()), sum(final.values())
    lowest = min(final.values(), default=0)
    return {
        "initial_units": initial_units,
        "accepted_units": accepted_units,
        "final_units": final_units,
        "min_available": lowest,
        "conserved": initial_units - accepted_units == final_units,
        "never_negative": lowest >= 0,
    }


def run_report(stack: LocalStack, elapsed_s: float) -> dict[str, Any]:
    """Per channel: shoppers' orders offered, sold (accepted by the channel), refused by the channel,
    oversold, lag p50/p99/max to this channel, requests, SKU updates acked, 429s (or Shopify
    ``Throttled``) as seen by our actor and by the simulator, dead letters. Then master's checks and
    ``failures``: the names of the invariants that do not hold (empty when all do)."""
    lag = measure(lag_records(stack))
    stats = stack.channel_stats()
    channels: dict[str, Any] = {}
    accepted_units = 0
    undelivered = 0
    for cid, account in stack.accounts.items():
        store = account.store
        shoppers = account.simulator.shoppers
        with store.lock:
            rtt = sorted(o.answered_at - o.t for o in store.orders if o.delivered and o.answered_at)
            sold = len(store.orders)
            refused = len(store.refused)
            undelivered += sum(1 for o in store.orders if not o.delivered)
            for order in store.orders:
                for line in (order.decision or {}).get("lines", []):
                    accepted_units += int(line.get("accepted") or 0)
            sim_counters = dict(store.counters)
        s = stats[cid]
        channels[cid] = {
            "kind": account.kind,
            "orders_offered": shoppers.offered if shoppers else 0,
            "orders_accepted_by_channel": sold,
            "orders_refused_by_channel": refused,
            **{f"lag_{k}" if k.endswith("_s") else k: v for k, v in lag.summary(cid).items()},
            # sale -> the gateway's answer (master's durable decision): the lag's first leg
            "webhook_answer_p50_s": percentile(rtt, 50),
            "webhook_answer_p99_s": percentile(rtt, 99),
            "requests": s["requests"],
            "sku_updates_acked": s["acked"],
            "throttled_seen_by_actor": s["throttled"],
            "throttled_by_simulator": sim_counters.get("throttled", 0),
            "dead_letters": s["dead_letters"],
            "skipped_source": s["skipped_source"],
            # compare-and-set channels: pushes answered stale, re-reads, units folded, budget waits
            **{k: s.get(k, 0) for k in (
                "cas_stale", "rereads", "cas_folded_units", "heard_units", "unsure_units", "budget_waits"
            )},
        }
    checks = master_checks(stack, accepted_units)
    checks["undelivered_webhooks"] = undelivered
    failures = [name for name in ("conserved", "never_negative") if not checks[name]]
    failures += [f"{cid}: unreflected sales" for cid, c in channels.items() if c["unreflected"]]
    return {"elapsed_s": round(elapsed_s, 2), "channels": channels, "master": checks, "failures": failures}


def divergence_summary(diverged: dict[str, dict[str, tuple[int, int]]]) -> dict[str, dict[str, Any]]:
    """Per channel that differs from master: how many SKUs list more than they should (oversell
    risk), how many less, and a few examples ``sku: [listed, expected]``."""
    return {
        cid: {
            "skus": len(skus),
            "listed_above_master": sum(1 for listed, want in skus.values() if listed > want),
            "listed_below_master": sum(1 for listed, want in skus.values() if listed < want),
            "examples": {sku: list(pair) for sku, pair in list(skus.items())[:5]},
        }
        for cid, skus in diverged.items()
        if skus
    }
