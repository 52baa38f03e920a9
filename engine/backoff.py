"""Retry arithmetic for outbound pushes: exponential backoff with full jitter, and HTTP classification.

Full jitter (a uniform delay between 0 and the exponential ceiling) spreads the retries of many
SKUs and actors that failed together, instead of sending them back in lockstep. The engine stays free
of httpx: callers pass a status code and whether the request failed in transport, or use
``is_transient_error`` which looks only at exception class names.
"""

from __future__ import annotations

import math
import random
from typing import Literal

Outcome = Literal["ok", "retry", "fail"]

# 408 and 429 say "not now" rather than "never"; every other 4xx is our request's fault.
RETRY_STATUSES = frozenset({408, 429})

# Class names (anywhere in the MRO) of transport failures worth retrying: timeouts, dropped or refused
# connections, a peer that hung up mid-response. httpx's UnsupportedProtocol and LocalProtocolError
# are deliberately absent: they are bugs or bad configuration that a retry will not fix.
TRANSIENT_ERROR_NAMES = frozenset(
    {"TimeoutError", "ConnectionError", "TimeoutException", "NetworkError", "RemoteProtocolError"}
)


class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` waits ``uniform(0, min(cap, base * 2**n))``.

    ``attempt`` counts retries already made, from 0. ``rng`` makes the jitter reproducible in tests.
    """

    def __init__(
        self,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        max_attempts: int = 6,
        rng: random.Random | None = None,
    ) -> None:
        """Raise ``ValueError`` for a non-positive base or cap, or fewer than one attempt."""
        if not (base_s > 0 and cap_s > 0):
            raise ValueError(f"base_s and cap_s must be > 0, got {base_s!r}, {cap_s!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts!r}")
        self.base_s = float(base_s)
        self.cap_s = float(cap_s)
        self.max_attempts = max_attempts
        self.rng = rng if rng is not None else random.Random()

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the jittered delay for ``attempt``: ``min(cap, base * 2**attempt)``."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt!r}")
        # 2.0 ** 1024 raises OverflowError; 2.0 ** 1000 already dwarfs any cap, and a product that
        # rounds to inf still loses to the cap.
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt, 1000))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt``.

        A server-provided ``retry_after`` is a floor: the result is ``max(jittered, retry_after)``,
        which may exceed the cap because the server's word beats our guess; a non-finite one is ignored.
        """
        jittered = self.rng.uniform(0.0, self.ceiling(attempt))
        if retry_after is None or not math.isfinite(retry_after):
            return jittered
        return max(jittered, retry_after)

    def exhausted(self, attempts: int) -> bool:
        """Whether ``attempts`` tries used up the budget (the update then goes to the dead-letter queue)."""
        return attempts >= self.max_attempts

    def __repr__(self) -> str:
        return f"Backoff(base_s={self.base_s:g}, cap_s={self.cap_s:g}, max_attempts={self.max_attempts})"


def classify_http(status: int | None, transport_error: bool = False) -> Outcome:
    """Whether an outbound call succeeded (``ok``), is worth retrying (``retry``) or never will (``fail``).

    Transport errors and a missing status retry: outbound writes are absolute quantities, so sending
    one again is safe even if the first copy landed. 5xx, 408 and 429 retry; 2xx is ok; anything
    else (other 4xx, an unfollowed 3xx, 1xx) fails, since repeating the same request cannot help.
    """
    if transport_error or status is None:
        return "retry"
    if 200 <= status < 300:
        return "ok"
    if 500 <= status < 600 or status in RETRY_STATUSES:
        return "retry"
    return "fail"


def is_transient_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a transport failure worth retrying, judged by class names in its MRO."""
    return any(cls.__name__ in TRANSIENT_ERROR_NAMES for cls in type(exc).__mro__)
