"""What every marketplace kind provides: the inbound and outbound halves and how they are found.

A kind lives in ``adapters/<kind>/`` and exposes module-level ``INBOUND`` (an ``InboundAdapter``)
and, once it can push, ``OUTBOUND`` (an ``OutboundAdapter``). ``adapter_for(kind)`` imports it by
name, so adding a marketplace is adding a package here, with no edit elsewhere in the tree.
"""

from __future__ import annotations

import hmac
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import httpx

from engine.config import ChannelConfig
from engine.events import WireEvent


class AdapterError(ValueError):
    """The payload cannot be turned into events; ``reason`` goes back to the sender (HTTP 400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureError(AdapterError):
    """Missing or wrong signature (HTTP 401)."""


class TryLater(RuntimeError):
    """The delivery is sound but cannot be decided now (a read it needs was throttled or failed):
    the gateway answers 503 with ``Retry-After`` so the sender delivers it again, and logs one line
    (no traceback: this is the marketplace's budget, not a fault of ours)."""

    def __init__(self, reason: str, retry_after_s: float = 5.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare secrets without leaking where they differ."""
    a_b = a.encode() if isinstance(a, str) else a
    b_b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_b, b_b)


@dataclass(frozen=True)
class Inbound:
    """Result of normalising one delivery: events to decide, or a no-op (a ping) to answer 200."""

    events: list[WireEvent] = field(default_factory=list)
    note: str = ""
    """Why there are no events (``ping``, ``ignored topic``), shown in the reply."""


class InboundAdapter(Protocol):
    """Turns one webhook delivery into canonical events. Headers are lower-cased by the caller."""

    kind: str
    # An adapter whose ``verify`` or ``normalise`` may call its marketplace (eBay fetches signing
    # keys and orders it has not seen) sets a class attribute ``calls_out = True``: the gateway then
    # runs both on a worker thread instead of its event loop.

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        """Check the signature over the raw ``body``; raise ``SignatureError``. Runs before any parsing."""
        ...

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        """Parse and validate; raise ``AdapterError`` with a reason. Must derive stable event keys."""
        ...


@dataclass(frozen=True)
class ListingUpdate:
    """Set one SKU's listed quantity on a channel to an absolute value.

    Compare-and-set, for kinds whose writes can be conditional: ``expected`` is what the listing is
    believed to hold now (Shopify's ``changeFromQuantity``; None: no belief, the adapter decides,
    never by writing blindly), and ``version`` (master's) with ``round`` (stale answers this
    version already had) name the request: a retry of the same update is the same request, an
    update after a re-read is a new one (idempotency keys, or a kind's own sequence number, such as
    Amazon's ``clientSequenceNumber``, derive from them). Kinds without it ignore both.
    """

    sku: str
    quantity: int
    version: int
    ids: Mapping[str, Any]
    """Channel-side identifiers from the catalog import (inventory item id, product id...)."""
    expected: int | None = None
    round: int = 0


@dataclass
class PushResult:
    """What a channel said about a batch of updates."""

    ok: list[str] = field(default_factory=list)
    """SKUs the channel accepted."""
    failed: dict[str, str] = field(default_factory=dict)
    """SKU -> error for updates the channel refused for good (not worth retrying)."""
    retry: list[str] = field(default_factory=list)
    """SKUs to send again later (throttled, 5xx)."""
    stale: list[str] = field(default_factory=list)
    """SKUs not written because the listing no longer held ``expected`` (compare-and-set miss), or
    because the channel wants a new request for them: re-read them, then send a new request."""
    requeue: list[str] = field(default_factory=list)
    """SKUs not written only because another update in the same all-or-nothing request was refused:
    send them again at once (no attempt counted, no backoff)."""
    retry_after_s: float | None = None
    """The channel asked us to wait this long before anything else."""
    budget_available: float | None = None
    """The channel's own view of our remaining rate budget, in its cost units, if it says."""
    budget_capacity: float | None = None
    budget_restore_per_s: float | None = None


class OutboundAdapter(Protocol):
    """Pushes absolute quantities in the channel's bulk shape and imports its catalog."""

    kind: str
    max_batch: int
    default_rate: tuple[float, float]
    """Published default budget as (cost units per second, burst). A kind whose platform publishes
    none also sets ``default_rate_guess`` (a string saying why), and channels left on the guess are
    named in a warning at start-up (``default_rate_guess`` below)."""

    def cost(self, updates: list[ListingUpdate]) -> float:
        """Rate-budget units a request carrying ``updates`` will use."""
        ...

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        """One HTTP request setting every quantity in ``updates``."""
        ...

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        """Classify the channel's answer per SKU and read its throttle signals."""
        ...

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """SKU -> channel ids for every listing, paging through the channel's catalog."""
        ...


class CompareAndSet(Protocol):
    """What an ``OutboundAdapter`` adds when its channel can make a write conditional
    (``compare_and_set = True``): reading back what the listings hold after a stale answer."""

    compare_and_set: bool

    def read_cost(self, n: int) -> float:
        """Rate-budget units a ``read_listed`` of ``n`` listings will use."""
        ...

    async def read_listed(
        self, client: httpx.AsyncClient, channel: ChannelConfig, updates: list[ListingUpdate]
    ) -> tuple[dict[str, int | None], PushResult | None]:
        """SKU -> what the channel lists now for each update's listing (None: could not be read),
        and the channel's budget report from the read, if it gave one."""
        ...


def compare_and_set(adapter: object) -> CompareAndSet | None:
    """``adapter`` as a ``CompareAndSet`` if its channel supports conditional writes, else None."""
    return adapter if getattr(adapter, "compare_and_set", False) is True else None  # type: ignore[return-value]


def startup_warnings(channel: ChannelConfig) -> list[str]:
    """What the channel's kind finds worth a warning in its configuration (an outdated API version...)."""
    try:
        outbound = getattr(adapter_for(channel.kind), "OUTBOUND", None)
    except KeyError:
        return []
    check = getattr(outbound, "warnings", None)
    return list(check(channel)) if callable(check) else []


def adapter_for(kind: str) -> ModuleType:
    """The ``adapters.<kind>`` package; raises ``KeyError`` naming the kind if there is none."""
    try:
        return importlib.import_module(f"adapters.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"adapters.{kind}",):
            raise KeyError(f"no adapter for channel kind {kind!r}") from None
        raise


def default_rate_guess(kind: str) -> str | None:
    """Why the kind's default budget is a guess (its platform publishes no limit), or ``None``."""
    outbound = getattr(adapter_for(kind), "OUTBOUND", None)
    guess = getattr(outbound, "default_rate_guess", None)
    return guess if isinstance(guess, str) else None


def can_push(channel: ChannelConfig) -> bool:
    """True when a channel actor can mirror stock to this channel: its kind has an outbound adapter
    and, where the adapter says it depends on the channel's configuration (``pushes(channel)``: a
    generic channel without a push table, e.g. the seller's own checkout), the channel has it."""
    try:
        outbound = getattr(adapter_for(channel.kind), "OUTBOUND", None)
    except KeyError:
        return False
    if outbound is None:
        return False
    pushes = getattr(outbound, "pushes", None)
    return True if pushes is None else bool(pushes(channel))
