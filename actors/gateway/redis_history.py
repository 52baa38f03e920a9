"""``GET /v1/audit`` and ``GET /v1/orders`` without ``[history] postgres_url``: paged from the streams.

History is then what the vshards' audit streams keep (``store.audit_maxlen`` entries each, about)
and the refused lines' stream. Positions and cursors are those of ``engine.history.pages``: a row's
position is ``(ms, seq, vshard)`` (its stream entry id and its stream, the refused lines' as -1),
a cursor is an opaque name of one, and the next page holds rows strictly older. Rows arriving
meanwhile are newer than every cursor (Redis ids only grow), so paging on while they arrive
returns each row once; an order with new activity moves above the cursor and is left out of the
pages still to come, as it is with PostgreSQL.

A bounded scan: one request reads at most ``MAX_SCAN`` stream entries below its cursor, newest
first across the streams. A filter that matches rarely (an order id, a channel, a SKU whose stream
is busy with others) may reach the bound before the page is full; the page then holds what the
scan found and ``next_cursor`` names the last entry it read, so the next request continues where
this one stopped (it never says "no more rows" when it stopped early: ``next_cursor`` is null only
when every stream was read to its end, or past ``since``). Such a page may be short or empty and
still carry a cursor: finding one order's entries among N costs N / ``MAX_SCAN`` requests.
``since`` (unix seconds, the entry's decision time) ends the scan once entry ids (Redis time) are
older than ``since`` less ``SINCE_SKEW_S``: shard clocks are assumed that close to Redis's.

Orders are listed by newest activity, so a page must know which orders have activity above its
cursor (they were on earlier pages): each orders page scans from the newest entry down, reading
the entries above the cursor only for their order ids, up to ``MAX_ABOVE`` of them, then up to
``MAX_SCAN`` below it as audit pages do. Its cost grows with the depth of the page; a page whose
cursor lies more than ``MAX_ABOVE`` entries down is refused (``TooDeep``) rather than answered
with orders listed twice: Redis-only order listings reach that far back.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from engine import audit_entries
from engine.history.pages import NEWEST, AuditFilter, decode_cursor, encode_cursor
from engine.history.streams import INVALID_VSHARD, Entry, Position, parse_id, stream_key
from engine.routing import ShardMap
from engine.store import Keys

MAX_SCAN = 20_000
"""Entries one request reads at most below its cursor; a client pages on from the cursor. Reading
them is most of a rare filter's page (the replies' parsing and the merge; ``prefilter`` spares the
decoding): measured on a 2-core machine shared with other work (load 4-8), 2.8-3.9 s for 50,000
entries of 1,024 streams, 0.7 s for 20,000."""
MAX_ABOVE = 200_000
"""Entries above its cursor an orders page reads at most: how deep Redis-only order pages reach."""
SIBLING_WINDOW_MS, SIBLING_MAX = 2_000, 2_000
"""How far below a page's last order the scan reads on for that order's lines on other vshards
(written within milliseconds of each other, by one batch of each shard), so each listed order
names all its vshards: 2 s of Redis time, and at most 2,000 entries (at a flash sale's 30,000
entries a second, 67 ms)."""
SINCE_SKEW_S = 300.0
"""How far a shard's clock (entries' ``at``) may be ahead of Redis's (entry ids) for ``since``."""
FIRST, MAX_PAGE = 8, 512
"""Entries first read per stream, and the most one refill reads (pages grow x4)."""

PAGES_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
    local rows = redis.call('XREVRANGE', key, ARGV[2 * i - 1], '-', 'COUNT', tonumber(ARGV[2 * i]))
    if #rows > 0 then out[#out + 1] = {i - 1, rows} end
