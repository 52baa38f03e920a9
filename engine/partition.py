"""Cut events into per-owner parts: by virtual shard inside a shard, by physical shard in the gateway.

An event split across owners keeps its identity in every part: ``fp``, the fingerprint of the whole
event, and ``vss``, every virtual shard the whole event touches. Each owner then decides its part
knowing what the whole delivery was, so a key reused with another payload is refused on every
vshard (``engine.rules.Staging.decide_whole``), not only on those that saw the first payload.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from engine.idempotency import fingerprint
from engine.wire import WireDecision, WireEvent, merge_parts

Owner = Callable[[str], int]


def partition(
    events: list[WireEvent], owner: Owner, vshard: Owner | None = None
) -> list[tuple[int, int, WireEvent]]:
    """``(event index, owner, part)`` for each owner an event touches, in event order.

    An order's lines (a cancel's SKUs) are divided among owners; an event touching one owner is
    passed through uncopied, which is the common case and the hot path. ``vshard`` names the
    virtual shard of a SKU when ``owner`` is coarser (a physical shard); by default the owner is
    the virtual shard.
    """
    out: list[tuple[int, int, WireEvent]] = []
    for i, ev in enumerate(events):
        if "lines" in ev:
            lines = ev["lines"]
            if len(lines) == 1:
                out.append((i, owner(lines[0]["sku"]), ev))
                continue
            groups: dict[int, list[Any]] = defaultdict(list)
            for line in lines:
                groups[owner(line["sku"])].append(line)
            field, grouped = "lines", groups
            skus: Iterable[str] = (line["sku"] for line in lines)
        elif "skus" in ev:
            sgroups: dict[int, list[Any]] = defaultdict(list)
            for sku in ev["skus"]:
                sgroups[owner(sku)].append(sku)
            field, grouped, skus = "skus", sgroups, ev["skus"]
        else:
            out.append((i, owner(ev["sku"]), ev))
            continue
        if len(grouped) == 1:
            out.append((i, next(iter(grouped)), ev))
            continue
        whole = ev if "fp" in ev else {**ev, "fp": fingerprint(ev), "vss": _vshards(skus, vshard or owner)}
        out.extend((i, o, {**whole, field: part}) for o, part in grouped.items())
    return out


def _vshards(skus: Iterable[str], vshard: Owner) -> list[int]:
    return sorted({vshard(sku) for sku in skus})


Parts = dict[int, list[tuple[int, WireEvent]]]
"""Owner -> its parts, each with the index of the event it came from (in event order)."""


def by_owner(events: list[WireEvent], owner: Owner, vshard: Owner | None = None) -> Parts:
    """``partition``, grouped by owner: what to send to each."""
    parts: Parts = defaultdict(list)
    for i, o, part in partition(events, owner, vshard):
        parts[o].append((i, part))
    return parts


def join(events: list[WireEvent], parts: Parts, answers: Iterable[list[WireDecision]]) -> list[WireDecision]:
    """One decision per event, in event order, from each owner's decisions for its parts
    (``answers`` in the order of ``parts``; an event split across owners gets its parts merged)."""
    slots: list[list[WireDecision]] = [[] for _ in events]
    for items, decisions in zip(parts.values(), answers, strict=True):
        for (i, _), decision in zip(items, decisions, strict=True):
            slots[i].append(decision)
    return [merge_parts(ev, got) for ev, got in zip(events, slots, strict=True)]
