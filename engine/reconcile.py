"""Reconciliation decided without I/O: which channel orders to feed the shards, and which listings to correct.

Why backfilled orders count once: the ledger decides orders per ``(channel, order_id)`` line through
its order records (``engine.order_rules``), whatever the event key. A webhook's key comes from the
delivery (Shopify's ``X-Shopify-Event-Id``) and cannot be rebuilt from a listed order, so backfill
events are keyed on the order instead and the order record decides: the same order arriving by
webhook and by backfill, in either order or at the same time, is decided once by the owning shard
(one serial decision per vshard). ``known`` (orders master already records) only saves shard work;
it is never what prevents a double count. Re-listing an order (watermark overlap) repeats the same
key and the same fingerprint, so the shard answers with its first decision.

Two kinds of listed order:

- a *versioned document* (``ChannelOrder.version`` set; Shopify): the order as it stands, each line
  with what it still claims and what left it without coming back to stock (``kept``). It is keyed
  ``reconcile:<channel>:<order id>:v<version>`` (``:cancelled`` added for its cancel), so each
  version has its own key and a re-listed version repeats its key; the ledger applies a newer
  version by the difference and answers ``duplicate_order`` for the version a webhook brought;
- a *sale* (``version`` None): keyed ``reconcile:<channel>:<order id>:placed`` / ``:cancelled``;
  placed once, cancelled once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.events import OrderCancelled, OrderPlaced, OrderUpdated, WireEvent

MAX_LISTED = 100
"""Corrections and drifted SKUs named in a report (the counts are always complete)."""


@dataclass(frozen=True)
class ChannelOrder:
    """An order as a channel lists it, reduced to what master needs.

    ``lines`` are ``(sku, quantity)`` with a SKU and a positive quantity; ``at`` is when it was placed
    (it becomes the event's ``at``, which is fingerprinted, so it must come from the channel's data);
    ``modified`` is the channel's last-modified time, which moves the watermark.

    With ``version`` set the order is a versioned document (see the module docstring): ``lines``
    carry what each line still claims (0 for a removed line, which must still be listed), ``kept``
    the units per line (same order, empty for none) that left without coming back to stock, and
    ``restock`` whether a cancel put the rest back. Its events carry ``modified`` as their ``at``.
    """

    order_id: str
    lines: tuple[tuple[str, int], ...]
    at: float
    modified: float
    cancelled: bool = False
    version: int | None = None
    kept: tuple[int, ...] = ()
    restock: bool = True


def backfill_key(channel_id: str, order_id: str, kind: str) -> str:
    """Idempotency key of a backfilled event: stable per (channel, order, kind)."""
    return f"reconcile:{channel_id}:{order_id}:{kind}"


def backfill_events(
    channel_id: str,
    orders: Iterable[ChannelOrder],
    known: Collection[str] | Mapping[str, int | None] = (),
) -> list[WireEvent]:
    """Events that bring ``orders`` into master.

    A sale (no ``version``) not in ``known`` yields an ``order_placed``; a cancelled one also an
    ``order_cancelled`` (after its placement, so the units come back whether or not the sale had been
    counted; if the cancel arrives first the ledger parks it). A known sale yields nothing unless it
    is cancelled: a lost cancel webhook must still return units. Repeated order ids keep the first
    listing.

    A versioned document yields its version: ``order_placed`` when master does not know the order,
    ``order_updated`` when it holds an older version (``known`` maps order id -> newest version held;
    a plain collection of ids says nothing of versions, so known documents are sent and the ledger
    decides), nothing when it holds this version or a newer one; a cancelled document also yields its
    ``order_cancelled`` at the same version. Repeated order ids keep the newest version. Orders
    without lines are skipped.
    """
    events: list[WireEvent] = []
    seen: dict[str, ChannelOrder] = {}
    for order in orders:
        if not order.lines:
            continue
        first = seen.get(order.order_id)
        if first is None or _newer(order, first):
            seen[order.order_id] = order
    versions = known if isinstance(known, Mapping) else None
    for order in seen.values():
        if order.version is not None:
            held = versions.get(order.order_id) if versions is not None else None
            if held is not None and held >= order.version:
                continue
            events.extend(_document(channel_id, order, order.order_id in known))
            continue
        common = {"channel": channel_id, "order_id": order.order_id, "at": order.at}
        if order.order_id not in known:
            lines = [{"sku": sku, "quantity": q} for sku, q in order.lines]
            placed = OrderPlaced(
                key=backfill_key(channel_id, order.order_id, "placed"), lines=lines, **common
            )
            events.append(placed.model_dump(mode="json"))
        if order.cancelled:
            skus = list(dict.fromkeys(sku for sku, _ in order.lines))
            key = backfill_key(channel_id, order.order_id, "cancelled")
            events.append(OrderCancelled(key=key, skus=skus, **common).model_dump(mode="json"))
    return events


def _newer(order: ChannelOrder, than: ChannelOrder) -> bool:
    """Whether a repeated listing replaces the first one: only a newer version of a document."""
    return order.version is not None and than.version is not None and order.version > than.version


def _document(channel_id: str, order: ChannelOrder, known: bool) -> list[WireEvent]:
    assert order.version is not None
    key = backfill_key(channel_id, order.order_id, f"v{order.version}")
    kept = order.kept or (0,) * len(order.lines)
    lines = [{"sku": sku, "quantity": q, "kept": k} for (sku, q), k in zip(order.lines, kept, strict=True)]
    common = {
        "channel": channel_id,
        "order_id": order.order_id,
        "at": order.modified,
        "version": order.version,
    }
    model = OrderUpdated if known else OrderPlaced
    out: list[WireEvent] = [model(key=key, lines=lines, **common).model_dump(mode="json")]
    if order.cancelled:
        skus = list(dict.fromkeys(sku for sku, _ in order.lines))
        cancel = OrderCancelled(key=f"{key}:cancelled", skus=skus, restock=order.restock, **common)
        out.append(cancel.model_dump(mode="json"))
    return out


def query_since(watermark: float, overlap_s: float) -> float:
    """Where the next order listing starts: ``overlap_s`` before the watermark, to cover clock skew
    and second-granular filters (re-listed orders are harmless, see the module docstring)."""
    return max(0.0, watermark - overlap_s)


def next_watermark(previous: float, orders: Iterable[ChannelOrder]) -> float:
    """The newest modification time seen, never moving backwards."""
    return max([previous, *(o.modified for o in orders)])


@dataclass(frozen=True)
class Correction:
    """Set ``sku`` to ``quantity`` on the channel, computed from master ``available`` at ``version``;
    the channel was seen listing ``listed``."""

    sku: str
    quantity: int
    available: int
    version: int
    listed: int


@dataclass
class Comparison:
    """Outcome of ``compare``: how many SKUs were checked, which drifted, the corrections to push.

    ``unmanaged``: listed on the channel but unknown to master (never corrected: master has no count).
    """

    checked: int = 0
    drifted: list[str] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)


def compare(
    listed: Mapping[str, int],
    master: Mapping[str, tuple[int, int] | None],
    quantity: Callable[[str, int], int],
) -> Comparison:
    """Compare a channel's ``listed`` quantities with what master says it should list.

    ``master`` maps SKU -> ``(available, version)`` (None: unknown SKU); ``quantity(sku, available)``
    is the channel's buffer rule (``ChannelSync.quantity``). A SKU listing exactly its quantity gets
    no correction. A correction never exceeds ``max(0, available)``, whatever the rule says, so
    reconciliation cannot list a unit master does not hold.
    """
    out = Comparison()
    for sku in sorted(listed):
        state = master.get(sku)
        if state is None:
            out.unmanaged.append(sku)
            continue
        available, version = state
        out.checked += 1
        want = min(max(0, quantity(sku, available)), max(0, available))
        if listed[sku] != want:
            out.drifted.append(sku)
            out.corrections.append(Correction(sku, want, available, version, listed[sku]))
    return out


@dataclass
class DriftReport:
    """One channel's reconciliation: what was looked at, what was wrong, what was done, what it cost."""

    channel: str
    started_at: float
    duration_s: float = 0.0
    orders_listed: int = 0
    orders_backfilled: int = 0
    """Sales master did not have and now has (shard decision ``applied``)."""
    updates_backfilled: int = 0
    """Newer versions of orders master held an older version of (edits, refunds), now applied."""
    cancels_backfilled: int = 0
    skus_checked: int = 0
    drifted: int = 0
    corrected: int = 0
    """Corrections the channel actor queued on its correction lane."""
    superseded: int = 0
    """Drifted SKUs left to the live lane (a newer master change is on its way) or already re-pushed."""
    unmanaged: int = 0
    backfilled_elsewhere: int = 0
    """Sales lost on the other channels, backfilled in this run before anything was compared."""
    api_calls: int = 0
    api_cost: float = 0.0
    watermark: float = 0.0
    steps_s: dict[str, float] = field(default_factory=dict)
    """Seconds spent reading listings, backfilling (every channel) and comparing."""
    drifted_skus: list[str] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (lists capped at ``MAX_LISTED``)."""
        out = asdict(self)
        out["drifted_skus"] = out["drifted_skus"][:MAX_LISTED]
        out["corrections"] = out["corrections"][:MAX_LISTED]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DriftReport:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
