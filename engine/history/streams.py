"""The audit streams as the archiver and the history pages read them: ids, keys, unread tails.

A position in history is ``(ms, seq, vshard)``: the stream entry id (Redis server time in ms and a
sequence) and the stream it is in. Ids of one Redis compare across streams, the vshard breaks ties,
so the triple orders every entry of the deployment once and for all (newest = largest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from engine import audit_entries
from engine.store.keys import Keys

INVALID_VSHARD = -1
"""The stream of marketplace lines refused at the edge (one per deployment) is archived as vshard -1."""

Position = tuple[int, int, int]
"""``(ms, seq, vshard)``."""
Cursor = tuple[int, int]
"""Per vshard: the newest ``(ms, seq)`` archived; ``(0, 0)`` before anything was."""


@dataclass(frozen=True)
class Entry:
    vshard: int
    ms: int
    seq: int
    doc: dict[str, Any]

    @property
    def position(self) -> Position:
        return (self.ms, self.seq, self.vshard)


@dataclass(frozen=True)
class StreamMeta:
    """A stream as it stood when its tail was read (one atomic snapshot with the entries):
    ``length`` entries now, the oldest ``first``, ``added`` ever (Redis's ``entries-added``;
    -1 where the server does not say). What ``engine.history.drain`` tells a loss by."""

    length: int
    first: Cursor
    added: int


@dataclass
class Tail:
    """Entries read after each vshard's cursor; ``truncated``: vshards with more left unread;
    ``meta``: each stream that had entries, as it stood then."""

    entries: dict[int, list[Entry]] = field(default_factory=dict)
    truncated: set[int] = field(default_factory=set)
    meta: dict[int, StreamMeta] = field(default_factory=dict)

    def all(self) -> list[Entry]:
        return [e for es in self.entries.values() for e in es]

    def __len__(self) -> int:
        return sum(len(es) for es in self.entries.values())


def stream_key(keys: Keys, vshard: int) -> str:
    return f"{keys.prefix}:invalid" if vshard == INVALID_VSHARD else keys.audit(vshard)


def vshards_of(vshards: int) -> list[int]:
    """Every stream the archiver drains: each vshard's, then the refused lines'."""
    return [*range(vshards), INVALID_VSHARD]


def parse_id(raw: bytes | str) -> Cursor:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def decode(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """The entry's document (either form: ``engine.audit_entries``); an entry nothing could parse is
    kept, as ``{"raw": ...}``, rather than skipped: skipping would stall the cursor behind it or lose it."""
    doc = audit_entries.decode(fields)
    return doc if doc is not None else {"raw": audit_entries.raw_text(fields)}


async def read_tails(
    redis: aioredis.Redis,
    keys: Keys,
    cursors: dict[int, Cursor],
    vshards: Sequence[int],
    budget: int,
    first: int = 64,
) -> Tail:
    """The entries after each vshard's cursor (exclusive), oldest first, about ``budget`` in all.

    Two pipelined rounds: ``first`` entries (at most) of every stream, then what is left of the
    budget shared by the streams that had more, so one hot stream is not read 64 at a time while
    a thousand quiet ones cost one round trip.
    """
    tail = Tail()
    first = max(1, min(first, budget // max(1, len(vshards)) or 1))
    await _round(redis, keys, cursors, list(vshards), first, tail)
    left = budget - len(tail)
    more = sorted(tail.truncated)
    if more and left > 0:
        tail.truncated.clear()
        share = max(1, left // len(more))
        await _round(redis, keys, cursors, more, share, tail)
    return tail


TAILS_LUA = """
local count = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
    local rows = redis.call('XRANGE', key, '(' .. ARGV[i + 1], '+', 'COUNT', count)
    if #rows > 0 then
        local added, first = -1, rows[1][1]
        local info = redis.call('XINFO', 'STREAM', key)
        for j = 1, #info, 2 do
            if info[j] == 'entries-added' then added = info[j + 1] end
            if info[j] == 'first-entry' and info[j + 1] then first = info[j + 1][1] end
        end
        out[#out + 1] = {i - 1, rows, redis.call('XLEN', key), first, added}
    end
end
return out
"""
"""Every stream's entries after its cursor in one call: a pipeline of a thousand XRANGEs cost the
client 40-90 ms of parsing empty replies per round (most streams are caught up), and this was the
whole of a history page's time and most of an archiver round's; inside Redis the empty ranges cost
about a microsecond each."""


async def _round(
    redis: aioredis.Redis, keys: Keys, cursors: dict[int, Cursor], vshards: list[int], count: int, tail: Tail
) -> None:
    after = []
    for vs in vshards:
        known = tail.entries.get(vs)
        ms, seq = (known[-1].ms, known[-1].seq) if known else cursors.get(vs, (0, 0))
        after.append(f"{ms}-{seq}")
    reply = await redis.register_script(TAILS_LUA)(
        keys=[stream_key(keys, vs) for vs in vshards], args=[count, *after]
    )
    for index, rows, length, first, added in reply:
        vs = vshards[int(index)]
        got = [Entry(vs, *parse_id(raw_id), decode(_pairs(flat))) for raw_id, flat in rows]
        tail.entries.setdefault(vs, []).extend(got)
        tail.meta[vs] = StreamMeta(int(length), parse_id(first), int(added))
        if len(got) >= count:
            tail.truncated.add(vs)


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
