"""Token-bucket rate budget for one channel account: pure arithmetic over an injected clock.

The arithmetic is a set of pure functions over an immutable ``BucketState`` and ``Limits`` so the
state can live anywhere (memory here, Redis later), the way dramatiq keeps its rate limiters apart
from their backends. ``TokenBucket`` holds the state in memory and reads the clock.

Costs larger than the capacity can never fit, so instead of waiting forever such a cost is granted
when the bucket is full and leaves it in debt (negative tokens): one oversized request goes through,
and later requests wait until the debt is repaid, so the long-run rate still holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

Clock = Callable[[], float]

# Refilling in floats can land a hair short of a cost after waiting exactly wait_time(): tolerate it
# rather than make callers spin on sub-nanosecond waits. No channel counts in millionths of a unit.
_EPS = 1e-6


@dataclass(frozen=True)
class Limits:
    """Effective budget: tokens restored per second and bucket capacity (safety already applied)."""

    rate: float
    capacity: float


@dataclass(frozen=True)
class BucketState:
    """``tokens`` as measured at clock time ``at``; nothing is granted before ``paused_until``."""

    tokens: float
    at: float
    paused_until: float = -math.inf


def refill(state: BucketState, limits: Limits, now: float) -> BucketState:
    """``state`` advanced to ``now``: tokens restored at ``limits.rate``, never above capacity."""
    elapsed = max(0.0, now - state.at)  # a clock stepping back must not drain or refill
    tokens = min(limits.capacity, state.tokens + elapsed * limits.rate)
    return replace(state, tokens=tokens, at=max(now, state.at))


def needed(cost: float, limits: Limits) -> float:
    """Tokens that must be present to grant ``cost``: the cost, or a full bucket if it is larger."""
    return min(cost, limits.capacity)


def take(state: BucketState, limits: Limits, now: float, cost: float) -> tuple[BucketState, bool]:
    """Try to spend ``cost`` at ``now``; returns the new state and whether it was granted."""
    state = refill(state, limits, now)
    # Same comparison as wait(), so wait() == 0 exactly when take() grants.
    if now < state.paused_until or needed(cost, limits) - state.tokens > _EPS:
        return state, False
    return replace(state, tokens=state.tokens - cost), True


def wait(state: BucketState, limits: Limits, now: float, cost: float) -> float:
    """Seconds from ``now`` until ``take`` of ``cost`` succeeds (0 if it would now)."""
    state = refill(state, limits, now)
    deficit = needed(cost, limits) - state.tokens
    seconds = max(0.0, state.paused_until - now, deficit / limits.rate if deficit > _EPS else 0.0)
    # now + seconds may round below paused_until; nudge up so a caller adding it lands past the pause.
    while now + seconds < state.paused_until:
        seconds = math.nextafter(seconds, math.inf)
    return seconds


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class TokenBucket:
    """A channel account's rate budget in the channel's own cost units, over an injected clock.

    Seeded from the published limit (``rate_per_s`` units restored per second, up to ``burst``) and
    scaled by ``safety`` (0 < safety <= 1) to run below the published rate, leaving room for other
    apps on the same account. Starts full. ``correct`` adopts the channel's own view of the budget,
    ``pause_until``/``pause_for`` honour a 429's Retry-After.
    """

    def __init__(self, rate_per_s: float, burst: float, clock: Clock, safety: float = 1.0) -> None:
        """Create a full bucket; raise ``ValueError`` for a non-positive rate, burst or safety."""
        if not (0 < safety <= 1):
            raise ValueError(f"safety must be in (0, 1], got {safety!r}")
        self._clock = clock
        self._safety = float(safety)
        self._published = Limits(_positive("rate_per_s", rate_per_s), _positive("burst", burst))
        self._state = BucketState(tokens=self.limits.capacity, at=clock())

    @property
    def limits(self) -> Limits:
        """The effective limits: published rate and burst times ``safety``."""
        return Limits(self._published.rate * self._safety, self._published.capacity * self._safety)

    @property
    def state(self) -> BucketState:
        """The current state, refilled to now (for metrics or persisting elsewhere)."""
        self._state = refill(self._state, self.limits, self._clock())
        return self._state

    @property
    def available(self) -> float:
        """Tokens available now; negative while repaying an oversized cost."""
        return self.state.tokens

    @property
    def paused_until(self) -> float:
        """Clock time before which nothing is granted (``-inf`` if never paused)."""
        return self._state.paused_until

    def try_take(self, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if the budget allows it now; ``False`` (and nothing spent) otherwise.

        A cost above the capacity is granted when the bucket is full, leaving it in debt.
        """
        if cost < 0:
            raise ValueError(f"cost must be >= 0, got {cost!r}")
        self._state, granted = take(self._state, self.limits, self._clock(), cost)
        return granted

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds until ``try_take(cost)`` would succeed, counting any pause; 0 if it would now."""
        if cost < 0:
            raise ValueError(f"cost must be >= 0, got {cost!r}")
        return wait(self._state, self.limits, self._clock(), cost)

    def pause_until(self, t: float, *, drain: bool = True) -> None:
        """Grant nothing before clock time ``t`` (a 429's Retry-After); an earlier pause never shortens.

        With ``drain`` (the default) a pause that is still ahead also empties the bucket: a 429 means
        the channel's budget is spent, whatever we believed. Tokens then refill during the pause.
        """
        now = self._clock()
        state = refill(self._state, self.limits, now)
        tokens = min(state.tokens, 0.0) if drain and t > now else state.tokens
        self._state = replace(state, tokens=tokens, paused_until=max(state.paused_until, t))

    def pause_for(self, seconds: float, *, drain: bool = True) -> None:
        """``pause_until(now + seconds)``; a Retry-After header gives ``seconds`` directly."""
        self.pause_until(self._clock() + max(0.0, seconds), drain=drain)

    def correct(
        self, available: float | None, capacity: float | None = None, restore_per_s: float | None = None
    ) -> None:
        """Adopt the channel's own view of the budget (Shopify throttleStatus, Etsy x-remaining-*).

        ``capacity`` and ``restore_per_s`` replace the published burst and rate (``safety`` still
        applies). ``available`` replaces our token count, capped at the effective capacity, so after
        this call ``available`` is never above what the channel reported. The caller should subtract
        the cost of requests still in flight that the channel's figure does not yet include.
        """
        if available is not None and not math.isfinite(available):
            raise ValueError(f"available must be finite, got {available!r}")
        state = refill(self._state, self.limits, self._clock())
        self._published = Limits(
            self._published.rate if restore_per_s is None else _positive("restore_per_s", restore_per_s),
            self._published.capacity if capacity is None else _positive("capacity", capacity),
        )
        tokens = state.tokens if available is None else available
        self._state = replace(state, tokens=min(tokens, self.limits.capacity))

    def reconfigure(self, rate_per_s: float, burst: float) -> None:
        """Replace the published limit (configuration changed); tokens are kept, capped at capacity."""
        self.correct(
            None, capacity=_positive("burst", burst), restore_per_s=_positive("rate_per_s", rate_per_s)
        )

    def __repr__(self) -> str:
        limits = self.limits
        return (
            f"TokenBucket(rate={limits.rate:g}/s, capacity={limits.capacity:g}, available={self.available:g})"
        )
