"""Simulated shoppers and a merchant acting on a ``WooCommerceSimulator``: the order flows core supports.

Each step changes the simulated store as core would (``sim.orders``: the stock moves with the status
hooks and refunds) and sends the webhook core fires for it, rendered when sent, signed, to
``gateway_url``:

- ``paid``: checkout (pending, ``order.created``), then payment (processing, ``order.updated``);
- ``failed_then_paid``: checkout, the payment fails (failed), the customer pays later (processing);
- ``abandoned``: checkout, then cancelled unpaid (``wc_cancel_unpaid_orders``): nothing ever reduced;
- ``cancelled``: paid, then cancelled by the merchant (stock comes back);
- ``back_to_pending``: paid, then set back to pending (stock comes back);
- ``refund_restock``: paid, then one unit refunded with "restock refunded items" (no status change);
- ``refund_no_restock``: paid, then one unit refunded without restocking (nothing comes back);
- ``refunded``: paid, then refunded whole without restocking (status refunded, nothing comes back).

Checkout refuses a SKU whose stock does not cover the units (``WC_Cart::check_cart_items``); payment
later reduces whatever the stock is then, below zero included (``wc_reduce_stock_levels`` does not
check). WooCommerce dates have one-second resolution, so the steps of one order are ``step_gap_s``
apart (default 1.05 s); with a simulator clock that steps on every call (tests) the gap can be 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.sim.webhook_sender import WebhookSender

if TYPE_CHECKING:
    from adapters.woocommerce.sim.app import WooCommerceSimulator

FLOWS = (
    "paid",
    "failed_then_paid",
    "abandoned",
    "cancelled",
    "back_to_pending",
    "refund_restock",
    "refund_no_restock",
    "refunded",
)


@dataclass
class FlowConfig:
    gateway_url: str
    rate_per_s: float = 2.0
    flows: Sequence[str] = FLOWS
    max_units: int = 2
    seed: int = 0
    step_gap_s: float = 1.05
    timeout_s: float = 5.0


@dataclass
class FlowStats:
    started: int = 0
    finished: int = 0
    refused: int = 0
    by_flow: dict[str, int] = field(default_factory=dict)
    orders: list[tuple[str, int]] = field(default_factory=list)
    """(flow, order id) of every flow that got past checkout."""


class WooFlows:
    """Runs ``config.flows`` against one simulator, on the running event loop."""

    def __init__(
        self,
        sim: WooCommerceSimulator,
        config: FlowConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        unknown = [f for f in config.flows if f not in FLOWS]
        if unknown:
            raise ValueError(f"unknown flows {unknown} (known: {', '.join(FLOWS)})")
        self.sim, self.config, self._sleep = sim, config, sleep
        self.stats = FlowStats()
        self._rng = random.Random(config.seed)
        self._sender: WebhookSender | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.task: asyncio.Task[None] | None = None

    @property
    def sender(self) -> WebhookSender:
        if self._sender is None:
            self._sender = WebhookSender(self.config.gateway_url, self.config.timeout_s)
        return self._sender

    def start(self, duration_s: float | None = None, max_flows: int | None = None) -> asyncio.Task[None]:
        self.task = asyncio.get_running_loop().create_task(self.run(duration_s, max_flows))
        return self.task

    async def stop(self) -> None:
        """Stop starting flows and wait for those under way."""
        self._stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def run(self, duration_s: float | None = None, max_flows: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        start = next_t = loop.time()
        launched = 0
        try:
            while not self._stop.is_set() and (max_flows is None or launched < max_flows):
                next_t += self._rng.expovariate(self.config.rate_per_s)
                if duration_s is not None and next_t - start > duration_s:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), max(0.0, next_t - loop.time()))
                    break
                launched += 1  # an offer, taken or not
                pick = self._pick()
                if pick is None:
                    self.stats.refused += 1
                    continue
                task = loop.create_task(self.run_flow(*pick))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.aclose()
            self._sender = None

    def _pick(self) -> tuple[str, str, int] | None:
        with self.sim.store.lock:
            skus = [
                s for s, item in self.sim.store.listings.items() if item.manage_stock and item.quantity > 0
            ]
        if not skus:
            return None
        flow = self._rng.choice(list(self.config.flows))
        return flow, self._rng.choice(skus), self._rng.randint(1, max(1, self.config.max_units))

    async def run_flow(self, flow: str, sku: str, units: int) -> int | None:
        """One flow on a fresh order of ``units`` of ``sku``; its order id (None: checkout refused)."""
        self.stats.started += 1
        self.stats.by_flow[flow] = self.stats.by_flow.get(flow, 0) + 1
        with self.sim.store.lock:
            listing = self.sim.store.listings.get(sku)
            covered = listing is not None and listing.quantity >= units
        if not covered:
            self.stats.refused += 1
            return None
        book = self.sim.book
        order = book.create([(sku, units)])
        self.stats.orders.append((flow, order.order_id))
        oid = order.order_id
        await self._send(oid, "order.created")
        if flow == "abandoned":
            await self._step(lambda: book.set_status(oid, "cancelled"), oid)
        elif flow == "failed_then_paid":
            await self._step(lambda: book.set_status(oid, "failed"), oid)
            await self._step(lambda: book.pay(oid), oid)
        else:
            await self._step(lambda: book.pay(oid), oid)
        item = order.items[0].item_id
        if flow == "cancelled":
            await self._step(lambda: book.set_status(oid, "cancelled"), oid)
        elif flow == "back_to_pending":
            await self._step(lambda: book.set_status(oid, "pending"), oid)
        elif flow in ("refund_restock", "refund_no_restock"):
            restock = flow == "refund_restock"
            await self._step(lambda: book.refund(oid, {item: 1}, restock=restock), oid)
        elif flow == "refunded":
            await self._step(lambda: book.refund(oid, {item: units}, restock=False), oid)
        self.stats.finished += 1
        return oid

    async def _step(self, change: Callable[[], Any], order_id: int) -> None:
        if self.config.step_gap_s > 0:
            await self._sleep(self.config.step_gap_s)
        change()
        await self._send(order_id, "order.updated")

    async def _send(self, order_id: int, topic: str) -> None:
        await self.sim.deliver(order_id, topic, self.sender)
