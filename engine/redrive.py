"""When to redrive a channel's dead letters, and what stays dead: backoff per channel, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.backoff import Backoff


@dataclass
class DeadState:
    """One channel's dead letters as last seen, and the redrives spent on them."""

    entries: int = 0
    skus: list[str] = field(default_factory=list)
    last_error: str = ""
    attempts: int = 0
    next_at: float | None = None
    gave_up: bool = False
    last_result: dict[str, Any] = field(default_factory=dict)


class RedrivePlan:
    """Redrive with exponential backoff per channel; after ``backoff.max_attempts`` redrives that
    left entries behind, stop and report them as dead until the queue is emptied (by hand or by a
    redrive through the admin API). An empty queue resets the channel's attempts."""

    def __init__(self, clock: Callable[[], float], backoff: Backoff | None = None) -> None:
        self.clock = clock
        self.backoff = backoff or Backoff(base_s=60.0, cap_s=3600.0, max_attempts=6)
        self.state: dict[str, DeadState] = {}

    def due(self, channel_id: str, entries: Sequence[dict[str, Any]]) -> bool:
        """Record the channel's current entries (oldest first); True if a redrive should run now."""
        st = self.state.setdefault(channel_id, DeadState())
        st.entries = len(entries)
        st.skus = sorted({str(e["sku"]) for e in entries})[:100]
        st.last_error = str(entries[-1].get("error", "")) if entries else ""
        if not entries:
            st.attempts, st.next_at, st.gave_up = 0, None, False
            return False
        if st.next_at is None:  # first sight: give the channel one backoff step to recover
            st.next_at = self.clock() + self.backoff.delay(0)
        st.gave_up = self.backoff.exhausted(st.attempts)
        return not st.gave_up and self.clock() >= st.next_at

    def redriven(self, channel_id: str, result: dict[str, Any]) -> None:
        """A redrive ran; the next one (if entries come back) waits one more backoff step."""
        st = self.state.setdefault(channel_id, DeadState())
        st.attempts += 1
        st.next_at = self.clock() + self.backoff.delay(st.attempts)
        st.last_result = dict(result)

    def report(self) -> dict[str, dict[str, Any]]:
        """Per channel: entries, SKUs (first 100), last error, attempts, next redrive time, gave up."""
        return {cid: asdict(st) for cid, st in self.state.items()}
