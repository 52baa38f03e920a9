"""Drift reports become one gauge per report field and channel; non-numbers are left out."""

from __future__ import annotations

from actors.gateway.drift_metrics import render_drift


def test_each_channel_report_becomes_labelled_gauges() -> None:
    text = render_drift(
        {
            "shop-1": {"skus_checked": 200, "drifted": 3, "corrected": 1, "duration_s": 2.5, "error": ""},
            "woo-1": {"skus_checked": 50, "drifted": 0, "error": "HTTP 503", "watermark": "not a number"},
        }
    ).decode()
    assert 'skusync_reconcile_skus_checked{channel="shop-1"} 200.0' in text
    assert 'skusync_reconcile_drifted{channel="shop-1"} 3.0' in text
    assert 'skusync_reconcile_duration_seconds{channel="shop-1"} 2.5' in text
    assert 'skusync_reconcile_failed{channel="shop-1"} 0.0' in text
    assert 'skusync_reconcile_failed{channel="woo-1"} 1.0' in text
    assert 'skusync_reconcile_corrected{channel="woo-1"}' not in text  # absent from its report


def test_no_reports_no_samples() -> None:
    assert "{channel=" not in render_drift({}).decode()
