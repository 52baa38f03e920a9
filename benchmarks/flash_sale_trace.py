"""The flash sale's order stream: a seeded, open-loop trace with a ramp, and the shoppers that replay it.

``ramp_trace`` draws every attempt up front (time, channel, SKU, units), so the very same stream goes
through skusync in real time (``TraceShoppers`` on a ``LocalStack``), through the polling model in
simulated time (``adapters.sim.polling``) and through the PostgreSQL decision path
(``benchmarks.flash_sale_pg``). Arrivals are a Poisson process whose rate follows ``Ramp``: ``base``
orders/s, then a straight climb to ``factor`` times that within ``ramp_s``, held for ``peak_s``, then
back to the base rate; drawn by thinning, one independent stream per channel (rate split evenly).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.sim.polling import Arrival
from adapters.sim.shoppers import ShopperConfig, SimulatedShoppers


@dataclass(frozen=True)
class Ramp:
    base_per_s: float = 40.0
    factor: float = 10.0
    warm_s: float = 5.0
    ramp_s: float = 1.0
    peak_s: float = 12.0
    tail_s: float = 5.0

    @property
    def duration_s(self) -> float:
        return self.warm_s + self.ramp_s + self.peak_s + self.tail_s

    @property
    def peak_window(self) -> tuple[float, float]:
        start = self.warm_s + self.ramp_s
        return start, start + self.peak_s

    def rate(self, t: float) -> float:
        """Orders/s offered in total at ``t`` seconds into the sale."""
        if t < self.warm_s:
            return self.base_per_s
        if t < self.warm_s + self.ramp_s:
            return self.base_per_s * (1 + (self.factor - 1) * (t - self.warm_s) / self.ramp_s)
        if t < self.peak_window[1]:
            return self.base_per_s * self.factor
        return self.base_per_s


def ramp_trace(
    ramp: Ramp,
    listed: Mapping[str, Sequence[str]],
    hot: Sequence[str],
    hot_share: float,
    max_units: int = 1,
    seed: int = 1,
) -> list[Arrival]:
    """Every attempt of the sale, sorted by time. ``listed``: the SKUs each channel lists (shoppers only
    see those); ``hot_share`` of a channel's attempts go to the hot SKUs it lists."""
    peak = ramp.base_per_s * ramp.factor / max(1, len(listed))
    out: list[Arrival] = []
    for n, (cid, skus) in enumerate(listed.items()):
        rng = random.Random(seed * 1_000_003 + n)
        hot_here = [s for s in hot if s in set(skus)]
        t = 0.0
        while True:
            t += rng.expovariate(peak)
            if t >= ramp.duration_s:
                break
            if rng.random() * peak > ramp.rate(t) / len(listed):
                continue  # thinning: keep with probability rate(t) / peak
            pool = hot_here if hot_here and rng.random() < hot_share else skus
            out.append(Arrival(round(t, 6), cid, rng.choice(pool), rng.randint(1, max_units)))
    out.sort(key=lambda a: (a.t, a.channel))
    return out


def peak_unit_rate(trace: Sequence[Arrival], ramp: Ramp) -> dict[str, float]:
    """Units/s offered per SKU during the peak, over every channel (what a buffer must cover)."""
    lo, hi = ramp.peak_window
    units: dict[str, int] = {}
    for a in trace:
        if lo <= a.t < hi:
            units[a.sku] = units.get(a.sku, 0) + a.units
    return {sku: u / ramp.peak_s for sku, u in units.items()}


class TraceShoppers(SimulatedShoppers):
    """Shoppers of one simulator that replay ``arrivals`` (this channel's) at their times instead of
    drawing their own: the same buy-if-listed, signed-webhook path as ``SimulatedShoppers``."""

    def __init__(self, host: Any, config: ShopperConfig, arrivals: Sequence[Arrival]) -> None:
        super().__init__(host.store, host.render_webhook, config, host.accepts)
        self.arrivals = list(arrivals)
        self._current: Arrival | None = None
        self.late_s = 0.0
        """How far behind its schedule the replay fell at worst (back-pressure or a busy machine)."""

    def _pick(self) -> tuple[str, int] | None:
        a = self._current
        return None if a is None else (a.sku, a.units)

    async def run(self, duration_s: float | None = None, max_orders: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert self.config.gateway_url is not None
        client = self._sender(self.config.gateway_url)
        try:
            for a in self.arrivals:
                if self._stop.is_set():
                    break
                delay = start + a.t - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    self.late_s = max(self.late_s, -delay)
                self._current = a
                await self._offer(client)
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self.config.timeout_s + 1)
        finally:
            await client.aclose()


def start_trace(stack: Any, trace: Sequence[Arrival], max_in_flight: int = 512) -> dict[str, TraceShoppers]:
    """Replay ``trace`` on every simulator of ``stack`` (a started ``LocalStack``), on its shopper loop,
    so ``stack.wait_shoppers``, ``redeliver`` and the run report see these shoppers as their own."""
    loop = stack.shopper_loop
    by_channel: dict[str, list[Arrival]] = {cid: [] for cid in stack.accounts}
    for a in trace:
        by_channel[a.channel].append(a)

    async def begin() -> dict[str, TraceShoppers]:
        made = {}
        for cid, account in stack.accounts.items():
            config = ShopperConfig(gateway_url=stack.webhook_url(cid), max_in_flight=max_in_flight)
            shoppers = TraceShoppers(account.simulator, config, by_channel[cid])
            account.simulator.shoppers = loop.shoppers[cid] = made[cid] = shoppers
            shoppers.start()
        return made

    started: dict[str, TraceShoppers] = asyncio.run_coroutine_threadsafe(begin(), loop.loop).result()
    return started
