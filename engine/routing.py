"""Stable SKU ownership: SKU -> virtual shard -> physical shard.

Python's ``hash()`` is salted per process, so two gateways would disagree on owners; CRC-32 is
stable across processes, machines and versions, and costs about 0.1 µs in C.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

DEFAULT_VSHARDS = 1024


def vshard_of(sku: str, vshards: int = DEFAULT_VSHARDS) -> int:
    """The virtual shard that owns ``sku``; fixed for the life of a deployment."""
    return zlib.crc32(sku.encode("utf-8")) % vshards


@dataclass(frozen=True)
class ShardMap:
    """Assignment of virtual shards to ``shards`` physical shard actors (round robin).

    ``vshards`` never changes once data exists (keys embed it); ``shards`` may differ between
    deployments of the same data only through an explicit migration, which is not built yet.
    """

    shards: int
    vshards: int = DEFAULT_VSHARDS

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= self.vshards:
            raise ValueError(f"shards must be between 1 and {self.vshards}, got {self.shards}")

    def vshard(self, sku: str) -> int:
        """Virtual shard of a SKU."""
        return vshard_of(sku, self.vshards)

    def shard_of_vshard(self, vshard: int) -> int:
        """Physical shard index owning a virtual shard."""
        return vshard % self.shards

    def shard(self, sku: str) -> int:
        """Physical shard index owning a SKU."""
        return self.shard_of_vshard(self.vshard(sku))

    def owned(self, shard: int) -> list[int]:
        """Virtual shards owned by physical shard ``shard``."""
        return list(range(shard, self.vshards, self.shards))
