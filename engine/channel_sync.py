"""What one channel account must be sent, decided without I/O: targets, batches, retries, dead letters.

Compare-and-set (channels whose writes can be conditional, e.g. Shopify's ``changeFromQuantity``):
every send carries ``expected``, what we believe the listing holds now, and the channel writes only
if it still does. The belief is ``Synced.listed`` (set when our push lands, or by a re-read) minus
``heard``: this channel's own sales that master reported since (the channel took them off the
listing itself). A stale answer comes with a re-read of the listing; the difference from the
belief, when the channel lists less, is a sale master has not heard of yet, and it is *folded*:
pushes list ``quantity(available + folded)`` until master hears of it (a drop of this channel's
pays it off) or reconciliation, after its backfill, clears it. So a push computed before a sale on
the channel never overwrites that sale.

Coalesced changes hide whose sale a drop was: a change that skips versions (the shard or the
fan-out merged several) may or may not hold this channel's sales. Such a drop is ``unsure``: it
never moves the belief (the next push may be stale, and its re-read puts the belief right), and a
re-read that it explains is not folded. The rule is to fold the fewest units that explain a
reading: folding a sale master has already heard of would hold that stock back until
reconciliation, while folding too little lists a sold unit only until the sale's own change
arrives (that change then finds the belief wrong, the push is stale, and the re-read settles it).
``heard`` and ``unsure`` are not durable, and a push in flight at a crash may or may not have
landed: so a belief loaded at a restart is *restored*, and the first re-read that contradicts it is
adopted as it stands, never folded (folding there would hold back units of sales master had already
heard of, for good: no later change would pay them off). Folds themselves, their payments and
re-read beliefs are durable (``take_beliefs``), so a fold learned before a crash is still paid off
after it.

Where one stale write refuses the whole request, a SKU the channel keeps selling would sink every
request it rides in: such SKUs travel apart, a few per request, within a share of the requests
(``engine.stale_risk``).

A first stale answer is usually a sale on the channel that master will report within a fraction of
a second, and that report puts the belief right by itself. So the actor re-reads only on a second
stale answer for the same version: after the first, the SKU waits up to ``hear_wait_s`` for its
own sale to be heard (it is sent again at once when it is) and is then pushed again as it stands;
the re-read, which costs rate budget, is left for drift master will not explain (a lost webhook,
an edit on the channel).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from engine.backoff import Backoff
from engine.buffer_rules import BufferRule, BufferRules
from engine.channel_records import DeadLetter, Ids, Offered, Recorded, Reply, Send, Synced, Target
from engine.config import ChannelConfig
from engine.stale_risk import StaleRisk

Clock = Callable[[], float]
COUNTERS = (
    "sent", "acked", "retries", "throttled_retries", "dead_letters", "unknown_skus",
    "coalesced", "stale", "skipped_source", "unchanged", "redriven",
    "corrections_queued", "corrections_acked", "corrections_superseded",
    "cas_stale", "cas_folded_units", "heard_units", "unsure_units", "cas_reread_failures", "requeued",
    "cas_awaiting", "cas_heard_in_time",
)  # fmt: skip


FOLD_LOG = 256
"""Recent fold events kept for diagnosis (``fold_log``): why a channel holds units back."""

SOURCE_GUARD_S = 2.0
"""How much later than our last acknowledged push a sale must be, by its own timestamp, for the
source channel's push to be skipped (clock skew between us and the marketplace, plus margin)."""


def unheard_change(reading: int, expected: Sequence[int]) -> int:
    """The change (0 or less) a compare-and-set re-read reveals that master has not heard of.

    ``expected`` holds what the listing may hold by what we know (our belief; also what a push
    with an unknown outcome set, had it landed). A reading equal to one of them reveals nothing.
    Below them, it is the reading minus the nearest value above it: the fewest unheard units that
    explain it (folding more would hold back stock until reconciliation; fewer is put right when
    the sale's own change arrives, see ``ChannelSync``). Above all of them (a restock or an edit on
    the channel side, or a belief that was too low), nothing is folded: master's quantity is pushed.
    """
    if reading in expected:
        return 0
    above = [e for e in expected if e > reading]
    return reading - min(above) if above else 0


