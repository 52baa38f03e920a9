"""What every marketplace simulator shares: listed stock, fault injection, throttling, loopback serving."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import uvicorn

from adapters.sim.shoppers import ShopperConfig, SimulatedShoppers

__all__ = [
    "Faults",
    "Listing",
    "ShopperConfig",
    "SimOrder",
    "SimulatedShoppers",
    "SimulatedStore",
    "TokenBucket",
    "serve_in_thread",
]


@dataclass
class Listing:
    """One SKU as the marketplace lists it: its quantity and the marketplace's own ids."""

    sku: str
    quantity: int
    ids: dict[str, Any]
    manage_stock: bool = True


@dataclass
class SimOrder:
    """A sale the marketplace accepted; ``delivered`` is None until its webhook has been attempted.

    ``decision`` is the gateway's answer for the order's event when the delivery returned one (its
    ``lines`` carry master's ``accepted`` units, ``available`` and ``version`` after the sale): what
    lag and oversell measurement (``adapters.sim.lag``) compare the channels against.
    ``answered_at`` is when the delivery ended (answer, error or timeout).
    """

    order_id: int
    t: float
    lines: list[tuple[str, int]]
    delivered: bool | None = None
    status: int | None = None
    error: str = ""
    decision: dict[str, Any] | None = None
    answered_at: float | None = None


class SimulatedStore:
    """The marketplace's side of the stock: listed quantities, what it received, what it sold.

    Every mutation takes one lock, so the server thread, the shoppers' task and a test thread reading
    a snapshot always see whole updates. Times are wall-clock (``time.time()``) so that lag can be
    measured against timestamps taken in other processes.

    ``received`` holds ``(t, sku, quantity)`` for every quantity a push set; ``orders`` every accepted
    sale (``SimOrder``, with its webhook outcome); ``refused`` ``(t, sku, quantity)`` for every sale
    refused because the listing did not cover it.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.listings: dict[str, Listing] = {}
        self.received: list[tuple[float, str, int]] = []
        self.orders: list[SimOrder] = []
        self.refused: list[tuple[float, str, int]] = []
        self.counters: dict[str, int] = {
            "requests": 0,
            "throttled": 0,
            "errors": 0,
            "timeouts": 0,
            "resets": 0,
        }
        self._next_order = 1001
        self.seeded = 0
        """Bumped by every ``seed``: lets shoppers cache the SKU list between catalog changes."""

    def seed(self, items: Iterable[Listing], reset: bool = True) -> None:
        """Replace (or, with ``reset=False``, upsert) listings without recording them as received."""
        with self.lock:
            if reset:
                self.listings.clear()
                self.received.clear()
                self.orders.clear()
                self.refused.clear()
                self.counters = dict.fromkeys(self.counters, 0)
            for item in items:
                self.listings[item.sku] = item
            self.seeded += 1

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def set_quantities(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Apply pushed absolute quantities (known SKUs only) and record each arrival."""
        now = self.clock()
        with self.lock:
            for sku, qty in pairs:
                self.listings[sku].quantity = qty
                self.received.append((now, sku, qty))

    def try_sell(self, lines: list[tuple[str, int]]) -> SimOrder | None:
        """Sell every line or none: refused (and recorded) when any listing does not cover its line."""
        now = self.clock()
        wanted: dict[str, int] = {}
        for sku, q in lines:
            wanted[sku] = wanted.get(sku, 0) + q
        with self.lock:
            if not all(
                sku in self.listings and self.listings[sku].quantity >= q for sku, q in wanted.items()
            ):
                self.refused.extend((now, sku, q) for sku, q in lines)
                return None
            for sku, q in lines:
                self.listings[sku].quantity -= q
            order = SimOrder(self._next_order, now, list(lines))
            self._next_order += 1
            self.orders.append(order)
            return order

    def mark_delivery(
        self,
        order: SimOrder,
        ok: bool,
        status: int | None,
        error: str = "",
        decision: dict[str, Any] | None = None,
    ) -> None:
        now = self.clock()
        with self.lock:
            order.delivered, order.status, order.error = ok, status, error
            order.decision, order.answered_at = decision, now

    def snapshot(self, lists: bool = True) -> dict[str, Any]:
        """JSON-ready state; ``lists=False`` leaves out the (possibly long) event lists."""
        with self.lock:
            out: dict[str, Any] = {
                "listed": {s: item.quantity for s, item in self.listings.items()},
                "ids": {s: item.ids for s, item in self.listings.items()},
                "counters": dict(self.counters),
                "sold": sum(q for o in self.orders for _, q in o.lines),
                "sales_count": len(self.orders),
                "refused_count": len(self.refused),
                "undelivered": [o.order_id for o in self.orders if o.delivered is False],
            }
            if lists:
                out["received"] = [list(r) for r in self.received]
                out["sales"] = [asdict(o) for o in self.orders]
                out["refused"] = [list(r) for r in self.refused]
            return out


