"""Simulated shoppers: buy on a schedule while the listing covers it, then send the signed webhook."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from adapters.sim.webhook_sender import WebhookError, WebhookSender

if TYPE_CHECKING:
    from adapters.sim.core import SimOrder, SimulatedStore

SHORT_WAIT_S = 0.05
"""Gaps between orders shorter than this are slept through; ``stop`` is seen after them."""

WebhookRenderer = Callable[["SimOrder"], tuple[bytes, dict[str, str]]]
"""Turns an order into the marketplace's webhook: raw body and headers (signature included)."""


@dataclass
class ShopperConfig:
    """How shoppers behave; ``hot_share`` of orders go to ``hot_skus`` when there are any."""

    rate_per_s: float = 10.0
    hot_skus: Sequence[str] = ()
    hot_share: float = 0.8
    max_units: int = 1
    seed: int = 0
    gateway_url: str | None = None
    timeout_s: float = 5.0
    max_in_flight: int = 256
    drop_rate: float = 0.0
    """Share of accepted sales whose webhook is lost in transit (never sent; the order is marked
    ``delivered=False`` with error ``dropped``): what reconciliation's order backfill must repair."""


class SimulatedShoppers:
    """An open-loop stream of shoppers buying from one simulated marketplace.

    Orders leave on a Poisson schedule at ``rate_per_s``. Each picks a SKU (skewed toward the hot
    ones) and 1..``max_units`` units; the store sells only if its listed quantity covers the order,
    otherwise the sale is refused and counted, as a real marketplace refuses checkout. An accepted
    sale decrements the listing, is recorded, and its webhook (rendered and signed by the
    marketplace's ``render``) is POSTed to ``gateway_url`` without retries; the delivery's outcome
    (and the gateway's decision, when the answer carries one) is stored on the order
    (``delivered`` False when it failed, which is what reconciliation must repair).
    ``accepts(status)`` says which answers the marketplace counts as delivered.
    """

    def __init__(
        self,
        store: SimulatedStore,
        render: WebhookRenderer,
        config: ShopperConfig,
        accepts: Callable[[int], bool] = lambda status: 200 <= status < 300,
    ) -> None:
        self.store, self.render, self.config, self.accepts = store, render, config, accepts
        self.offered = 0
        self._rng = random.Random(config.seed)
        self._drop_rng = random.Random(config.seed + 7919)  # apart, so drops never change the picks
        self._stop = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None
        self._skus: list[str] = []
        self._hot: list[str] = []
        self._choices_at = -1

    def start(self, duration_s: float | None = None, max_orders: int | None = None) -> asyncio.Task[None]:
        """Run in the running loop until stopped, ``duration_s`` elapses or ``max_orders`` were offered."""
        self.task = asyncio.get_running_loop().create_task(self.run(duration_s, max_orders))
        return self.task

    async def stop(self) -> None:
        """Stop offering, wait for the webhooks already on their way, and return."""
        self._stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def run(self, duration_s: float | None = None, max_orders: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        start = next_t = loop.time()
        client = None if self.config.gateway_url is None else self._sender(self.config.gateway_url)
        try:
            while not self._stop.is_set() and (max_orders is None or self.offered < max_orders):
                next_t += self._rng.expovariate(self.config.rate_per_s)
                if duration_s is not None and next_t - start > duration_s:
                    break
                delay = next_t - loop.time()
                if delay > SHORT_WAIT_S:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                        break
                elif delay > 0:
                    await asyncio.sleep(delay)  # wait_for builds a task per call: too dear per order
                if self._stop.is_set():
                    break
                await self._offer(client)
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self.config.timeout_s + 1)
        finally:
            if client is not None:
                await client.aclose()

    def _sender(self, url: str) -> WebhookSender:
        # More in flight than connections just queue here; hundreds of connects at once overflow
        # the listener's accept queue and cost seconds in SYN retransmits.
        return WebhookSender(url, self.config.timeout_s, max_connections=min(self.config.max_in_flight, 64))

    def stats(self) -> dict[str, int | bool]:
        orders = self.store.orders
        return {
            "running": self.task is not None and not self.task.done(),
            "offered": self.offered,
            "accepted": len(orders),
            "refused": len(self.store.refused),
            "delivered": sum(1 for o in orders if o.delivered),
            "failed": sum(1 for o in orders if o.delivered is False),
        }

    def _pick(self) -> tuple[str, int] | None:
        skus, hot = self._choices()
        if not skus:
            return None
        pool = hot if hot and self._rng.random() < self.config.hot_share else skus
        return self._rng.choice(pool), self._rng.randint(1, max(1, self.config.max_units))

    def _choices(self) -> tuple[list[str], list[str]]:
        """Every listed SKU and the listed hot ones, rebuilt only when the catalog was re-seeded
        (copying 5,000 SKUs per order showed in the driver's profile)."""
        if self._choices_at != self.store.seeded:
            listed = self.store.listings
            self._skus = list(listed)
            self._hot = [s for s in self.config.hot_skus if s in listed]
            self._choices_at = self.store.seeded
        return self._skus, self._hot

    async def _offer(self, client: WebhookSender | None) -> None:
        pick = self._pick()
        if pick is None:
            return
        self.offered += 1
        order = self.store.try_sell([pick])
        if order is None:
            return
        if client is None:
            self.store.mark_delivery(order, False, None, "no gateway configured")
            return
        if self.config.drop_rate > 0 and self._drop_rng.random() < self.config.drop_rate:
            self.store.mark_delivery(order, False, None, "dropped")
            return
        # Backpressure: a slow gateway delays the schedule rather than growing tasks without bound.
        while len(self._in_flight) >= self.config.max_in_flight:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.get_running_loop().create_task(self._deliver(client, order))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, client: WebhookSender, order: SimOrder) -> None:
        body, headers = self.render(order)
        try:
            status, answer = await client.post(body, headers)
        except WebhookError as exc:
            self.store.mark_delivery(order, False, None, str(exc))
            return
        ok = self.accepts(status)
        decision = _decision(answer) if ok else None
        error = "" if ok else answer[:200].decode("utf-8", "replace")
        self.store.mark_delivery(order, ok, status, error, decision)


def _decision(answer: bytes) -> dict[str, Any] | None:
    """The gateway's decision for the delivered order (its answer's first), if the answer has one."""
    try:
        decisions = orjson.loads(answer).get("decisions")
    except (ValueError, AttributeError):
        return None
    first = decisions[0] if isinstance(decisions, list) and decisions else None
    return first if isinstance(first, dict) else None


async def deliver_once(
    store: SimulatedStore, render: WebhookRenderer, order: SimOrder, url: str, accepts: Callable[[int], bool]
) -> None:
    """Send one order's webhook now (used by the control surface's manual orders)."""
    shoppers = SimulatedShoppers(store, render, ShopperConfig(gateway_url=url), accepts)
    client = shoppers._sender(url)
    try:
        await shoppers._deliver(client, order)
    finally:
        await client.aclose()
