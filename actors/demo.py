"""``skusync demo``: a flash sale through the whole pipeline on this machine, with a per-channel report.

Simulated stores of any mix of kinds (by default two Shopify, one WooCommerce, one Amazon and one eBay
account) sell from one master stock of 5,000 SKUs, most demand on a few hot ones that sell out.
Every sale goes the real way: the store's signed webhook to the gateway,
the shards' decision, the fan-out to the channel actors, the rate-limited pushes to the other
stores. The report says, per channel, what was offered, sold, refused, oversold (sold by the channel
after master ran out), how long the other stores took to learn of each sale (``adapters.sim.lag``),
and what the channel's API refused us (429s) or we gave up on (dead letters); then the master
invariants: initial - accepted = final, nothing negative, and every store converged; and what a sync
polling every 60 s would have oversold in this very sale (``actors.local_stack.polling``).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from actors.local_stack import LocalStack, StackSpec
from actors.local_stack.polling import poll_comparison
from actors.local_stack.report import divergence_summary, run_report

STABLE_S = 3.0
"""Idle channels with unchanged differences for this long will not converge by themselves."""
DEFAULT_CHANNELS = {"shopify": 2, "woocommerce": 1, "amazon": 1, "ebay": 1}
"""Accounts per kind of the default demo (``skusync demo --channels`` changes it)."""
MARKETPLACE_SKUS = {"amazon": 50, "ebay": 50}
"""SKUs listed on the marketplaces whose published limits cannot follow a 5,000-SKU flash sale in
seconds (the first ones, the hot SKUs included): Amazon patches one SKU a request at 5 requests/s,
eBay one SKU a call at about 23 calls/s, and the gateway learns each eBay listing's SKU with one
``getOrder`` from a Fulfillment quota of about 1.2 calls/s (a burst of about 70). Their lag is
still measured at those published limits; only how many SKUs they carry is smaller."""


@dataclass
class DemoSettings:
    """The flash sale: ``orders_per_s`` offered in total, split evenly across the stores."""

    seconds: float = 10.0
    skus: int = 5000
    hot_skus: int = 5
    hot_quantity: int = 30
    hot_share: float = 0.6
    orders_per_s: float = 150.0
    channels: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    marketplace_skus: dict[str, int] = field(default_factory=lambda: dict(MARKETPLACE_SKUS))
    settle_timeout_s: float = 20.0
    seed: int = 7
    redis_url: str | None = None
    ray_address: str | None = None

    def spec(self) -> StackSpec:
        rng = random.Random(self.seed)
        normal = [rng.randint(5, 60) for _ in range(self.skus)]
        stores = sum(self.channels.values())
        return StackSpec(
            skus=self.skus,
            initial_quantity=lambda i: self.hot_quantity if i < self.hot_skus else normal[i],
            accounts=self.channels,
            listed_skus=self.marketplace_skus,
            hot_skus=self.hot_skus,
            redis_url=self.redis_url,
            ray_address=self.ray_address,
            shopper_rate_per_s=self.orders_per_s / stores,
            shopper_options={"hot_share": self.hot_share, "max_units": 1},
        )


def run_demo(settings: DemoSettings, console: Console) -> dict[str, Any]:
    """Start the stack, run the sale with live progress, let the stores converge, report."""
    stores = " + ".join(f"{n} {kind}" for kind, n in settings.channels.items() if n)
    listed = ", ".join(
        f"{n} on {kind}" for kind, n in settings.marketplace_skus.items() if settings.channels.get(kind)
    )
    console.print(
        f"starting: {settings.skus} SKUs{f' ({listed})' if listed else ''}, {stores} simulated stores, "
        "shards, channel actors, gateway..."
    )
    started = time.monotonic()
    with LocalStack(settings.spec()) as stack:
        console.print(f"up in {time.monotonic() - started:.1f} s; gateway {stack.gateway_url}")
        t0 = time.monotonic()
        stack.start_shoppers(duration_s=settings.seconds)
        with Live(_progress(stack, 0.0, "selling"), console=console, refresh_per_second=4) as live:
            while not stack.wait_shoppers(timeout_s=0.25):
                live.update(_progress(stack, time.monotonic() - t0, "selling"))
            redelivered = stack.redeliver()
            diverged = stack.settle(
                settings.settle_timeout_s,
                STABLE_S,
                lambda: live.update(_progress(stack, time.monotonic() - t0, "settling")),
            )
            live.update(_progress(stack, time.monotonic() - t0, "done"))
        report = run_report(stack, time.monotonic() - t0)
        oversold = sum(c["oversold_units"] for c in report["channels"].values())
        report["versus_polling"] = poll_comparison(stack, oversold)
    report["settings"] = {k: v for k, v in vars(settings).items() if k not in ("redis_url", "ray_address")}
    report["converged"] = not diverged
    report["diverged"] = divergence_summary(diverged)
    report["master"]["redelivered_webhooks"] = redelivered
    for cid, skus in diverged.items():
        if skus:
            report["failures"].append(
                f"{cid}: {len(skus)} SKUs listed differently from master after settling"
            )
    decided = sum(c["orders_accepted_by_channel"] for c in report["channels"].values())
    report["orders_decided_per_s"] = round(decided / max(settings.seconds, 1e-9), 1)
    report["total_s"] = round(time.monotonic() - started, 1)
    return report


def _progress(stack: LocalStack, elapsed: float, phase: str) -> Table:
    table = Table(title=f"flash sale: {phase}, {elapsed:.1f} s")
    for column in ("store", "offered", "sold", "refused", "quantities received"):
        table.add_column(column, justify="right")
    for cid, account in stack.accounts.items():
        store, shoppers = account.store, account.simulator.shoppers
        with store.lock:
            row = (len(store.orders), len(store.refused), len(store.received))
        table.add_row(cid, str(shoppers.offered if shoppers else 0), *map(str, row))
    return table


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_report(report: dict[str, Any], console: Console) -> None:
    """The per-channel table and the invariants, for a person."""
    table = Table(title="per channel (lag in seconds, sale to every other store)")
    columns = {
        "offered": "orders_offered",
        "sold": "orders_accepted_by_channel",
        "refused": "orders_refused_by_channel",
        "oversold": "oversold",
        "lag p50": "lag_p50_s",
        "lag p99": "lag_p99_s",
        "reqs": "requests",
        "429s": "throttled_seen_by_actor",
        "DLQ": "dead_letters",
    }
    table.add_column("channel")
    for name in columns:
        table.add_column(name, justify="right")
    for cid, c in report["channels"].items():
        table.add_row(cid, *(_cell(c[key]) for key in columns.values()))
    console.print(table)
    m = report["master"]
    console.print(
        f"master: {m['initial_units']} initial - {m['accepted_units']} accepted = {m['final_units']} final "
        f"({'conserved' if m['conserved'] else 'NOT CONSERVED'}); lowest available {m['min_available']}; "
        f"converged: {report['converged']}; total {report['total_s']} s"
    )
    v = report.get("versus_polling")
    if v:
        console.print(
            f"oversold units: skusync [bold]{v['skusync_oversold_units']}[/bold]; a sync polling every "
            f"{v['polling_period_s']:g} s, simulated on this sale's {v['orders']} orders at the same limits: "
            f"[bold]{v['polling_oversold_units_mean']}[/bold] (min {v['polling_oversold_units_min']}, max "
            f"{v['polling_oversold_units_max']} over {v['phases']} poll phases)"
        )
    for failure in report["failures"]:
        console.print(f"[red]invariant failed:[/red] {failure}")
