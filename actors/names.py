"""Names of the deployment's Ray actors: one namespace, names derived from the store's key prefix."""

from __future__ import annotations

NAMESPACE = "skusync"


def shard_name(key_prefix: str, shard: int) -> str:
    """Actor name of a shard; the key prefix keeps deployments (and tests) apart."""
    return f"{key_prefix}-shard-{shard}"


def channel_name(key_prefix: str, channel_id: str) -> str:
    """Actor name of a channel account's ``ChannelActor``."""
    return f"{key_prefix}-channel-{channel_id}"


def supervisor_name(key_prefix: str) -> str:
    """Actor name of the deployment's supervisor."""
    return f"{key_prefix}-supervisor"


def archiver_name(key_prefix: str) -> str:
    """Actor name of the deployment's history archiver (only when ``[history] postgres_url`` is set)."""
    return f"{key_prefix}-archiver"
