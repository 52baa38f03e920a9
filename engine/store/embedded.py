"""Embedded store: fakeredis's Redis-protocol TCP server in a thread of this process.

For trying skusync with nothing installed. It keeps everything in memory, dies with the process
and runs Lua at about 2,000 calls/s (pure Python): never for production, which passes a Redis URL.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

import fakeredis

NOTICE = (
    "skusync: no Redis URL configured; using the embedded in-memory store at {url} "
    "(for trying things out: it keeps nothing after exit and is slow; set SKUSYNC_REDIS_URL for production)"
)


class EmbeddedStore:
    """A running fakeredis TCP server; ``url`` is what actors connect to."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = fakeredis.TcpFakeServer((host, port), server_type="redis")
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"redis://{bound_host!s}:{bound_port}/0"
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-store", daemon=True)

    def start(self, notice_to: TextIO | None = sys.stderr) -> EmbeddedStore:
        self._thread.start()
        if notice_to is not None:
            print(NOTICE.format(url=self.url), file=notice_to, flush=True)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
