"""Newest-first reading of the per-vshard audit streams, merged across streams a page at a time."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import redis.asyncio as aioredis

from engine import audit_entries

FIRST_PAGE = 8
"""Entries first read per stream. Small, because a deployment has 1,024 streams and a listing
needs only the newest few; a stream the merge keeps drawing from is read in growing pages."""
MAX_PAGE = 512

AuditEntry = tuple[str, dict[str, Any]]
"""(stream entry id ``<ms>-<seq>``, the decoded ``d`` field)."""


def entry_ms(entry_id: str) -> int:
    """Milliseconds part of a stream entry id (Redis server time when the entry was added)."""
    return int(entry_id.split("-", 1)[0])


def _order(entry_id: bytes, stream: int) -> tuple[int, int, int]:
    ms, seq = entry_id.split(b"-")
    return -int(ms), -int(seq), stream  # heapq pops the smallest: negate for newest first


class _Stream:
    """One stream's unread entries and whether older ones remain in Redis."""

    __slots__ = ("buffer", "exhausted", "key", "page")

    def __init__(self, key: str, entries: list[Any], page: int) -> None:
        self.key = key
        self.buffer: deque[Any] = deque(entries)
        self.page = page
        self.exhausted = len(entries) < page


async def newest_first(
    redis: aioredis.Redis, keys: Sequence[str], first_page: int = FIRST_PAGE
) -> AsyncGenerator[AuditEntry, None]:
    """Yield the entries of every stream in ``keys``, newest first across all of them.

    Entry ids are Redis server times, so ids from different streams of one server compare; ties
    are broken by stream position, which keeps the order deterministic. Entries whose ``d`` field
    is missing or not JSON are skipped (nothing else writes these streams, but a reader must not
    fail on one bad entry).
    """
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.xrevrange(key, count=first_page)
    streams = [_Stream(k, page, first_page) for k, page in zip(keys, await pipe.execute(), strict=True)]
    heap = [_order(s.buffer[0][0], i) for i, s in enumerate(streams) if s.buffer]
    heapq.heapify(heap)
    while heap:
        _, _, i = heapq.heappop(heap)
        stream = streams[i]
        raw_id, fields = stream.buffer.popleft()
        if not stream.buffer and not stream.exhausted:
            await _refill(redis, stream, raw_id)
        if stream.buffer:
            heapq.heappush(heap, _order(stream.buffer[0][0], i))
        decoded = _decode(fields)
        if decoded is not None:
            yield raw_id.decode(), decoded


async def _refill(redis: aioredis.Redis, stream: _Stream, after: bytes) -> None:
    stream.page = min(stream.page * 4, MAX_PAGE)
    older = await redis.xrevrange(stream.key, max=b"(" + after, count=stream.page) or []
    stream.buffer.extend(older)
    stream.exhausted = len(older) < stream.page


def _decode(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
    return audit_entries.decode(fields)  # either form of entry (``engine.audit_entries``)
