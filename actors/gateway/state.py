"""What every gateway handler shares: the shard client, the batcher, metrics, views, and JSON answers."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response

from actors.gateway.metrics import GatewayMetrics
from actors.gateway.shard_batchers import ShardBatchers
from actors.gateway.views import StoreViews
from adapters.base import InboundAdapter
from engine.config import ChannelConfig, Config
from engine.decisions import WireDecision
from engine.events import WireEvent


class Shards(Protocol):
    """What the gateway needs from ``actors.shard_client.ShardClient``."""

    async def submit_async(self, events: list[WireEvent]) -> tuple[list[WireDecision], dict[str, Any]]:
        """Decide events durably; decisions in order and the changed SKUs."""
        ...

    async def get_async(self, sku: str) -> dict[str, Any] | None:
        """Committed record of one SKU, ``None`` if unknown."""
        ...

    async def get_many_async(self, skus: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Committed records of several SKUs."""
        ...

    async def ping_async(self, timeout_s: float = 2.0) -> bool:
        """True when every shard answers."""
        ...


@dataclass(frozen=True)
class InboundRoute:
    """A configured channel that can receive webhooks, with its kind's inbound adapter.

    ``workers``: for an adapter that calls its marketplace while it decodes (``calls_out``), the
    channel's own threads. One channel's slow or throttled marketplace then holds only its own
    deliveries: with a pool shared by every channel (asyncio's default, six threads on two cores)
    a flood of one channel's thin notifications waiting on their fetches held every other
    channel's too.
    """

    channel: ChannelConfig
    adapter: InboundAdapter
    workers: ThreadPoolExecutor | None = field(default=None, compare=False, repr=False)


@dataclass
class Gateway:
    """One app's state, reached by handlers as ``request.app.state.gateway``."""

    config: Config
    shards: Shards
    batcher: ShardBatchers
    metrics: GatewayMetrics
    views: StoreViews
    inbound: dict[str, InboundRoute]
    """Channel id -> route, for channels whose kind has an inbound adapter."""
    admin_token: bytes

    async def decide(self, events: list[WireEvent]) -> list[WireDecision]:
        """Decide events through the shards' micro-batchers; returns once durable, and counts them."""
        decisions = await self.batcher.submit(events)
        self.metrics.count(decisions)
        return decisions


def gateway_of(request: Request) -> Gateway:
    """The ``Gateway`` of the app serving ``request``."""
    gateway: Gateway = request.app.state.gateway
    return gateway


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer serialised with orjson (several times faster than the stdlib encoder)."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error(status: int, reason: str, **extra: Any) -> Response:
    """``{"error": reason, ...}`` with ``status``."""
    return json_response(status, {"error": reason, **extra})
