"""Whether the configured Redis keeps an answered decision through its own crash, and what to change."""

from __future__ import annotations

import redis

ADVICE = "set appendonly yes and appendfsync always (README, How it works: Durability)"


def durability_gap(settings: dict[str, str]) -> str | None:
    """What a Redis with these ``CONFIG GET`` settings loses on a crash, or ``None`` for nothing.

    skusync answers a decision once Redis has accepted its commit. Only with the append-only file
    fsynced on every write (``appendfsync always``) has Redis also written it to disk by then;
    ``everysec`` can lose the last second of answered sales, and without the file (RDB snapshots
    only, or nothing) a crash loses everything since the last snapshot.
    """
    if settings.get("appendonly") != "yes":
        return "Redis has no append-only file: a Redis crash loses every decision since its last snapshot"
    fsync = settings.get("appendfsync", "")
    if fsync != "always":
        return f"Redis fsyncs its append-only file '{fsync}': a Redis crash can lose answered decisions"
    return None


def check_durability(client: redis.Redis) -> str | None:
    """One line for the operator when ``client``'s server can lose answered decisions, else ``None``.

    Managed Redis often refuses ``CONFIG``: then the line says the settings could not be read.
    """
    try:
        raw = client.config_get("append*")
    except redis.ResponseError as exc:
        return f"cannot read Redis persistence settings ({exc}); make sure it is configured to {ADVICE}"
    settings = {_text(k): _text(v) for k, v in raw.items()}
    gap = durability_gap(settings)
    return f"{gap}; {ADVICE}" if gap else None


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
