"""Changes waiting for one channel actor: newest version per SKU, taken at once, put back on failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Change = Mapping[str, Any]
"""``{"available", "version", "source", "at", "since", "sold"}`` as a shard's ``changed`` map carries
it: the change covers versions ``(since, version]`` and ``sold`` is ``{channel: units}`` its
marketplace orders took in that range (see ``engine.channel_sync``)."""


class ChangeOutbox:
    """Coalesces master changes for one destination between deliveries.

    A shard adds each committed batch's changes; the deliverer ``take``s everything at once and,
    if the delivery failed, ``restore``s it. Only the newest version of a SKU is kept: the receiver
    mirrors absolute quantities, so an older version is worthless once a newer one exists, and a
    restored change never overwrites a newer one that arrived meanwhile. Two changes whose ranges
    meet are joined (the older's ``since``, the units sold summed), so a channel still learns how
    many of the drops were its own sales; a change that does not meet the held one replaces it
    as it is (the channel then sees a gap and cannot tell).
    """

    def __init__(self) -> None:
        self._changes: dict[str, Change] = {}

    def __len__(self) -> int:
        return len(self._changes)

    def add(self, changes: Mapping[str, Change]) -> None:
        """Keep each SKU's change unless the outbox already holds a newer version of it."""
        held = self._changes
        for sku, change in changes.items():
            current = held.get(sku)
            if current is None:
                held[sku] = change
            elif int(change["version"]) > int(current["version"]):
                held[sku] = joined(current, change)
            elif current.get("since") == change["version"]:
                held[sku] = joined(change, current)

    def take(self) -> dict[str, Change]:
        """Everything waiting, oldest first; the outbox is empty afterwards."""
        taken, self._changes = self._changes, {}
        return taken

    def restore(self, taken: Mapping[str, Change]) -> None:
        """Put back changes whose delivery failed (newer ones added meanwhile win)."""
        self.add(taken)


def joined(older: Change, newer: Change) -> Change:
    """``newer``, covering ``older``'s range too when the two meet; else ``newer`` unchanged."""
    if older.get("since") is None or newer.get("since") != older["version"]:
        return newer
    sold = dict(older.get("sold") or {})
    for channel, units in (newer.get("sold") or {}).items():
        sold[channel] = sold.get(channel, 0) + units
    return {**newer, "since": older["since"], "sold": sold or None}
