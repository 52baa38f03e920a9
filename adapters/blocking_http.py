"""One blocking HTTP client for the calls a gateway makes while it decodes (``calls_out``).

Order fetches, signing keys and access tokens used to open a new ``httpx.Client`` per call, and
making one costs about 19 ms of CPU (its TLS context loads the CA bundle) even for a plain-HTTP
URL: at 60 thin notifications a second that alone took a core of the gateway, and webhook answers
fell minutes behind in the nine-kind propagation run. A client made once is shared by every worker
thread (httpx's connection pool is thread-safe) and reuses its connections; each call keeps its own
timeout. ``client(timeout_s)`` keeps the ``with ... as client:`` shape of the call sites.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

_shared: httpx.Client | None = None
_lock = threading.Lock()


def shared() -> httpx.Client:
    global _shared
    with _lock:
        if _shared is None or _shared.is_closed:
            _shared = httpx.Client(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        return _shared


class Timed:
    """The shared client with one call site's timeout on every request."""

    def __init__(self, client: httpx.Client, timeout_s: float) -> None:
        self._client, self._timeout = client, httpx.Timeout(timeout_s)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._client.get(url, timeout=self._timeout, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._client.post(url, timeout=self._timeout, **kwargs)

    def send(self, request: httpx.Request) -> httpx.Response:
        request.extensions["timeout"] = self._timeout.as_dict()
        return self._client.send(request)


@contextmanager
def client(timeout_s: float) -> Iterator[Timed]:
    """The shared client, every request bounded by ``timeout_s`` (connect, read, write, pool)."""
    yield Timed(shared(), timeout_s)
