"""ShardCore over fakeredis (pure store logic): commit, reload, fencing, retried batches."""

from __future__ import annotations

import fakeredis
import pytest

from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import FencedError, Keys


def core(r: fakeredis.FakeRedis) -> ShardCore:
    return ShardCore(0, ShardMap(1, vshards=16), r, Keys("u"), clock=lambda: 5.0).start()


def test_reload_equals_committed_state_and_retries_replay() -> None:
    r = fakeredis.FakeRedis()
    c = core(r)
    c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 4}])
    first = c.apply_batch(
        [
            {
                "kind": "order_placed",
                "key": "o",
                "channel": "x",
                "order_id": "1",
                "lines": [{"sku": "A", "quantity": 3}],
            }
        ]
    ).decisions
    c2 = core(r)  # a restart: new epoch, state from Redis, empty caches
    assert c2.get("A") == c.get("A")
    again = c2.apply_batch(
        [
            {
                "kind": "order_placed",
                "key": "o",
                "channel": "x",
                "order_id": "1",
                "lines": [{"sku": "A", "quantity": 3}],
            }
        ]
    ).decisions
    assert again == first and c2.get("A")["available"] == 1  # type: ignore[index]
    cancel = c2.apply_batch(
        [{"kind": "order_cancelled", "key": "c", "channel": "x", "order_id": "1", "skus": ["A"]}]
    ).decisions
    assert cancel[0]["lines"][0]["delta"] == 3


def test_stale_activation_cannot_write() -> None:
    r = fakeredis.FakeRedis()
    old = core(r)
    core(r)
    with pytest.raises(FencedError):
        old.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 4}])
    assert old.get("A") is None  # memory did not run ahead of storage


def test_audit_entry_per_decided_line() -> None:
    r = fakeredis.FakeRedis()
    c = core(r)
    c.apply_batch(
        [
            {"kind": "stock_set", "key": "s", "sku": "A", "quantity": 4},
            {
                "kind": "order_placed",
                "key": "o",
                "channel": "x",
                "order_id": "1",
                "lines": [{"sku": "A", "quantity": 1}],
            },
        ]
    )
    vs = ShardMap(1, vshards=16).vshard("A")
    entries = r.xrange(Keys("u").audit(vs))
    assert len(entries) == 2
    assert r.ttl(Keys("u").idem(vs, "o")) > 71 * 3600
