"""What a sync polling every 60 s would have oversold in the sale a ``LocalStack`` just ran.

The sale's own attempts (every order each simulator sold or refused, at its time) go through the
polling model (``adapters.sim.polling``: master exact, listings pushed only at poll ticks, at the
channels' published limits) with the stack's initial stock, listed SKUs and channel limits. Where
the sale falls in the poll's cycle is luck, so the poll is run at ``phases`` evenly spaced first
ticks: mean, min and max. Oversold units are defined as in ``adapters.sim.lag`` for both.
"""

from __future__ import annotations

from typing import Any

from actors.local_stack.stack import LocalStack
from adapters.sim.polling import Arrival, PolledChannel, phases, push_limits, simulate, summary


def sale_attempts(stack: LocalStack) -> list[Arrival]:
    """Every attempt the shoppers made, sold or refused, seconds from the first one."""
    rows: list[tuple[float, str, str, int]] = []
    for cid, account in stack.accounts.items():
        store = account.store
        with store.lock:
            rows += [(o.t, cid, sku, q) for o in store.orders for sku, q in o.lines]
            rows += [(t, cid, sku, q) for t, sku, q in store.refused]
    start = min((r[0] for r in rows), default=0.0)
    return [Arrival(t - start, cid, sku, q) for t, cid, sku, q in sorted(rows)]


def poll_comparison(
    stack: LocalStack, skusync_oversold: int, period_s: float = 60.0, n: int = 12
) -> dict[str, Any]:
    """skusync's oversold units beside a ``period_s`` poll's on the same attempts (no buffers either)."""
    trace = sale_attempts(stack)
    channels = [
        PolledChannel(cid, push_limits(a.channel), frozenset(a.skus)) for cid, a in stack.accounts.items()
    ]
    runs = [simulate(trace, stack.initial, channels, period_s, phase) for phase in phases(period_s, n)]
    polled = summary(runs)
    return {
        "orders": len(trace),
        "skusync_oversold_units": skusync_oversold,
        "polling_period_s": period_s,
        "polling_oversold_units_mean": polled["oversold_units_mean"],
        "polling_oversold_units_min": polled["oversold_units_min"],
        "polling_oversold_units_max": polled["oversold_units_max"],
        "phases": n,
    }