def rules_for(channel: ChannelConfig) -> BufferRules:
    """Buffer rules from the channel's ``buffer_rules`` extra; ``default_buffer`` is the default hold."""
    extra = (channel.model_extra or {}).get("buffer_rules")
    rules = BufferRules.from_config(extra)
    if channel.default_buffer and not (extra or {}).get("default"):
        return BufferRules(BufferRule(fixed=channel.default_buffer), rules.overrides)
    return rules


class ChannelSync:
    """The send plan of one channel account: at most one request in flight per SKU, newest value wins.

    Invariants: a SKU is in at most one of ``pending`` (waiting to be sent), ``unknown`` (not in the
    catalog) at a time; ``in_flight`` may also hold it with an older target. Every accepted target is
    newer than anything pending, in flight or synced for its SKU, so an older target is never sent.
    ``pending`` iterates oldest-first, which ``select`` uses for fairness. All times come from ``clock``.
    """

    def __init__(
        self,
        channel_id: str,
        rules: BufferRules,
        backoff: Backoff,
        clock: Clock,
        source_guard_s: float = SOURCE_GUARD_S,
        hear_wait_s: float = 1.0,
        risk: StaleRisk | None = None,
    ) -> None:
        self.channel_id = channel_id
        self.source_guard_s = source_guard_s
        self.hear_wait_s = hear_wait_s
        self.hearing: set[str] = set()
        """SKUs answered stale once, waiting (``retry_at``) to hear of the sale that explains it."""
        self.risk = risk or StaleRisk()
        self.rules = rules
        self.backoff = backoff
        self.clock = clock
        self.pending: dict[str, Target] = {}
        self.sold_out: dict[str, None] = {}
        """Pending SKUs whose listing must drop to 0: sent before the rest (``select``)."""
        self.in_flight: dict[str, Send] = {}
        self.synced: dict[str, Synced] = {}
        self.unknown: dict[str, Target] = {}
        self.attempts: dict[str, int] = {}
        self.retry_at: dict[str, float] = {}
        self.catalog: dict[str, Ids] | None = None
        self.counters: Counter[str] = Counter()
        self.corrections: dict[str, Target] = {}
        """The correction lane: reconciliation's targets, sent only when no live target is ready."""
        self.correcting: set[str] = set()
        """SKUs in flight as corrections (a retry goes back to the correction lane)."""
        self.heard: dict[str, int] = {}
        """Units of this channel's own sales heard (as master changes) since ``synced[sku].listed``
        was established and not counted in it: the channel lists ``listed - heard``."""
        self.unsure: dict[str, int] = {}
        """Units of drops since then that skipped versions: some may be this channel's sales."""
        self._heard_at_send: dict[str, tuple[int, int]] = {}
        self.observed: dict[str, int] = {}
        """What a re-read found listed for a SKU never synced here (no belief to fold against)."""
        self.rounds: dict[str, tuple[int, int]] = {}
        """SKU -> (target version, compare-and-set rounds): stale answers this version has had."""
        self.reconciled: dict[str, int] = {}
        """What reconciliation observed listed (after its backfill: master had heard of every sale
        behind it), kept as an explanation of the next stale answer."""
        self.uncertain: dict[str, tuple[int, int]] = {}
        """SKU -> (quantity, heard when sent) of a push whose outcome is unknown: it may have landed."""
        self.restored: set[str] = set()
        """SKUs whose belief was loaded at a restart and not confirmed since (see the module doc)."""
        self._beliefs: dict[str, Synced] = {}
        """Beliefs changed outside an acknowledgement or a settled change, not yet made durable."""
        self.fold_log: deque[dict[str, Any]] = deque(maxlen=FOLD_LOG)

    # -- targets in --------------------------------------------------------------------------------

    def quantity(self, sku: str, available: int) -> int:
        """Units to list for ``sku`` when master has ``available``: the buffer rules, never below 0."""
        return max(0, self.rules.listed(sku, available))

    def newest_version(self, sku: str) -> int:
        """The newest master version this channel has for ``sku`` in any state (-1 if none)."""
        newest = self._newest(sku)
        return -1 if newest is None else newest.version

    def _newest(self, sku: str) -> Target | Synced | None:
        """The newest master state this channel holds for ``sku`` (waiting, in flight or synced)."""
        flying = self.in_flight.get(sku)
        held = (self.pending.get(sku), self.unknown.get(sku), flying and flying.target, self.synced.get(sku))
        return max((h for h in held if h), key=lambda h: h.version, default=None)

    def expected(self, sku: str) -> int | None:
        """What we believe the channel lists for ``sku`` now (None: no belief at all).

        The synced listing less the own sales heard since; for a SKU never synced, what a re-read
        saw, else the quantity the catalog import read (its ``listed`` id), likewise less ``heard``.
        """
        known = self.synced.get(sku)
        if known is not None:
            base: Any = known.listed
        elif sku in self.observed:
            base = self.observed[sku]
        else:
            base = (self.catalog or {}).get(sku, {}).get("listed")
        if not isinstance(base, int) or isinstance(base, bool):
            return None
        return base - self.heard.get(sku, 0)

    def _round(self, sku: str, version: int) -> int:
        held = self.rounds.get(sku)
        return held[1] if held is not None and held[0] == version else 0

    def offer(self, changes: Mapping[str, Mapping[str, Any]]) -> Offered:
        """Take master changes ``{sku: {"available", "version", "source"}}``; older versions are dropped.

        A change needs no request when the channel provably lists the right quantity already: it is
        the only change since the synced version (versions are contiguous) and either leaves the
        listed quantity as it was or is this channel's own sale, which the channel already took off
        its listing. That is how the sale's source channel is skipped. It is pushed when several
        changes were coalesced (another channel's sale may hide behind this source) or when a
        buffer rule does not move one for one (a cap, a percentage, "zero at or below").
        Any order, any repetition: versions decide, so offering a change again changes nothing.
        """
        out = Offered()
        for sku, change in changes.items():
            self._accept(sku, Target.decode(change, self.channel_id), out)
        return out

    def _accept(self, sku: str, target: Target, out: Offered) -> None:
        newest = self._newest(sku)
        if newest is not None and target.version <= newest.version:
            self.counters["stale"] += 1
            return
        sold_here = self._attribute(sku, target, newest)
        # A newer live change always wins over a correction; and the channel was seen listing
        # something else, so what ``synced`` says it lists cannot settle this change without a push.
        superseded = self.corrections.pop(sku, None) is not None
        self.counters["corrections_superseded"] += superseded
        settled = None if superseded else self._settles(sku, target, sold_here)
        if settled is not None:
            self.synced[sku] = out.settled[sku] = settled
            self._beliefs.pop(sku, None)  # the settled record carries it
            self.heard.pop(sku, None)  # the settled listing counts them
            self.unsure.pop(sku, None)
            self.counters["skipped_source" if target.source == self.channel_id else "unchanged"] += 1
            return
        out.persist[sku] = target
        if self.catalog is not None and sku not in self.catalog:
            self.counters["unknown_skus"] += sku not in self.unknown
            self.unknown[sku] = target
            out.unknown.append(sku)
            return
        self.counters["coalesced"] += sku in self.pending
        self.pending[sku] = target  # replacing keeps the SKU's place in line
        known = self.synced.get(sku)
        if self.quantity(sku, target.available + (known.folded if known else 0)) == 0:
            self.sold_out[sku] = None
        else:
            self.sold_out.pop(sku, None)

    def _attribute(self, sku: str, target: Target, newest: Target | Synced | None) -> int:
        """Book a drop in master's available that may be this channel's own sale.

        A target that covers exactly the versions after the newest state held (its ``since`` is
        that version, however many changes the shard and the fan-out joined) names the units this
        channel's orders took: those are its sales. Without ``since``, the next version after the
        newest state held, changed by this channel, is its sale. A change that skips versions may
        hide its sales; anything else is not its sale. Such units first pay off what was
        ``folded`` (master now hears of the sale a re-read had found); the rest is ``heard`` (the
        channel took it off its listing itself) or, skipping versions, ``unsure``. Returns the
        units booked as heard.
        """
        if newest is None:
            return 0
        if target.since is not None and target.since == newest.version:
            return self._book(sku, target.own, contiguous=True)
        if target.available >= newest.available:
            return 0
        own = target.source == self.channel_id
        contiguous = target.version == newest.version + 1 and target.since is None
        if contiguous and not own:
            return 0
        return self._book(sku, newest.available - target.available, contiguous)

    def _book(self, sku: str, drop: int, contiguous: bool) -> int:
        """Pay off folded units with ``drop``, then book the rest as heard (or unsure)."""
        if drop <= 0:
            return 0
        known = self.synced.get(sku)
        if known is not None and known.folded < 0:
            paid = min(drop, -known.folded)
            folded = known.folded + paid
            self._believe(sku, replace(known, folded=folded, folded_at=known.folded_at if folded else None))
            self._log(sku, "paid", known.version, units=paid, folded=folded)
            drop -= paid
        if drop <= 0:
            return 0
        book = self.heard if contiguous else self.unsure
        book[sku] = book.get(sku, 0) + drop
        self.counters["heard_units" if contiguous else "unsure_units"] += drop
        if contiguous and sku in self.hearing:  # the sale that made it stale: due again now
            self.hearing.discard(sku)
            self.retry_at.pop(sku, None)
            self.counters["cas_heard_in_time"] += 1
        return drop if contiguous else 0

    def _settles(self, sku: str, target: Target, sold_here: int = 0) -> Synced | None:
        """The synced state to record if ``target`` needs no request (see ``offer``), else None.

        ``sold_here``: units of this change ``_attribute`` booked as heard (the channel's own sale,
        not one it already folded).
        """
        known = self.synced.get(sku)
        busy = sku in self.pending or sku in self.in_flight or sku in self.unknown
        if known is None or busy or target.version != known.version + 1 or self.unsure.get(sku):
            return None
        want = self.quantity(sku, target.available + known.folded)
        listing = known.listed - self.heard.get(sku, 0)
        if target.source == self.channel_id and target.available >= known.available:
            return None  # a cancel or return there: whether the channel relisted is unknown
        if sold_here and not (target.source == self.channel_id and self._sold_after_push(target, known)):
            # Our write may have landed after the sale and overwritten it (a channel without
            # compare-and-set, or a listing adopted at a restart). ``at`` is the time of the
            # change's newest event, so it dates our sale only when that event is ours.
            return None
        if listing != want:
            return None
        return Synced(target.version, target.available, want, known.at, known.folded, known.folded_at)

    def _sold_after_push(self, target: Target, known: Synced) -> bool:
        """The sale behind ``target`` provably happened on the channel after our last push landed.

        Only then did the channel take the units off the listing we set, so its listing already
        shows the sale. A sale that raced our push (push computed before it, landing after it)
        was overwritten by the push, and skipping would leave the sold units listed. ``at`` of the
        sale is the marketplace's clock; ``source_guard_s`` absorbs the skew between clocks.
        """
        if known.at is None:
            return True  # we never pushed this SKU here: nothing of ours can have overwritten it
        return target.at is not None and target.at >= known.at + self.source_guard_s

    def restore(self, pending: Mapping[str, Target], synced: Mapping[str, Synced]) -> None:
        """Load durable state after a restart (before ``set_catalog``); newer in-memory state wins."""
        for sku, known in synced.items():
            if known.version > self.newest_version(sku):
                self.synced[sku] = known
                self.restored.add(sku)
        for sku, target in pending.items():
            if target.version > self.newest_version(sku):
                self.pending[sku] = target

    def set_catalog(self, catalog: Mapping[str, Ids]) -> Offered:
        """Adopt the SKU -> channel ids map; pending SKUs it lacks become unknown, known ones revive."""
        self.catalog = dict(catalog)
        out = Offered()
        for sku in [s for s in self.pending if s not in self.catalog]:
            self.unknown[sku] = self.pending.pop(sku)
            self.counters["unknown_skus"] += 1
            out.unknown.append(sku)
        for sku in [s for s in self.unknown if s in self.catalog]:
            self.pending[sku] = self.unknown.pop(sku)
        return out

    def correct(
        self, targets: Mapping[str, Target], observed_at: float, listed: Mapping[str, int] | None = None
    ) -> dict[str, str]:
        """Queue reconciliation's corrections on the low-priority lane; returns an outcome per SKU.

        ``targets`` were computed from master versions after the channel was seen (at clock time
        ``observed_at``) listing something else (``listed``, per SKU, when the caller says).
        Outcomes: ``queued``; ``stale`` (a newer master version is known here); ``live`` (a target
        of this or a newer version is already waiting or in flight on the live lane, which will set
        the right quantity); ``fresh`` (this version was pushed after ``observed_at``, so the
        observation is out of date); ``unknown`` (not in the catalog). Not durable: a lost
        correction is computed again by the next reconciliation.

        Reconciliation backfilled every order the channel had when it was observed, so master has
        heard of every sale behind that listing: a fold learned before then is cleared, and the
        observed listing explains a stale answer as well as our belief does (so a listing edited on
        the channel side is corrected to master's quantity, not folded as if it were a sale).
        """
        out: dict[str, str] = {}
        for sku, target in targets.items():
            known = self.synced.get(sku)
            if known is not None and known.folded and (known.folded_at or 0) <= observed_at:
                self._log(sku, "cleared", known.version, units=-known.folded, folded=0)
                known = replace(known, folded=0, folded_at=None)
                self._believe(sku, known)
            if listed is not None and sku in listed and (known is None or (known.at or 0) <= observed_at):
                if known is None:
                    self.observed[sku] = listed[sku]
                else:
                    self.reconciled[sku] = listed[sku]
            if target.version < self.newest_version(sku):
                out[sku] = "stale"
            elif sku in self.pending or sku in self.in_flight or sku in self.unknown:
                out[sku] = "live"
            elif known is not None and known.version == target.version and (known.at or 0) > observed_at:
                out[sku] = "fresh"
            elif self.catalog is None or sku not in self.catalog:
                out[sku] = "unknown"
            else:
                out[sku] = "queued"
                self.corrections[sku] = target
                self.counters["corrections_queued"] += 1
        return out

    def redrive(self, targets: Mapping[str, Target]) -> Offered:
        """Queue dead-lettered targets again with fresh attempts; obsolete ones (older) are dropped."""
        out = Offered()
        for sku, target in targets.items():
            self.attempts.pop(sku, None)
            self.retry_at.pop(sku, None)
            self._accept(sku, target, out)
        self.counters["redriven"] += len(out.persist)
        return out

    # -- requests out ------------------------------------------------------------------------------

    def select(self, limit: int) -> list[Send]:
        """Up to ``limit`` sends among SKUs not in flight whose retry time has come: first those whose
        listing must drop to 0, then the others oldest first.

        A SKU master has run out of but the channel still lists sells what master no longer has for
        as long as it waits, while any other SKU in line only lists a few units too many; and each
        SKU sells out once, so the rest cannot starve behind them. (The flash-sale benchmark found a
        hot SKU that had just sold out waiting behind older pending SKUs.) Changes nothing: call
        ``begin`` with what is actually sent. Empty until a catalog is set.
        """
        return self._due(self._sold_out_first(), limit)

    def _sold_out_first(self) -> Callable[[], Iterator[tuple[str, Target]]]:
        for sku in [s for s in self.sold_out if s not in self.pending]:  # sent or moved meanwhile
            del self.sold_out[sku]
        if not self.sold_out:
            return lambda: iter(self.pending.items())

        def items() -> Iterator[tuple[str, Target]]:
            yield from ((sku, self.pending[sku]) for sku in self.sold_out)
            yield from ((sku, t) for sku, t in self.pending.items() if sku not in self.sold_out)

        return items

    def select_corrections(self, limit: int) -> list[Send]:
        """Up to ``limit`` sends from the correction lane (call only when ``select`` gave nothing)."""
        return self._due(lambda: iter(self.corrections.items()), limit)

    def _due(
        self, lane: Callable[[], Iterator[tuple[str, Target]]], limit: int, turn: bool | None = None
    ) -> list[Send]:
        """Up to ``limit`` sends from ``lane``, in its order, skipping in-flight SKUs and waiting retries,
        risky SKUs only with each other (``engine.stale_risk``)."""
        if self.catalog is None or limit < 1:
            return []
        now, out, risky, skipped = self.clock(), [], None, False
        turn = self.risk.risky_turn() if turn is None else turn
        for sku, target in lane():
            if sku in self.in_flight or self.retry_at.get(sku, -math.inf) > now:
                continue
            # The oldest due SKU decides the lane, unless risky SKUs had their share of requests.
            here = self.risk.risky(sku, now)
            if risky is None and here and not turn:
                skipped = True
                continue
            if risky is None:
                risky, limit = here, min(limit, self.risk.risky_batch) if here else limit
            elif here != risky:
                continue
            known = self.synced.get(sku)
            quantity = self.quantity(sku, target.available + (known.folded if known else 0))
            expected, rnd = self.expected(sku), self._round(sku, target.version)
            out.append(Send(sku, target, quantity, self.catalog[sku], expected, rnd))
            if len(out) >= limit:
                break
        if not out and skipped:  # nothing else is waiting: the risky SKUs' turn after all
            return self._due(lane, limit, turn=True)
        return out

    def begin(self, sends: Iterable[Send]) -> None:
        """Mark ``sends`` as in flight; they must come from ``select`` (or ``select_corrections``) with
        no ``offer`` in between that replaced their targets (``ValueError`` otherwise, and nothing after
        that send changes)."""
        sends = list(sends)
        now = self.clock()
        self.risk.sent(any(self.risk.risky(s.sku, now) for s in sends))
        for send in sends:
            if send.sku in self.in_flight:
                raise ValueError(f"{send.sku!r}: already in flight")
            if self.pending.get(send.sku) == send.target:
                del self.pending[send.sku]
            elif self.corrections.get(send.sku) == send.target:
                del self.corrections[send.sku]
                self.correcting.add(send.sku)
            else:
                raise ValueError(f"{send.sku!r}: not the pending target or correction")
            self.in_flight[send.sku] = send
            self._heard_at_send[send.sku] = (self.heard.get(send.sku, 0), self.unsure.get(send.sku, 0))
            self.counters["sent"] += 1

    def next_due(self) -> float | None:
        """Clock time when ``select`` (or ``select_corrections``) may next return something (None:
        nothing is waiting)."""
        if self.catalog is None:
            return None
        waiting = [*self.pending, *self.corrections]
        times = [self.retry_at.get(s, -math.inf) for s in waiting if s not in self.in_flight]
        return max(min(times), self.clock()) if times else None

    def record(self, sends: Iterable[Send], reply: Reply) -> Recorded:
        """Book the channel's answer to one request carrying ``sends``; return what to persist.

        Once per ``begin``: a second answer for the same sends is ignored, so repeating it is safe.
        """
        now, ok, out, requeue = self.clock(), set(reply.ok), Recorded(), set(reply.requeue)
        unheard = set(reply.unheard)
        for sku in (*reply.stale, *unheard):
            self.risk.stale(sku, now)
        self.risk.atomic = self.risk.atomic or bool(requeue)
        for send in sends:
            if self.in_flight.get(send.sku) != send:
                continue  # not ours (recorded twice): never book an answer twice
            del self.in_flight[send.sku]
            heard_at_send = self._heard_at_send.pop(send.sku, (0, 0))
            corrected = send.sku in self.correcting
            self.correcting.discard(send.sku)
            if send.sku in reply.failed:
                self._dead(send, reply.failed[send.sku], self.attempts.get(send.sku, 0) + 1, out)
            elif send.sku in ok:
                self._acked(send, heard_at_send, now, out)
                self.counters["corrections_acked"] += corrected
            elif send.sku in reply.stale:
                self._reanchor(send, reply.stale[send.sku], now, out, corrected)
            elif send.sku in unheard:
                self._await_hearing(send, heard_at_send[0], now, out, corrected)
            elif send.sku in requeue:
                self.counters["requeued"] += 1
                self._again(send, corrected)
            else:
                if reply.maybe_applied:
                    self.uncertain[send.sku] = (send.quantity, heard_at_send[0])
                self._retry(send, reply, now, out, corrected)
        return out

    def _acked(self, send: Send, heard_at_send: tuple[int, int], now: float, out: Recorded) -> None:
        """The channel lists ``send.quantity`` from when the push landed. Own sales heard while it
        was in flight stay ``heard`` (``unsure`` likewise): on a compare-and-set channel they must
        have come after it landed (before, the listing would not have held what the push expected)."""
        sku = send.sku
        self.attempts.pop(sku, None)
        self.retry_at.pop(sku, None)
        self.hearing.discard(sku)
        self.observed.pop(sku, None)
        self.uncertain.pop(sku, None)
        self.reconciled.pop(sku, None)
        self.rounds.pop(sku, None)
        self.restored.discard(sku)
        self._beliefs.pop(sku, None)  # the acknowledged record carries it
        for book, before in ((self.heard, heard_at_send[0]), (self.unsure, heard_at_send[1])):
            during = book.pop(sku, 0) - before
            if during > 0:
                book[sku] = during
        prev = self.synced.get(sku)
        folded, folded_at = (prev.folded, prev.folded_at) if prev is not None else (0, None)
        target = send.target
        known = Synced(target.version, target.available, send.quantity, now, folded, folded_at)
        self.synced[sku] = out.acked[sku] = known
        self.counters["acked"] += 1

    def _reanchor(self, send: Send, reading: int | None, now: float, out: Recorded, corrected: bool) -> None:
        """A compare-and-set miss: adopt what the re-read saw, fold what master has not heard of,
        and send the newest target again at once with a new round (a new request, a new key).

        Not an attempt: each round learns what the channel lists, so it converges once the channel
        stops selling. A failed re-read is an ordinary retry (backoff, attempts)."""
        sku = send.sku
        self.counters["cas_stale"] += 1
        self.hearing.discard(sku)
        self.rounds[sku] = (send.target.version, send.round + 1)
        if reading is None:
            self.counters["cas_reread_failures"] += 1
            self._retry(send, Reply(error="compare-and-set miss; the re-read failed"), now, out, corrected)
            return
        heard, unsure = self.heard.pop(sku, 0), self.unsure.pop(sku, 0)
        maybe = self.uncertain.pop(sku, None)
        seen = self.reconciled.pop(sku, None)
        known = self.synced.get(sku)
        if known is None:
            # Nothing ever synced: no belief to tell an unheard sale from older drift, so the next
            # push carries master's quantity, conditional on this reading.
            self.observed[sku] = reading
        else:
            # What the listing may hold: the belief, less any part of the unsure drops; what a push
            # with a lost answer set, had it landed, likewise; what reconciliation saw, less any
            # own sale heard since.
            tops = [known.listed - heard] + ([maybe[0] - (heard - maybe[1])] if maybe is not None else [])
            candidates = [top - k for top in tops for k in range(unsure + 1)]
            if seen is not None:
                candidates += [seen - k for k in range(heard + unsure + 1)]
            unheard = unheard_change(reading, candidates)
            if sku in self.restored and unheard:
                # What a crash lost (own sales heard, a push that landed) explains it as well as an
                # unheard sale does, and a wrong fold would never be paid off: adopt the reading.
                self._log(sku, "adopted", known.version, reading=reading, units=-unheard)
                unheard = 0
            elif unheard:
                self._log(
                    sku,
                    "folded",
                    known.version,
                    reading=reading,
                    units=-unheard,
                    candidates=sorted(set(candidates))[-8:],
                    folded=known.folded + unheard,
                )
            self.counters["cas_folded_units"] -= unheard
            self._believe(sku, replace(
                known,
                listed=reading,
                at=now,
                folded=known.folded + unheard,
                folded_at=now if unheard else known.folded_at,
            ))  # fmt: skip
        self.restored.discard(sku)
        self._again(send, corrected)

    def _believe(self, sku: str, known: Synced) -> None:
        """Change what the channel is believed to list outside an acknowledgement: durable next."""
        self.synced[sku] = self._beliefs[sku] = known

    def take_beliefs(self) -> dict[str, Synced]:
        """Beliefs changed since the last call (fold payments, re-reads, cleared folds), for the
        caller to make durable after ``offer``, ``record`` or ``correct``; a crash before that write
        leaves a belief marked ``restored`` at the next start, which is safe (module doc)."""
        taken, self._beliefs = self._beliefs, {}
        return taken

    def _log(self, sku: str, event: str, version: int, **detail: Any) -> None:
        self.fold_log.append({"at": self.clock(), "sku": sku, "event": event, "version": version, **detail})

    def _await_hearing(
        self, send: Send, heard_at_send: int, now: float, out: Recorded, corrected: bool
    ) -> None:
        """A first compare-and-set miss at this version, not re-read: wait for master to report
        the sale behind it (``_book`` makes the SKU due again), at most ``hear_wait_s``; the next
        push is a new round, and its stale answer is re-read. An own sale heard while the push was
        in flight already explains it: due again at once."""
        sku = send.sku
        self.counters["cas_stale"] += 1
        self.rounds[sku] = (send.target.version, send.round + 1)
        self._again(send, corrected)
        if self.heard.get(sku, 0) > heard_at_send:
            self.counters["cas_heard_in_time"] += 1
            return
        self.counters["cas_awaiting"] += 1
        self.hearing.add(sku)
        out.retry_at[sku] = self.retry_at[sku] = now + self.hear_wait_s

    def _again(self, send: Send, corrected: bool) -> None:
        """Put ``send``'s target back on its lane, due now (a newer target, if one came, goes instead)."""
        self.retry_at.pop(send.sku, None)
        if corrected and send.sku not in self.pending:
            self.corrections.setdefault(send.sku, send.target)
        else:
            self.pending.setdefault(send.sku, send.target)

    def _retry(self, send: Send, reply: Reply, now: float, out: Recorded, corrected: bool = False) -> None:
        if reply.throttled:
            # The account's budget ran out, not this SKU's luck: the bucket pause is the backoff.
            self.counters["throttled_retries"] += 1
            delay = reply.retry_after_s if reply.retry_after_s is not None else self.backoff.delay(0)
        else:
            attempts = self.attempts[send.sku] = self.attempts.get(send.sku, 0) + 1
            if self.backoff.exhausted(attempts):
                self._dead(send, reply.error or "retryable failures, attempts exhausted", attempts, out)
                return
            self.counters["retries"] += 1
            delay = self.backoff.delay(attempts - 1, reply.retry_after_s)
        out.retry_at[send.sku] = self.retry_at[send.sku] = now + delay
        if corrected and send.sku not in self.pending:  # a correction retries on its own lane
            self.corrections.setdefault(send.sku, send.target)
        else:
            self.pending.setdefault(send.sku, send.target)  # a newer target, if one came, stays instead

    def _dead(self, send: Send, error: str, attempts: int, out: Recorded) -> None:
        """Give up on the SKU: its newest target leaves the plan with the entry (a redrive brings it back)."""
        self.attempts.pop(send.sku, None)
        self.retry_at.pop(send.sku, None)
        self.hearing.discard(send.sku)
        self.uncertain.pop(send.sku, None)
        newest = self.pending.pop(send.sku, send.target)
        out.dead.append(DeadLetter(send, newest, attempts, error))
        self.counters["dead_letters"] += 1

    # -- reading -----------------------------------------------------------------------------------

    def status(self, sku: str) -> dict[str, Any]:
        """``{listed, buffer, synced_version, last_push_at}`` as this channel knows them (None if never)."""
        k = self.synced.get(sku)
        if k is None:
            return dict.fromkeys(("listed", "buffer", "synced_version", "last_push_at"))
        buffer = max(0, k.available) - k.listed
        return {"listed": k.listed, "buffer": buffer, "synced_version": k.version, "last_push_at": k.at}

    def stats(self) -> dict[str, int]:
        """Counters plus current sizes (pending, in flight, unknown, backing off)."""
        return {
            **dict.fromkeys(COUNTERS, 0),
            **self.counters,
            "pending": len(self.pending),
            "in_flight": len(self.in_flight),
            "unknown_pending": len(self.unknown),
            "corrections_waiting": len(self.corrections),
            "backing_off": sum(1 for t in self.retry_at.values() if t > self.clock()),
        }

    @property
    def idle(self) -> bool:
        """Nothing waiting to be sent or in flight (unknown SKUs never will be)."""
        return not self.pending and not self.in_flight and not self.corrections
