"""``BudgetReports``: folds a channel's own budget reports into our token bucket, with requests in flight.

Shopify answers every call with what is left of the account's bucket (``throttleStatus``), Etsy
and others with ``x-remaining-*`` headers. Such a figure is a snapshot taken when the channel
charged that one call. With several calls in flight on several connections, the channel may charge
them in another order than they were sent and answer in yet another, so a snapshot can predate
charges whose answers we have already processed: adopting it as it stands promised points the
channel no longer had (one or two refused calls per Shopify account per propagation run).

The rule here only ever lowers the bucket: our own count takes every call's cost when it leaves
and refills at ``safety`` times the published rate, so it stays at or below the channel's level
unless someone else spends on the account, which is exactly what a lower report reveals.
"""

from __future__ import annotations

from engine.token_bucket import TokenBucket


class BudgetReports:
    """Calls in flight and the channel's reports of what is left, applied to ``bucket``.

    Use: ``seq = sent(cost)`` when a call leaves (after the bucket granted ``cost``);
    ``answered(seq, ...)`` with what its answer reported; ``forget(seq)`` when it ended without a
    report (calling both is harmless). Not thread-safe: one event loop, like the channel actor.
    """

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self._in_flight: dict[int, float] = {}
        self._sent = 0
        self.lowered = 0
        """Reports that lowered the bucket (someone else spends on the account, or a refund was missed)."""

    @property
    def in_flight_cost(self) -> float:
        """Cost of the calls sent and not yet answered."""
        return sum(self._in_flight.values())

    def sent(self, cost: float) -> int:
        """Register a call that has taken ``cost`` from the bucket; returns its sequence number."""
        self._sent += 1
        self._in_flight[self._sent] = cost
        return self._sent

    def answered(
        self,
        seq: int,
        available: float | None,
        capacity: float | None = None,
        restore_per_s: float | None = None,
    ) -> None:
        """Apply the report from the answer to call ``seq``.

        ``capacity`` and ``restore_per_s`` replace the published limits. ``available`` lowers the
        bucket to itself less the calls still in flight (the channel may not have charged them yet;
        counting one it has charged twice errs on the safe side); it never raises it.
        """
        self._in_flight.pop(seq, None)
        level = None
        if available is not None:
            ours = self.bucket.available
            reported = available - self.in_flight_cost
            if reported < ours:
                self.lowered += 1
            level = min(ours, reported)
        if level is not None or capacity or restore_per_s:
            self.bucket.correct(level, capacity, restore_per_s)

    def forget(self, seq: int) -> None:
        """Call ``seq`` ended without a report (transport error), or was already answered."""
        self._in_flight.pop(seq, None)
