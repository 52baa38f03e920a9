"""The start-up durability check: which Redis persistence settings can lose answered decisions."""

from __future__ import annotations

from typing import Any

import redis

from engine.store.durability import check_durability, durability_gap


def test_only_an_append_only_file_fsynced_per_write_keeps_every_answered_decision() -> None:
    assert durability_gap({"appendonly": "yes", "appendfsync": "always"}) is None
    assert "since its last snapshot" in (durability_gap({"appendonly": "no", "appendfsync": "always"}) or "")
    assert "'everysec'" in (durability_gap({"appendonly": "yes", "appendfsync": "everysec"}) or "")
    assert "'no'" in (durability_gap({"appendonly": "yes", "appendfsync": "no"}) or "")
    assert durability_gap({}) is not None  # nothing readable is not "safe"


class _Server:
    """Answers CONFIG GET like a Redis server would: bytes, or an error where CONFIG is disabled."""

    def __init__(self, settings: dict[bytes, bytes] | None) -> None:
        self.settings = settings

    def config_get(self, pattern: str) -> Any:
        assert pattern == "append*"
        if self.settings is None:
            raise redis.ResponseError("unknown command 'CONFIG'")
        return self.settings


def test_check_reads_bytes_and_names_the_fix_or_the_unreadable_settings() -> None:
    safe = _Server({b"appendonly": b"yes", b"appendfsync": b"always"})
    assert check_durability(safe) is None  # type: ignore[arg-type]
    lossy = check_durability(_Server({b"appendonly": b"no", b"appendfsync": b"everysec"}))  # type: ignore[arg-type]
    assert lossy is not None and "appendfsync always" in lossy
    refused = check_durability(_Server(None))  # type: ignore[arg-type]
    assert refused is not None and "cannot read" in refused
