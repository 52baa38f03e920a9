"""Cut events into per-owner parts: by virtual shard inside a shard, by physical shard in the gateway."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from engine.wire import WireEvent


def partition(events: list[WireEvent], owner: Callable[[str], int]) -> list[tuple[int, int, WireEvent]]:
    """``(event index, owner, part)`` for each owner an event touches, in event order.

    An order's lines (a cancel's SKUs) are divided among owners; an event touching one owner is
    passed through uncopied, which is the common case and the hot path.
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
        elif "skus" in ev:
            sgroups: dict[int, list[Any]] = defaultdict(list)
            for sku in ev["skus"]:
                sgroups[owner(sku)].append(sku)
            field, grouped = "skus", sgroups
        else:
            out.append((i, owner(ev["sku"]), ev))
            continue
        if len(grouped) == 1:
            out.append((i, next(iter(grouped)), ev))
        else:
            out.extend((i, o, {**ev, field: part}) for o, part in grouped.items())
    return out
