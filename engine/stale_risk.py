"""Which SKUs keep coming back stale from a compare-and-set channel, and how much of the budget
the requests carrying them may take.

Where a channel refuses a whole request when one conditional write in it is stale (Shopify: "If the
actual quantity doesn't match the value you provide, the mutation will fail with a
CHANGE_FROM_QUANTITY_STALE error", shopify.dev changelog "Making changeFromQuantity field
required", 2026-04), a SKU the channel keeps selling sinks every request it rides in: it is stale
whenever the channel sold it and master has not told us yet. Such SKUs travel apart, a few per
request (``risky_batch``), so the many other SKUs go in full batches that land.

A SKU is risky while its stale answers, decayed with half-life ``half_life_s``, add up to at least
``threshold``: one stale answer (a quiet SKU sold once at the wrong moment) does not make it risky,
a SKU that keeps selling there soon is. Requests of risky SKUs are held to ``share`` of the recent
requests while other SKUs are waiting: each costs a whole call's budget (10 points on Shopify)
for a handful of SKUs, and letting them take it all starved the rest (a 20 s backlog in the
propagation benchmark). None of this applies until the channel has refused a whole request for one
stale write (``atomic``): where writes are per item, a stale SKU costs only itself, and setting
risky SKUs apart only spent requests on small batches (p50 lag 0.74 s with it, in a run where
full batches did better).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class StaleRisk:
    """Decayed stale counts per SKU and the lanes of the last requests (clock time from the caller)."""

    half_life_s: float = 10.0
    threshold: float = 1.5
    risky_batch: int = 5
    share: float = 0.34
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    lanes: deque[bool] = field(default_factory=lambda: deque(maxlen=12))
    atomic: bool = False
    """Set once the channel refused SKUs only because another SKU of their request was stale."""

    def stale(self, sku: str, now: float) -> None:
        """Book a stale answer for ``sku``."""
        self.scores[sku] = (self.score(sku, now) + 1.0, now)

    def score(self, sku: str, now: float) -> float:
        held = self.scores.get(sku)
        if held is None:
            return 0.0
        score = held[0] * 0.5 ** (max(0.0, now - held[1]) / self.half_life_s)
        if score < 0.05:  # forgotten: keeps the map to the SKUs still selling there
            del self.scores[sku]
        return score

    def risky(self, sku: str, now: float) -> bool:
        return self.atomic and sku in self.scores and self.score(sku, now) >= self.threshold

    def risky_turn(self) -> bool:
        """Whether a request of risky SKUs may go now while other SKUs are waiting too."""
        return not self.lanes or sum(self.lanes) < self.share * len(self.lanes)

    def sent(self, risky: bool) -> None:
        """Book the lane of a request that is being sent."""
        self.lanes.append(risky)