end
return out
"""
"""The next page of several streams in one call (``end`` id and count per stream), only those that
have one: most of a thousand streams are empty below a deep cursor, and their empty replies are the
client's cost; and reading one stream at a time as the merge empties it cost one round trip per
stream and page (a rare filter over 1,024 streams: thousands, most of a page's time)."""


FULL, END = "full", "end"


class TooDeep(Exception):
    """An orders page whose cursor lies beyond what one scan may read."""


@dataclass
class _Stream:
    vshard: int
    key: str
    end: str
    """XREVRANGE's ``end`` for the next page: below the last entry read."""
    buffer: deque[Any] = field(default_factory=deque)
    page: int = FIRST
    exhausted: bool = False

    def read(self, rows: list[Any], count: int) -> None:
        self.buffer.extend(rows)
        self.exhausted = len(rows) < count
        if rows:
            self.end = "(" + rows[-1][0].decode()


def _top(vshard: int, below: Position) -> str:
    """The newest id of ``vshard``'s stream strictly below ``below`` (as XREVRANGE's ``end``)."""
    if below == NEWEST:
        return "+"
    ms, seq, vs = below
    return f"{ms}-{seq}" if vshard < vs else f"({ms}-{seq}"


async def _pages(redis: aioredis.Redis, streams: list[_Stream]) -> None:
    """Read the next page of each of ``streams`` (one call), growing its page for the time after."""
    args = [a for s in streams for a in (s.end, s.page)]
    got = {
        int(i): rows
        for i, rows in await redis.register_script(PAGES_LUA)(keys=[s.key for s in streams], args=args)
    }
    for i, s in enumerate(streams):
        s.read(got.get(i, []), s.page)
        s.page = min(s.page * 4, MAX_PAGE)


async def scan(
    redis: aioredis.Redis, streams: list[tuple[int, str]], below: Position, keep: Keep | None = None
) -> AsyncGenerator[Entry, None]:
    """Every entry of ``streams`` (vshard, key) strictly below ``below``, newest first across them.

    An entry ``keep`` rules out (from its raw fields) comes with an empty document, undecoded.

    When a stream's buffer runs out, every stream whose buffer is under half a page is read on in
    the same call (streams a scan reads drain at like rates). Entries no reader can decode are
    skipped (nothing else writes these streams). The caller bounds how many it takes.
    """
    every = [_Stream(vs, key, _top(vs, below)) for vs, key in streams]
    await _pages(redis, every)
    state = [s for s in every if s.buffer]
    heap = [_order(s.buffer[0][0], s.vshard, i) for i, s in enumerate(state)]
    heapq.heapify(heap)
    while heap:
        *_, i = heapq.heappop(heap)
        s = state[i]
        raw_id, fields = s.buffer.popleft()
        if not s.buffer and not s.exhausted:
            await _pages(redis, [t for t in state if not t.exhausted and len(t.buffer) < t.page // 2])
        if s.buffer:
            heapq.heappush(heap, _order(s.buffer[0][0], s.vshard, i))
        raw = _fields(fields)
        if keep is not None and not keep(raw):
            yield Entry(s.vshard, *parse_id(raw_id), {})  # read and counted, not decoded
            continue
        doc = audit_entries.decode(raw)
        if doc is not None:
            yield Entry(s.vshard, *parse_id(raw_id), doc)


Keep = Callable[[dict[bytes, bytes]], bool]


def prefilter(flt: AuditFilter) -> Keep | None:
    """A test on an entry's raw fields that rules out, without decoding it, an entry ``flt``'s
    equalities cannot match (decoding was most of a rare filter's scan): in the compact form the
    field is compared, in the JSON form the value's JSON text must occur in it (a value any JSON
    writer spells alike: printable ASCII, nothing escaped); any other entry is decoded and judged
    by ``flt``. None when ``flt`` has no equality."""
    wanted = [
        (short, value.encode(), orjson.dumps(value) if _plain(value) else b"")
        for short, value in ((b"s", flt.sku), (b"o", flt.order_id), (b"c", flt.channel))
        if value is not None
    ]
    if not wanted:
        return None

    def keep(raw: dict[bytes, bytes]) -> bool:
        if raw.get(b"v") == audit_entries.VERSION:
            return all(raw.get(short) == value for short, value, _ in wanted)
        blob = raw.get(b"d")
        return blob is None or all(text in blob for _, _, text in wanted)

    return keep


def _plain(value: str) -> bool:
    return value.isascii() and value.isprintable() and not any(c in value for c in '"\\/')


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
        self.max_above = MAX_ABOVE if max_above is None else max_above
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
        async for e in scan(self.redis, self._streams(flt.sku, refused=True), below, prefilter(flt)):
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
    past: int = 0
    """Entries read since the batch filled (its siblings' window)."""

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
        self.past += self.cutoff is not None
        if self.cutoff is not None and (e.ms < self.cutoff or self.past > SIBLING_MAX):  # the batch is whole
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
        self.batch, self.cutoff, self.past = {}, None, 0

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
