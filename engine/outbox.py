"""Changes waiting for one channel actor: newest version per SKU, taken at once, put back on failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Change = Mapping[str, Any]
"""``{"available": int, "version": int, "source": str | None}`` as a shard's ``changed`` map carries it."""


class ChangeOutbox:
    """Coalesces master changes for one destination between deliveries.

    A shard adds each committed batch's changes; the deliverer ``take``s everything at once and,
    if the delivery failed, ``restore``s it. Only the newest version of a SKU is kept: the receiver
    mirrors absolute quantities, so an older version is worthless once a newer one exists, and a
    restored change never overwrites a newer one that arrived meanwhile.
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
            if current is None or int(change["version"]) > int(current["version"]):
                held[sku] = change

    def take(self) -> dict[str, Change]:
        """Everything waiting, oldest first; the outbox is empty afterwards."""
        taken, self._changes = self._changes, {}
        return taken

    def restore(self, taken: Mapping[str, Change]) -> None:
        """Put back changes whose delivery failed (newer ones added meanwhile win)."""
        self.add(taken)
