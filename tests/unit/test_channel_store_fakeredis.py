"""ChannelStore over fakeredis: version-checked pending writes, settling, catalog and dead letters."""

from __future__ import annotations

import asyncio

import fakeredis

from engine.channel_records import Synced, Target
from engine.store.channel_store import ChannelStore, DlqEntry, dlq_entries
from engine.store.keys import Keys

KEYS = Keys("u")


def store(channel: str = "c1") -> tuple[ChannelStore, fakeredis.FakeAsyncRedis]:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    return ChannelStore(client, KEYS, channel), client


def test_pending_writes_keep_the_newest_in_any_order_and_settling_removes_only_covered() -> None:
    async def go() -> None:
        s, _ = store()
        assert await s.put_pending({"A": Target(5, 3), "B": Target(1, 1)}) == 2
        assert await s.put_pending({"A": Target(9, 2)}) == 0  # older: refused
        await s.settle({"A": Synced(2, 9, 9, 1.0), "B": Synced(1, 1, 1, 2.0)})
        pending, listed = await s.load()
        assert pending == {"A": Target(5, 3)}  # v3 is newer than the v2 acknowledgement
        assert listed == {"A": Synced(2, 9, 9, 1.0), "B": Synced(1, 1, 1, 2.0)}
        assert await s.put_pending({"B": Target(1, 1, "x")}) == 0  # already listed at v1
        await s.settle({"A": Synced(1, 0, 0, 0.5)})  # a late, older ack changes nothing
        assert (await s.load())[1]["A"].version == 2
        assert await s.pending_count() == 1

    asyncio.run(go())


def test_catalog_round_trip_and_dead_letters_per_channel() -> None:
    async def go() -> None:
        s, client = store("c1")
        other = ChannelStore(client, KEYS, "c2")
        assert await s.load_catalog() is None
        await s.save_catalog({"A": {"product_id": 1}, "B": {"product_id": 2}})
        await s.save_catalog({"A": {"product_id": 1}})
        assert await s.load_catalog() == {"A": {"product_id": 1}}

        await s.put_pending({"A": Target(4, 7)})
        request = {"method": "POST", "url": "http://x/y", "update": {"sku": "A", "quantity": 4}}
        entry = DlqEntry("c1", "A", Target(4, 7), request, {"status": 500, "body": "no"}, "HTTP 500", 6, 12.5)
        await s.dead_letter([entry])
        await other.dead_letter([DlqEntry("c2", "Z", Target(1, 1), {}, None, "boom", 1, 13.0)])

        assert await s.pending_count() == 0
        mine = await s.dlq()
        assert [(e["sku"], e["attempts"], e["error"], e["target"]["version"]) for e in mine] == [
            ("A", 6, "HTTP 500", 7)
        ]
        assert mine[0]["request"] == request and mine[0]["response"]["status"] == 500
        assert [e["channel"] for e in await dlq_entries(client, KEYS)] == ["c1", "c2"]
        assert await s.dlq_delete([mine[0]["id"]]) == 1
        assert await s.dlq() == []

    asyncio.run(go())
