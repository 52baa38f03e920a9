"""Simulated shoppers of every simulator on one event loop thread, pointed at the gateway."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from adapters.sim.shoppers import ShopperConfig, SimulatedShoppers, deliver_once


class ShopperLoop:
    """One asyncio loop on a daemon thread that runs the shoppers of several simulators.

    The simulators' own server threads keep answering the channels meanwhile; shoppers touch a
    simulator only through its ``SimulatedStore``, whose lock makes that safe across threads.
    ``close()`` stops any shoppers still running and joins the thread.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="sim-shoppers", daemon=True)
        self._thread.start()
        self.shoppers: dict[str, SimulatedShoppers] = {}
        self.redelivered: dict[str, set[int]] = {}
        """Order ids per channel whose first delivery failed and ``redeliver`` sent again."""

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def start(
        self,
        hosts: Mapping[str, Any],
        config: Mapping[str, ShopperConfig],
        duration_s: float | None = None,
        max_orders: int | None = None,
    ) -> None:
        """Start shoppers on every host (a simulator, by channel id) with that id's ``config``.

        Each host's ``shoppers`` attribute is set too, so its ``/_sim/state`` reports them.
        """

        async def begin() -> None:
            for cid, host in hosts.items():
                shoppers = SimulatedShoppers(host.store, host.render_webhook, config[cid], host.accepts)
                host.shoppers = self.shoppers[cid] = shoppers
                shoppers.start(duration_s, max_orders)

        self._call(begin())

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until every shopper run has ended (its duration or order count reached); True if so."""

        async def done() -> None:
            tasks = [s.task for s in self.shoppers.values() if s.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=timeout_s)

        self._call(done())
        return not any(s.stats()["running"] for s in self.shoppers.values())

    def redeliver(self, hosts: Mapping[str, Any], urls: Mapping[str, str]) -> int:
        """Send again every order whose webhook was not delivered (as the marketplace's own retry would);
        returns how many were sent. A re-sent order the gateway already decided gets that decision back
        (``duplicate_order`` replays the first decision's lines)."""

        async def resend() -> int:
            sent = 0
            for cid, host in hosts.items():
                with host.store.lock:
                    failed = [o for o in host.store.orders if not o.delivered]
                for order in failed:
                    self.redelivered.setdefault(cid, set()).add(order.order_id)
                    await deliver_once(host.store, host.render_webhook, order, urls[cid], host.accepts)
                    sent += 1
            return sent

        result: int = self._call(resend())
        return result

    def stop(self) -> None:
        """Stop offering and wait for the webhooks already sent."""

        async def end() -> None:
            await asyncio.gather(*(s.stop() for s in self.shoppers.values()))

        self._call(end())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