@dataclass
class Faults:
    """Injected failures on a simulator's marketplace routes (never on ``/_sim/``).

    ``error_rate``: answer 500 without applying. ``timeout_rate``: hold the request ``timeout_hold_s``
    without applying, then drop the connection. ``reset_after_apply_rate``: apply, then drop the
    connection without an answer (the client cannot know the write landed). ``latency_s`` delays
    every request. Draws come from a generator seeded with ``seed``, so a run is reproducible.
    """

    error_rate: float = 0.0
    latency_s: float = 0.0
    timeout_rate: float = 0.0
    reset_after_apply_rate: float = 0.0
    seed: int = 0
    timeout_hold_s: float = 10.0
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def public(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    async def draw(self) -> str | None:
        """Wait the configured latency, then pick ``"error"``, ``"timeout"``, ``"reset"`` or None."""
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        r = self._rng.random()
        for name, rate in (
            ("error", self.error_rate),
            ("timeout", self.timeout_rate),
            ("reset", self.reset_after_apply_rate),
        ):
            if r < rate:
                return name
            r -= rate
        return None


class TokenBucket:
    """A leaky bucket in the marketplace's own units: ``capacity`` full, refilled at ``rate`` per second."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity, self.rate, self.clock = capacity, rate, clock
        self._level, self._t = capacity, clock()

    def available(self) -> float:
        now = self.clock()
        self._level = min(self.capacity, self._level + (now - self._t) * self.rate)
        self._t = now
        return self._level

    def take(self, cost: float) -> bool:
        """Take ``cost`` if it is there; nothing is taken when it is not."""
        if self.available() < cost:
            return False
        self._level -= cost
        return True

    def refund(self, amount: float) -> None:
        self._level = min(self.capacity, self.available() + amount)

    def wait_for(self, cost: float) -> float:
        """Seconds until ``cost`` will be available."""
        return max(0.0, cost - self.available()) / self.rate

    @classmethod
    def spent(cls, rate: float) -> TokenBucket:
        """A bucket of one unit, empty now, refilling at ``rate``: an account whose budget other
        apps used up (the conformance drivers' throttle storm)."""
        bucket = cls(1.0, rate)
        bucket.take(bucket.available())
        return bucket


def listings_from(
    items: Iterable[Mapping[str, Any]], assign: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> list[Listing]:
    """Seed items ``{"sku", "quantity", "ids"?, ...}`` into listings, ``assign`` filling missing ids."""
    out = []
    for item in items:
        sku, qty = item.get("sku"), item.get("quantity", 0)
        if not isinstance(sku, str) or not sku or not isinstance(qty, int) or isinstance(qty, bool):
            raise ValueError(f"bad seed item {item!r}: needs a non-empty 'sku' and an integer 'quantity'")
        out.append(Listing(sku, qty, dict(item.get("ids") or assign(item))))
    return out


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` with uvicorn on a background thread; return its base URL and a ``stop()``.

    The socket is bound here, so ``port=0`` yields a free port that is known before the first request.
    ``stop()`` asks the server to exit, gives open requests one second, and joins the thread.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    # h11 is pinned because reset-after-apply relies on its request cycle exposing the transport.
    config = uvicorn.Config(
        app, log_level="warning", http="h11", lifespan="off", timeout_graceful_shutdown=1, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"sim-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"simulator on {host}:{bound} did not start")
        time.sleep(0.005)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()

    return f"http://{host}:{bound}", stop
