"""``skusync demo``: a flash sale on this machine, straight into the shard actors.

Several simulated channels sell from one master stock of 5,000 SKUs, most demand on a few hot
ones, at a fixed offered rate. The report checks what a seller cares about: every sale decided
once, none beyond the stock (accepted units = initial - final), nothing negative.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from actors.shard_client import ShardClient

CHANNELS = ("shop-us", "woo-eu", "amazon-us", "ebay-uk")


@dataclass
class DemoSettings:
    seconds: float = 10.0
    skus: int = 5000
    hot_skus: int = 5
    hot_share: float = 0.8
    orders_per_s: float = 1500.0
    tick_s: float = 0.05
    seed: int = 7


@dataclass
class ChannelTally:
    offered: int = 0
    units_offered: int = 0
    accepted_units: int = 0
    insufficient_orders: int = 0


@dataclass
class DemoReport:
    settings: dict[str, Any]
    channels: dict[str, ChannelTally] = field(default_factory=dict)
    decisions: int = 0
    elapsed_s: float = 0.0
    initial_units: int = 0
    final_units: int = 0
    min_available: int = 0
    conserved: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "channels": {c: vars(t) for c, t in self.channels.items()},
            "decisions": self.decisions,
            "decisions_per_s": round(self.decisions / self.elapsed_s, 1) if self.elapsed_s else 0,
            "elapsed_s": round(self.elapsed_s, 2),
            "initial_units": self.initial_units,
            "final_units": self.final_units,
            "accepted_units": sum(t.accepted_units for t in self.channels.values()),
            "min_available": self.min_available,
            "conserved": self.conserved,
        }


def seed_catalog(client: ShardClient, s: DemoSettings, rng: random.Random) -> dict[str, int]:
    """Give every SKU a starting count (hot SKUs get few units: that is what sells out)."""
    stock = {f"SKU-{i:05d}": (40 if i < s.hot_skus else rng.randint(5, 60)) for i in range(s.skus)}
    run = int(time.time())
    events = [
        {
            "kind": "stock_set",
            "key": f"demo-seed-{run}-{sku}",
            "sku": sku,
            "quantity": q,
            "reason": "demo seed",
            "at": 0.0,
        }
        for sku, q in stock.items()
    ]
    for i in range(0, len(events), 1000):
        client.submit(events[i : i + 1000])
    return stock


def _orders(s: DemoSettings, rng: random.Random, n: int, seq: int) -> list[dict[str, Any]]:
    out = []
    for k in range(n):
        hot = rng.random() < s.hot_share
        sku = f"SKU-{rng.randrange(s.hot_skus if hot else s.skus):05d}"
        channel = CHANNELS[rng.randrange(len(CHANNELS))]
        order_id = f"{seq + k}"
        out.append(
            {
                "kind": "order_placed",
                "key": f"{channel}:evt-{order_id}",
                "channel": channel,
                "order_id": order_id,
                "lines": [{"sku": sku, "quantity": rng.choice((1, 1, 1, 2))}],
                "at": time.time(),
            }
        )
    return out


def run_flash_sale(client: ShardClient, s: DemoSettings, console: Console | None = None) -> DemoReport:
    """Offer orders at ``orders_per_s`` for ``seconds`` (open loop, tick by tick) and tally the answers."""
    rng = random.Random(s.seed)
    report = DemoReport(settings=vars(s), channels={c: ChannelTally() for c in CHANNELS})
    stock = seed_catalog(client, s, rng)
    report.initial_units = sum(stock.values())
    seq = int(time.time() * 1000) * 1000
    t0 = time.monotonic()
    per_tick = s.orders_per_s * s.tick_s
    carry = 0.0
    with Progress(
        TextColumn("flash sale"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("sale", total=s.seconds, status="")
        while (now := time.monotonic() - t0) < s.seconds:
            carry += per_tick
            n, carry = int(carry), carry - int(carry)
            orders = _orders(s, rng, n, seq)
            seq += n
            decisions, _ = client.submit(orders) if orders else ([], {})
            _tally(report, orders, decisions)
            accepted = sum(t.accepted_units for t in report.channels.values())
            progress.update(
                task,
                completed=min(now, s.seconds),
                status=f"{report.decisions} orders decided, {accepted} units sold",
            )
            time.sleep(max(0.0, s.tick_s - (time.monotonic() - t0 - now)))
    report.elapsed_s = time.monotonic() - t0
    _check(client, report, stock)
    return report


def _tally(report: DemoReport, orders: list[dict[str, Any]], decisions: list[dict[str, Any]]) -> None:
    for order, decision in zip(orders, decisions, strict=True):
        tally = report.channels[order["channel"]]
        tally.offered += 1
        report.decisions += 1
        for line in decision["lines"]:
            tally.units_offered += line.get("requested") or 0
            tally.accepted_units += line.get("accepted") or 0
        if any(line["outcome"] == "insufficient" for line in decision["lines"]):
            tally.insufficient_orders += 1


def _check(client: ShardClient, report: DemoReport, stock: dict[str, int]) -> None:
    """Read master back from the shards: conservation and non-negativity."""
    finals = list(client.get_many(list(stock)).values())
    report.final_units = sum(f["available"] for f in finals if f)
    report.min_available = min(f["available"] for f in finals if f)
    accepted = sum(t.accepted_units for t in report.channels.values())
    report.conserved = report.initial_units - report.final_units == accepted and report.min_available >= 0
