"""The simulated shop's inventory as Shopify 2026-04+ keeps it: locations, API versions served,
idempotency keys, and the inventory levels its GraphQL answers read.

Every rule here names the document it comes from; where the documents leave a detail open, the
rule says *unverified* and is one constant or function, so a correction is one edit.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.sim.core import SimulatedStore

SERVED_VERSIONS: tuple[str, ...] = ("2026-04", "2026-07", "2026-10")
"""Stable versions the simulated shop serves, oldest first (../shared/MARKETPLACES.md, Shopify:
"Versions 2026-04..2026-10 (2027-01 RC)"). Kept apart from the adapter's own table on purpose: the
simulator is the test oracle, not a copy of the code under test."""
RELEASE_CANDIDATE = "2027-01"
DATED_RE = re.compile(r"^\d{4}-(01|04|07|10)$")


def served_version(requested: str) -> str | None:
    """The version the shop answers a request for ``requested`` with (None: 404, no such version).

    "Requests for [retired] versions will no longer receive them. Instead, these requests receive
    [the oldest supported version]" (shopify.dev changelog "API Versions 2019-04 and 2019-10:
    Upcoming end of support"; MARKETPLACES.md: "an unsupported one is served as the oldest
    supported"). The release candidate and ``unstable`` are served as themselves; a dated version
    newer than the release candidate does not exist yet (404, *unverified*).
    """
    if requested in SERVED_VERSIONS or requested in (RELEASE_CANDIDATE, "unstable"):
        return requested
    if not DATED_RE.match(requested):
        return None
    if requested < SERVED_VERSIONS[0]:
        return SERVED_VERSIONS[0]
    return None if requested > RELEASE_CANDIDATE else requested


class Locations:
    """The shop's locations and each one's ``available`` quantity per SKU.

    The primary location's quantities are the store's listings (what shoppers buy from and what
    the channel actor's pushes set, so every shared tool keeps working); every other location
    keeps its own quantities here, for the SKUs stocked there. A variant's ``inventoryQuantity``
    is the sum over the locations that stock it (MARKETPLACES.md, Shopify, "Catalog":
    "``inventoryQuantity`` sums all locations").
    """

    def __init__(self, store: SimulatedStore, primary: str, others: Sequence[str]) -> None:
        self.store, self.primary = store, primary
        self.others: dict[str, dict[str, int]] = {loc: {} for loc in others if loc != primary}

    @property
    def ids(self) -> list[str]:
        return [self.primary, *self.others]

    def seed(self, sku: str, quantities: Mapping[str, Any]) -> None:
        """Stock ``sku`` at other locations: ``{location gid: quantity}`` (the primary is the listing)."""
        with self.store.lock:
            for location, qty in quantities.items():
                if location not in self.others:
                    raise ValueError(f"unknown location {location!r} (the shop has {self.ids})")
                if type(qty) is not int or qty < 0:
                    raise ValueError(f"bad quantity {qty!r} for {sku} at {location}")
                self.others[location][sku] = qty

    def clear(self) -> None:
        with self.store.lock:
            for levels in self.others.values():
                levels.clear()

    def level(self, sku: str, location: str) -> int | None:
        """``available`` of ``sku`` at ``location`` (None: unknown location or not stocked there)."""
        with self.store.lock:
            if location == self.primary:
                listing = self.store.listings.get(sku)
                return None if listing is None else listing.quantity
            levels = self.others.get(location)
            return None if levels is None else levels.get(sku)

    def total(self, sku: str) -> int:
        with self.store.lock:
            listing = self.store.listings.get(sku)
            return (0 if listing is None else listing.quantity) + sum(
                levels.get(sku, 0) for levels in self.others.values()
            )

    def write(self, writes: Iterable[tuple[str, str, int]]) -> None:
        """Set ``(sku, location, quantity)`` levels; the primary's are recorded as received pushes."""
        primary: list[tuple[str, int]] = []
        with self.store.lock:
            for sku, location, qty in writes:
                if location == self.primary:
                    primary.append((sku, qty))
                else:
                    self.others[location][sku] = qty
        self.store.set_quantities(primary)


QUANTITY_NAMES = frozenset({"available", "on_hand", "committed", "reserved", "damaged", "incoming"})
"""Quantity names a level answers (shopify.dev "InventoryQuantity": named quantities per location).
The simulated shop keeps only ``available``: ``on_hand`` reads the same, the others 0."""


def level_answer(quantity: int | None, names: Sequence[str]) -> dict[str, Any] | None:
    """An ``InventoryLevel`` answer with ``quantities(names:)`` (None when not stocked there)."""
    if quantity is None:
        return None
    values = {"available": quantity, "on_hand": quantity}
    return {"quantities": [{"name": n, "quantity": values.get(n, 0)} for n in names]}


@dataclass
class Remembered:
    fingerprint: bytes
    payload: dict[str, Any]
    at: float


@dataclass
class IdempotencyKeys:
    """What the shop remembers of each ``@idempotent`` key.

    "If you retry the same request with the same idempotency key ... Shopify will recognize it as a
    duplicate and ensure the inventory is only adjusted once ... It will return the result of the
    original operation instead of creating a new one" (shopify.dev changelog "Making idempotency
    mandatory for inventory adjustments and refund mutations"); "The same idempotency key cannot be
    used with different operation parameters" (``IDEMPOTENCY_KEY_PARAMETER_MISMATCH``, enum
    ``InventorySetQuantitiesUserErrorCode``, 2026-01 onwards). "The same request" is compared by its
    mutation variables ("a 'duplicate request' is one that has the same mutation variables",
    shopify.dev "Implementing idempotency"). How long Shopify keeps a key is *unverified*:
    ``ttl_s`` (24 h here). Every executed call is remembered, its user errors included (a replayed
    stale answer stays stale: a new attempt needs a new key).
    """

    ttl_s: float = 86400.0
    clock: Callable[[], float] = time.time
    _seen: dict[str, Remembered] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def fingerprint(variables: Any) -> bytes:
        return orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)

    def recall(self, key: str, fingerprint: bytes) -> tuple[str, dict[str, Any] | None]:
        """``("new", None)``, ``("replay", payload)`` or ``("mismatch", None)`` for ``key``."""
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.at > self.ttl_s:
                del self._seen[key]
                seen = None
        if seen is None:
            return "new", None
        return ("replay", seen.payload) if seen.fingerprint == fingerprint else ("mismatch", None)

    def remember(self, key: str, fingerprint: bytes, payload: dict[str, Any]) -> None:
        with self._lock:
            self._seen[key] = Remembered(fingerprint, payload, self.clock())


