"""Bulk-feed submissions left to a channel: a count refilled evenly over a window.

Marketplaces that take bulk feeds limit submissions per window (Amazon ``JSON_LISTINGS_FEED``: 5
per 5 minutes; Walmart inventory feeds: 10 an hour), apart from the per-call rate the channel's
``TokenBucket`` keeps. The feed path is taken only while a submission is affordable, so a refused
one costs nothing but a fall back to single calls. Clock injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class FeedBudget:
    """``per_window`` submissions when full, refilled evenly over ``window_s``."""

    def __init__(
        self, per_window: float, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity, self.rate, self.clock = per_window, per_window / window_s, clock
        self.level, self.at = per_window, clock()

    def available(self) -> float:
        now = self.clock()
        self.level, self.at = min(self.capacity, self.level + (now - self.at) * self.rate), now
        return self.level

    def take(self) -> None:
        self.level = self.available() - 1

    def spent(self) -> None:
        """The marketplace refused a submission (429): count the window as used up."""
        self.level = min(self.available(), 0.0)
