"""Prometheus gauges of the last reconciliation per channel, rebuilt from the stored drift reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

GAUGES = {
    "skus_checked": ("skusync_reconcile_skus_checked", "SKUs compared in the channel's last reconciliation."),
    "drifted": ("skusync_reconcile_drifted", "SKUs listed differently from master in the last run."),
    "corrected": ("skusync_reconcile_corrected", "Corrections pushed by the last run."),
    "orders_backfilled": (
        "skusync_reconcile_orders_backfilled",
        "Missed orders fed to master by the last run.",
    ),
    "api_calls": ("skusync_reconcile_api_calls", "Channel API calls the last run spent."),
    "duration_s": ("skusync_reconcile_duration_seconds", "How long the last run took."),
    "started_at": ("skusync_reconcile_last_run_timestamp_seconds", "When the last run started (unix time)."),
}
"""Report field -> (metric name, help). Reports live in Redis, shared by every gateway, so each
scrape reads them afresh instead of keeping counters that would differ between gateways."""


def render_drift(reports: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The Prometheus text of ``reports`` (channel id -> last ``DriftReport.to_json()``)."""
    registry = CollectorRegistry(auto_describe=True)
    gauges = {
        field: Gauge(name, text, ["channel"], registry=registry) for field, (name, text) in GAUGES.items()
    }
    errors = Gauge(
        "skusync_reconcile_failed",
        "1 when the channel's last run ended in an error.",
        ["channel"],
        registry=registry,
    )
    for channel, report in reports.items():
        for field, gauge in gauges.items():
            value = report.get(field)
            if isinstance(value, int | float):
                gauge.labels(channel).set(value)
        errors.labels(channel).set(1 if report.get("error") else 0)
    return generate_latest(registry)