IDEMPOTENT_RE = re.compile(r"\)\s*@idempotent\s*\(\s*key\s*:\s*(\"(?:[^\"\\]|\\.)*\"|\$\w+)\s*\)")
"""The directive right after ``inventorySetQuantities(input: ...)``: ``@idempotent(key: "...")``
(shopify.dev "Idempotent requests", "Idempotency directives"; example in the changelog above)."""
LEVEL_RE = re.compile(r"\binventoryLevel\s*\(\s*locationId\s*:\s*(\$\w+|\"(?:[^\"\\]|\\.)*\")\s*\)")
NAMES_RE = re.compile(r"\bquantities\s*\(\s*names\s*:\s*(\[[^\]]*\]|\$\w+)\s*\)")
NODES_RE = re.compile(r"\bnodes\s*\(\s*ids\s*:\s*(\$\w+)\s*\)")


def argument(text: str, variables: Mapping[str, Any]) -> Any:
    """A GraphQL argument value: a ``$variable`` or a JSON-compatible literal."""
    if text.startswith("$"):
        return variables.get(text[1:])
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def idempotency_key(query: str, set_match_end: int, variables: Mapping[str, Any]) -> str | None:
    """The ``@idempotent`` key that follows the mutation's arguments (None when there is none)."""
    m = IDEMPOTENT_RE.match(query, set_match_end - 1)
    if m is None:
        return None
    key = argument(m.group(1), variables)
    return key if isinstance(key, str) and key else None


def level_selection(query: str, variables: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """``(location id, quantity names)`` of an ``inventoryLevel(locationId:) { quantities(names:) }``
    selection in ``query`` (None when the query selects no level)."""
    m = LEVEL_RE.search(query)
    if m is None:
        return None
    location = argument(m.group(1), variables)
    n = NAMES_RE.search(query, m.end())
    names = argument(n.group(1), variables) if n else ["available"]
    if not isinstance(location, str) or not isinstance(names, list):
        return None
    return location, [str(name) for name in names]
