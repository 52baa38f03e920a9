"""Prometheus metrics of one gateway: decisions by outcome, webhook latency and status per channel."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine.decisions import WireDecision

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNKNOWN_CHANNEL = "unknown"
"""Label for webhook URLs naming no configured channel: a URL must not mint new label values."""

# Shopify gives up after 5 s; the interesting range is a millisecond to a few hundred.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class GatewayMetrics:
    """The gateway's counters in a registry of their own (two apps in one process never collide)."""

    def __init__(self, channels: Iterable[str] = (), registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "skusync_decisions", "Event decisions by outcome.", ["outcome"], registry=self.registry
        )
        self.lines = Counter(
            "skusync_decision_lines",
            "Line decisions (one per SKU) by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "skusync_webhook_seconds",
            "Webhook answer latency, from request start to answer, by channel.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.webhooks = Counter(
            "skusync_webhooks",
            "Webhook answers by channel and HTTP status.",
            ["channel", "status"],
            registry=self.registry,
        )
        self.overload = Counter(
            "skusync_overload_refusals",
            "Requests answered 503 with Retry-After because a shard's backlog was at its bound, by route.",
            ["route"],
            registry=self.registry,
        )
        self.batch_events = Histogram(
            "skusync_gateway_batch_events",
            "Events per micro-batch flush (one shard's).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        # Children are resolved once per label value: ``labels()`` takes a lock and builds a key on
        # every call, which was a few per cent of a webhook's CPU. Label values are bounded: channels
        # come from the configuration, statuses and outcomes from fixed sets.
        self._latency: dict[str, Any] = {}
        self._status: dict[tuple[str, int], Any] = {}
        self._outcome: dict[str, Any] = {}
        self._line: dict[str, Any] = {}
        self._refused: dict[str, Any] = {}
        for channel in [*channels, UNKNOWN_CHANNEL]:
            self._latency[channel] = self.webhook_seconds.labels(channel)

    def webhook(self, channel: str, status: int, seconds: float) -> None:
        """Record one webhook answer; ``channel`` must be configured or ``UNKNOWN_CHANNEL``."""
        hist = self._latency.get(channel)
        if hist is None:
            hist = self._latency[channel] = self.webhook_seconds.labels(channel)
        hist.observe(seconds)
        counter = self._status.get((channel, status))
        if counter is None:
            counter = self._status[(channel, status)] = self.webhooks.labels(channel, str(status))
        counter.inc()

    def count(self, decisions: list[WireDecision]) -> None:
        """Count the decisions a caller received (event outcomes and their lines' outcomes)."""
        for d in decisions:
            _child(self._outcome, self.decisions, d.get("outcome", "unknown")).inc()
            for line in d.get("lines", ()):
                _child(self._line, self.lines, line.get("outcome", "unknown")).inc()

    def refused(self, route: str) -> None:
        """Count one overload refusal; ``route`` is ``webhook`` or ``orders`` (a fixed set)."""
        _child(self._refused, self.overload, route).inc()

    def batch(self, events: int) -> None:
        """Record the size of one micro-batch flush."""
        self.batch_events.observe(events)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


def _child(cache: dict[str, Any], metric: Counter, value: str) -> Any:
    child = cache.get(value)
    if child is None:
        child = cache[value] = metric.labels(value)
    return child
