"""The 250-revisions-per-listing-a-day limit, counted per listing, and reported as it nears.

eBay allows a listing at most 250 revisions a calendar day (MARKETPLACES.md, eBay: KB 1201; every
quantity change through ``bulkUpdatePriceQuantity`` revises the offer's listing). Which day (eBay's
Pacific day or a rolling window) is unverified, so the count here is the stricter rolling 24 h:
``window_s``. A listing's count rises with every accepted update; ``WARN_AT`` logs it once a window
and ``report()`` lists every listing at or past it (how close each is). Pushes are not held back:
the channel actor already coalesces to the newest value per SKU, and a listing over the limit is
refused per item by eBay, which ``outbound`` reports as that SKU's failure naming the limit.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

LIMIT = 250
WARN_AT = 200


@dataclass
class Revisions:
    window_s: float = 86_400.0
    clock: Callable[[], float] = field(default=time.time, repr=False)
    seen: dict[str, deque[float]] = field(default_factory=dict)
    warned: dict[str, float] = field(default_factory=dict)

    def _trim(self, listing: str, now: float) -> deque[float]:
        times = self.seen.setdefault(listing, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def record(self, listings: Iterable[str]) -> None:
        now = self.clock()
        for listing in listings:
            times = self._trim(listing, now)
            times.append(now)
            if len(times) >= WARN_AT and now - self.warned.get(listing, -1e18) > self.window_s:
                self.warned[listing] = now
                log.warning(
                    "ebay: listing %s had %d quantity revisions in 24 h (eBay allows %d a day)",
                    listing,
                    len(times),
                    LIMIT,
                )

    def count(self, listing: str) -> int:
        return len(self._trim(listing, self.clock()))

    def report(self) -> dict[str, int]:
        """Listings at or past ``WARN_AT`` revisions in the window, with their counts."""
        now = self.clock()
        return {k: n for k in list(self.seen) if (n := len(self._trim(k, now))) >= WARN_AT}


_REGISTRY: dict[str, Revisions] = {}


def revisions_for(channel_id: str) -> Revisions:
    return _REGISTRY.setdefault(channel_id, Revisions())
