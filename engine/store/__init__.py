"""Durable storage of master stock: Redis (or the embedded Redis-protocol server) behind one small API."""

from engine.store.keys import Keys
from engine.store.order_windows import EXPIRED, OrderWindows
from engine.store.shard_store import FencedError, ShardStore, StoreUnavailable

__all__ = ["EXPIRED", "FencedError", "Keys", "OrderWindows", "ShardStore", "StoreUnavailable"]
