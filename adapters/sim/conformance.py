"""What a marketplace kind gives the conformance suite (``tests/conformance/``): a driver of its simulator.

The suite is one set of tests run against every kind; it never names a kind. A kind joins it by adding
``adapters/<kind>/sim/conformance.py`` defining ``DRIVER``: a callable (usually the driver class)
returning a fresh, unstarted ``ConformanceDriver``. ``kinds()`` lists those files, ``driver(kind)``
makes one. Nothing else in the tree changes.

A driver owns one strict simulator of its kind (served on loopback by ``start``) and speaks for it:

- **Channel tables.** ``channel(id)`` is the ``[[channels]]`` table of a channel of this kind whose
  every URL points at the simulator (credentials and ``webhook_secret`` included; before ``start``
  only the webhook side of the table is meaningful). ``paging(n)`` and ``batching(n)`` are the kind's
  keys that make reads use pages of ``n`` and cap a push request at ``n`` items.
- **Published limits.** ``batch_limit``: items a push request may carry on the real marketplace (the
  simulator refuses more); ``published_rate``: (units per second, burst) in the kind's cost units, which
  the outbound adapter's ``default_rate`` must not exceed, or None where the platform publishes none.
  Name the sources in the driver's docstring.
- **Orders.** ``seed`` lists SKUs; ``sale`` places a paid order on the marketplace (its stock leaves
  the listing as the marketplace takes it) and returns the order's reference and the notifications
  the marketplace would send for it, unsent: the suite posts them, twice, tampered, or never (a
  dropped notification, which backfill must find). ``edit`` (lower a line, restocking the removed
  units), ``refund`` and ``cancel`` act like a merchant and return that action's notifications.
  Deliveries must be signed exactly as the marketplace signs them.
- **Tampering.** ``tamper(delivery, how)`` for each ``TAMPERINGS`` entry: another key, an altered
  body, no signature header, a signed timestamp out of tolerance.
- **Observation and control.** ``listed`` (SKU -> quantity listed now), ``pushes`` (items per push
  request that reached the simulator, in arrival order), ``requests`` (marketplace API requests
  served), ``throttled`` (requests refused as over the rate); ``enforce_rate`` (the simulator
  enforces this budget from now, bucket full) and ``throttle`` (a storm: the account's budget is
  spent and refills slowly, so requests are throttled; ``throttle(False)`` ends it).

Where a kind lacks a feature (no order edits, a signature without a timestamp...), the method raises
``Unsupported`` with the reason, and the suite skips that check visibly, naming the reason.
``RequestLog`` (an ASGI wrapper recording every marketplace request's body) and ``alter`` are here for
drivers to share.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from adapters.sim.core import serve_in_thread

TAMPERINGS = ("wrong_key", "altered_body", "missing_header", "stale_timestamp")
"""Ways a delivery is made invalid: signed with another key; one byte of the body changed after
signing; the signature header removed; (kinds that sign a timestamp) signed at a time outside the
tolerance the kind allows."""


class Unsupported(Exception):
    """The kind has no such event or feature; the message says why (the suite shows it as a skip)."""


@dataclass(frozen=True)
class Delivery:
    """One notification as the marketplace would POST it to the gateway: raw body and headers."""

    body: bytes
    headers: Mapping[str, str]
    what: str = ""
    """A label for messages (the topic)."""


class ConformanceDriver(Protocol):
    """A kind's simulator as the conformance suite drives it (see the module docstring)."""

    kind: str
    batch_limit: int
    published_rate: tuple[float, float] | None

    def start(self) -> str:
        """Serve the simulator on a free loopback port; its base URL."""
        ...

    def stop(self) -> None: ...

    def channel(self, channel_id: str) -> dict[str, Any]: ...

    def paging(self, page_size: int) -> dict[str, Any]: ...

    def batching(self, items: int) -> dict[str, Any]: ...

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """List these SKUs (added to what is listed). ``varied``: use every listing shape the kind
        has (variations, several locations...), as the catalog and read tests want."""
        ...

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]: ...

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]: ...

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]: ...

    def cancel(self, order: str, restock: bool) -> list[Delivery]: ...

    def tamper(self, delivery: Delivery, how: str) -> Delivery: ...

    def listed(self) -> dict[str, int]: ...

    def pushes(self) -> list[int]: ...

    def requests(self) -> int: ...

    def throttled(self) -> int: ...

    def enforce_rate(self, per_second: float, burst: float) -> None: ...

    def throttle(self, storm: bool) -> None: ...


class ServedDriver:
    """What most drivers share: their simulator's app served on a thread behind a ``RequestLog``,
    and page sizes through the usual keys. A driver sets ``log`` in ``__init__``."""

    log: RequestLog
    url: str = ""
    _stop: Callable[[], None] | None = None

    def start(self) -> str:
        self.url, self._stop = serve_in_thread(self.log)
        return self.url

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    def paging(self, page_size: int) -> dict[str, Any]:
        return {"catalog_page_size": page_size, "reconcile_page_size": page_size}


def kinds() -> list[str]:
    """Every kind with a conformance driver: the ``adapters/<kind>/sim/conformance.py`` files."""
    root = Path(__file__).resolve().parents[1]
    return sorted(p.parents[1].name for p in root.glob("*/sim/conformance.py"))


def driver(kind: str) -> ConformanceDriver:
    """A fresh, unstarted driver of ``kind``."""
    module = importlib.import_module(f"adapters.{kind}.sim.conformance")
    made: ConformanceDriver = module.DRIVER()
    return made


def alter(body: bytes) -> bytes:
    """``body`` with its first digit changed: still the same JSON shape, no longer what was signed."""
    for i, byte in enumerate(body):
        if 0x30 <= byte <= 0x39:
            return body[:i] + bytes([0x30 + (byte - 0x30 + 1) % 10]) + body[i + 1 :]
    return body + b" "


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Request:
    """One marketplace API request as it reached the simulator."""

    t: float
    method: str
    path: str
    body: bytes


@dataclass
class RequestLog:
    """Outermost ASGI layer recording every request outside ``/_sim/``, body included, then passing
    it on unchanged (the server's own ``send`` too, so simulated connection resets still work)."""

    app: Any
    seen: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or str(scope.get("path", "")).startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message.get("type") != "http.request":
                break
            chunks.append(bytes(message.get("body", b"")))
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        with self.lock:
            self.seen.append(Request(time.time(), str(scope["method"]), str(scope["path"]), body))
        replayed = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def requests(self) -> list[Request]:
        with self.lock:
            return list(self.seen)


class HasApp(Protocol):
    app: Any


S = TypeVar("S", bound=HasApp)


class SharedServed(Generic[S]):
    """One simulator per process, served on loopback (behind a ``RequestLog``) from the first call.

    For kinds whose gateway calls the marketplace while it decodes (order fetches, signing keys):
    the gateway of the conformance suite lives for the whole package, so every test's driver must
    speak for the simulator that gateway's channel already points at.
    """

    def __init__(self, make: Callable[[], S]) -> None:
        self._make, self._lock = make, threading.Lock()
        self._served: tuple[S, RequestLog, str, Callable[[], None]] | None = None

    def get(self) -> tuple[S, RequestLog, str]:
        """The simulator, its request log and its base URL."""
        with self._lock:
            if self._served is None:
                sim = self._make()
                log = RequestLog(sim.app)
                url, stop = serve_in_thread(log)
                self._served = (sim, log, url, stop)
            return self._served[0], self._served[1], self._served[2]
