"""What /healthz says of history: degraded (200) for an archiver that is down, behind, or has seen
entries dropped before they were stored; nothing when history is not configured or all is well."""

from __future__ import annotations

from actors.gateway.health_probe import archiver_warning


def test_no_history_and_a_healthy_archiver_warn_of_nothing() -> None:
    assert archiver_warning({}, None) == ""
    assert archiver_warning({"archiver": {"alive": True, "lag_s": 1.0, "lost": 0}}, 60.0) == ""


def test_a_dead_archiver_a_lagging_one_and_a_lossy_stream_each_warn() -> None:
    assert "not answering" in archiver_warning({"archiver": {"alive": False}}, 60.0)
    assert "120 s behind" in archiver_warning({"archiver": {"alive": True, "lag_s": 120.0}}, 60.0)
    lossy = archiver_warning({"archiver": {"alive": True, "lag_s": 1.0, "lost": 12}}, 60.0)
    assert "lost 12 audit entries" in lossy and "max_backlog" in lossy
