"""A settable monotonic clock for deterministic tests of clock-injected engine code."""

from __future__ import annotations


class FakeClock:
    """Callable returning the current fake time in seconds; moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards)."""
        assert seconds >= 0, seconds
        self.now += seconds
