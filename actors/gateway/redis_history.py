"""``GET /v1/audit`` and ``GET /v1/orders`` without ``[history] postgres_url``: paged from the streams.

History is then what the vshards' audit streams keep (``store.audit_maxlen`` entries each, about)
and the refused lines' stream. Positions and cursors are those of ``engine.history.pages``: a row's
position is ``(ms, seq, vshard)`` (its stream entry id and its stream, the refused lines' as -1),
a cursor is an opaque name of one, and the next page holds rows strictly older. Rows arriving
meanwhile are newer than every cursor (Redis ids only grow), so paging on while they arrive
returns each row once; an order with new activity moves above the cursor and is left out of the
pages still to come, as it is with PostgreSQL.

A bounded scan: one request reads at most ``MAX_SCAN`` stream entries, newest first across the
streams. A filter that matches rarely (an order id, a channel, a SKU whose stream is busy with
others) may reach the bound before the page is full; the page then holds what the scan found and
``next_cursor`` names the last entry it read, so the next request continues where this one
stopped (it never says "no more rows" when it stopped early: ``next_cursor`` is null only when
every stream was read to its end, or past ``since``). Such a page may be short or empty and still
carry a cursor. ``since`` (unix seconds, the entry's decision time) ends the scan once entry ids
(Redis time) are older than ``since`` less ``SINCE_SKEW_S``: shard clocks are assumed that close
to Redis's.

Orders are listed by newest activity, so a page must know which orders have activity above its
cursor (they were on earlier pages): each orders page scans from the newest entry down, reading
the entries above the cursor only for their order ids, up to ``MAX_SCAN`` of them, then up to
``MAX_SCAN`` below it as audit pages do. Its cost grows with the depth of the page; a page whose cursor
lies more than ``MAX_SCAN`` entries down is refused (``TooDeep``) rather than answered with
orders listed twice: Redis-only order listings reach that far back.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from engine import audit_entries
from engine.history.pages import NEWEST, AuditFilter, decode_cursor, encode_cursor
from engine.history.streams import INVALID_VSHARD, Entry, Position, parse_id, stream_key
from engine.routing import ShardMap
from engine.store import Keys

MAX_SCAN = 200_000
"""Entries one request reads at most (the Redis-only listings' bound before this module)."""
SIBLING_WINDOW_MS = 2_000
"""How far below a page's last order the scan reads on for that order's lines on other vshards
(written within milliseconds of each other), so each listed order names all its vshards."""
SINCE_SKEW_S = 300.0
"""How far a shard's clock (entries' ``at``) may be ahead of Redis's (entry ids) for ``since``."""
FIRST, MAX_PAGE = 8, 512
"""Entries first read per stream, and the most one refill reads (pages grow x4)."""

FIRST_LUA = """
local count, out = tonumber(ARGV[1]), {}
for i, key in ipairs(KEYS) do
    local rows = redis.call('XREVRANGE', key, ARGV[i + 1], '-', 'COUNT', count)
    if #rows > 0 then out[#out + 1] = {i - 1, rows} end
end
return out
"""
"""Every stream's first page in one call, only the streams that have one: most of a thousand
streams are empty below a deep cursor, and their empty replies are the client's cost."""


FULL, END = "full", "end"


class TooDeep(Exception):
    """An orders page whose cursor lies beyond what one scan may read."""


@dataclass
class _Stream:
    vshard: int
    key: str
    buffer: deque[Any]
    page: int
    exhausted: bool


def _top(vshard: int, below: Position) -> str:
    """The newest id of ``vshard``'s stream strictly below ``below`` (as XREVRANGE's ``end``)."""
    if below == NEWEST:
        return "+"
    ms, seq, vs = below
    return f"{ms}-{seq}" if vshard < vs else f"({ms}-{seq}"


async def scan(
    redis: aioredis.Redis, streams: list[tuple[int, str]], below: Position
) -> AsyncGenerator[Entry, None]:
    """Every entry of ``streams`` (vshard, key) strictly below ``below``, newest first across them.

    Entries no reader can decode are skipped (nothing else writes these streams). The caller
    bounds how many it takes.
    """
    reply = await redis.register_script(FIRST_LUA)(
        keys=[k for _, k in streams], args=[FIRST, *(_top(vs, below) for vs, _ in streams)]
    )
    state: list[_Stream] = []
    heap: list[tuple[int, int, int, int]] = []
    for index, rows in reply:
        vs, key = streams[int(index)]
        state.append(_Stream(vs, key, deque(rows), FIRST, len(rows) < FIRST))
        heap.append(_order(rows[0][0], vs, len(state) - 1))
    heapq.heapify(heap)
    while heap:
        *_, i = heapq.heappop(heap)
        s = state[i]
        raw_id, fields = s.buffer.popleft()
        if not s.buffer and not s.exhausted:
            s.page = min(s.page * 4, MAX_PAGE)
            older = await redis.xrevrange(s.key, max=b"(" + raw_id, count=s.page) or []
            s.buffer.extend(older)
            s.exhausted = len(older) < s.page
        if s.buffer:
            heapq.heappush(heap, _order(s.buffer[0][0], s.vshard, i))
        doc = audit_entries.decode(_fields(fields))
        if doc is not None:
            yield Entry(s.vshard, *parse_id(raw_id), doc)


def _order(raw_id: bytes, vshard: int, index: int) -> tuple[int, int, int, int]:
    ms, seq = parse_id(raw_id)
    return -ms, -seq, -vshard, index  # heapq pops the smallest: the newest position first


def _fields(raw: Any) -> dict[bytes, bytes]:
    """A stream entry's fields: a dict from XREVRANGE, a flat list from the script."""
    return raw if isinstance(raw, dict) else dict(zip(raw[::2], raw[1::2], strict=True))


class RedisHistory:
    """Pages of one deployment's history as its Redis streams hold it."""

    def __init__(
        self, redis: aioredis.Redis, keys: Keys, shard_map: ShardMap, max_scan: int = MAX_SCAN,
        max_above: int | None = None,
    ) -> None:  # fmt: skip
        self.redis, self.keys, self.shard_map, self.max_scan = redis, keys, shard_map, max_scan
        self.max_above = max_scan if max_above is None else max_above
        """Entries above the cursor an orders page reads at most (the depth it may start at)."""

    def _streams(self, sku: str | None, refused: bool) -> list[tuple[int, str]]:
        vshards = [self.shard_map.vshard(sku)] if sku is not None else list(range(self.shard_map.vshards))
        return [(vs, stream_key(self.keys, vs)) for vs in [*vshards, *([INVALID_VSHARD] if refused else [])]]

    async def audit(self, flt: AuditFilter, limit: int, cursor: str | None) -> tuple[list[Entry], str | None]:
        """Up to ``limit`` entries below ``cursor`` that ``flt`` keeps, newest first, and the next
        cursor (see the module docstring for a scan that stops at its bound)."""
        below = decode_cursor(cursor) if cursor else NEWEST
        floor = None if flt.since is None else int((flt.since - SINCE_SKEW_S) * 1000)
        out: list[Entry] = []
        scanned = 0
        async for e in scan(self.redis, self._streams(flt.sku, refused=True), below):
            if floor is not None and e.ms < floor:
                return out, None  # every entry from here on is older than ``since``
            if flt.matches(e.doc):
                if len(out) == limit:  # one more exists: the page ends at its last row
                    return out, encode_cursor(out[-1].position)
                out.append(e)
            scanned += 1
            if scanned >= self.max_scan:
                return out, encode_cursor(e.position)
        return out, None

    async def orders(
        self, channel: str | None, since: float | None, limit: int, cursor: str | None, resolve: Resolve
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` order views by newest activity below ``cursor``, and the next cursor.

        ``resolve`` turns candidates (newest first) into views, dropping those a filter leaves out
        (status); the views come back in the candidates' order.
        """
        below = decode_cursor(cursor) if cursor else NEWEST
        page = _OrdersPage(limit, below, since)
        async for e in scan(self.redis, self._streams(None, refused=False), NEWEST):
            ended = await page.take(e, channel, resolve)
            if ended is not None:
                return await page.finish(resolve, full=ended == FULL)
            if not page.reached and page.scanned[0] >= self.max_above:
                raise TooDeep(
                    f"this page starts more than {self.max_above} audit entries down; without"
                    " [history] postgres_url, page from the top again or narrow it with since"
                )
            if page.scanned[1] >= self.max_scan:
                return await page.stopped(e.position, resolve)
        return await page.finish(resolve, full=False)


Resolve = Callable[[list["Candidate"]], Awaitable[list[dict[str, Any]]]]


@dataclass
class Candidate:
    """An order by its newest entry below the cursor, and the vshards its lines were seen on."""

    channel: str
    order_id: str
    position: Position
    at: float
    vshards: set[int] = field(default_factory=set)


@dataclass
class _OrdersPage:
    """One orders page's scan: orders above the cursor, candidates, views resolved so far."""

    limit: int
    below: Position
    since: float | None
    scanned: list[int] = field(default_factory=lambda: [0, 0])
    """Entries read above the cursor, and below it: each up to the scan's bound."""
    reached: bool = False
    """Whether the scan has gone below the cursor."""
    above: set[tuple[str, str]] = field(default_factory=set)
    done: set[tuple[str, str]] = field(default_factory=set)
    batch: dict[tuple[str, str], Candidate] = field(default_factory=dict)
    out: list[tuple[Position, dict[str, Any]]] = field(default_factory=list)
    cutoff: int | None = None

    async def take(self, e: Entry, channel: str | None, resolve: Resolve) -> str | None:
        """One entry, newest first: None to go on, ``FULL`` or ``END`` once the page is done."""
        self.scanned[e.position < self.below] += 1
        if self.since is not None and e.ms < (self.since - SINCE_SKEW_S) * 1000 - SIBLING_WINDOW_MS:
            return END  # older than ``since``, siblings included: nothing further can be listed
        ident = _ident(e.doc, channel)
        if e.position >= self.below:
            if ident is not None:
                self.above.add(ident)
            return None
        self.reached = True
        if self.cutoff is not None and e.ms < self.cutoff:  # past the window: the batch is whole
            await self._resolve(resolve)
            if len(self.out) >= self.limit:
                return FULL
        if ident is None or ident in self.above or ident in self.done:
            return None
        cand = self.batch.get(ident)
        if cand is None:
            at = e.doc.get("at")
            at = float(at) if isinstance(at, int | float) else 0.0
            if self.since is not None and at < self.since:
                self.done.add(ident)  # its newest activity is before ``since``
                return None
            cand = self.batch[ident] = Candidate(ident[0], ident[1], e.position, at)
        cand.vshards.add(e.vshard)
        if self.cutoff is None and len(self.batch) >= self.limit - len(self.out):
            self.cutoff = e.ms - SIBLING_WINDOW_MS
        return None

    async def _resolve(self, resolve: Resolve) -> None:
        cands = list(self.batch.values())
        where = {(c.channel, c.order_id): c.position for c in cands}
        self.out += [(where[(v["channel"], v["order_id"])], v) for v in await resolve(cands)]
        self.done.update(self.batch)
        self.batch, self.cutoff = {}, None

    async def finish(self, resolve: Resolve, full: bool) -> tuple[list[dict[str, Any]], str | None]:
        """The page once the scan ended: ``full`` (more orders may follow its last one), or every
        stream read to its end or past ``since`` (no cursor unless the batch overflowed)."""
        await self._resolve(resolve)
        if full or len(self.out) > self.limit:
            return [v for _, v in self.out[: self.limit]], encode_cursor(self.out[self.limit - 1][0])
        return [v for _, v in self.out], None

    async def stopped(self, at: Position, resolve: Resolve) -> tuple[list[dict[str, Any]], str | None]:
        """The scan reached its bound at ``at``: what it found, and a cursor to go on from."""
        await self._resolve(resolve)
        if len(self.out) >= self.limit:
            return [v for _, v in self.out[: self.limit]], encode_cursor(self.out[self.limit - 1][0])
        return [v for _, v in self.out], encode_cursor(at)


def _ident(d: dict[str, Any], channel: str | None) -> tuple[str, str] | None:
    ch, order_id = d.get("channel"), d.get("order_id")
    if not isinstance(ch, str) or not isinstance(order_id, str) or not isinstance(d.get("sku"), str):
        return None
    return None if channel is not None and ch != channel else (ch, order_id)
