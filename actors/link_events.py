"""The shard link's batch check: events arriving on the link pass the gateway's validation.

A batch from the link is refused whole unless every event is already what ``engine.events``
would make of it (``validate_events``): an event the models refuse (an ``order_placed`` with
quantity -5, an unknown kind or field), one whose values they would coerce (``"5"`` for 5) and
one whose bad lines they would set aside are refused, so the shard decides exactly what was
checked (only ``key`` and ``txn`` may be longer, see ``MAX_ID``, and a part of an event split
across shards carries ``fp`` and ``vss``). Fields left out are not filled in here (the ledger
reads them with the models' defaults), so a batch is decided the same way over the link as over
a Ray call. It costs the shard about 7-12 microseconds an event on the 2-core development machine
(the gateway pays the same to validate at the edge).

The pydantic models are imported on the first batch, off the event loop: a shard process does
not import pydantic to start (``engine.wire``), and its restart is not slowed by the check.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import Any

import orjson

MAX_ID = 1024
"""Longest idempotency key (``key``) or transaction id (``txn``) taken. The models allow 400 at
the edge, and inside the system both grow: the gateway prefixes keys with the channel id
(``actors.gateway.webhooks.scope_keys``), the order coordinator builds ``<channel>:<key>`` ids and
``<txn>:<step>`` keys (``engine.two_phase``). The rest of an event is held to the models' rules."""
_IDS = ("key", "txn")
_ROUTING = ("fp", "vss")
"""What ``engine.partition`` adds to each part of an event split across shards: the whole event's
fingerprint and every virtual shard it touches (the models know neither)."""
MAX_VSHARDS = 65536
"""``engine.vshards``' upper bound."""
Validate = Callable[[list[Any]], list[dict[str, Any]]]
_validate: Validate | None = None


def _load() -> Validate:
    events = importlib.import_module("engine.events")
    validate: Validate = events.validate_events
    return validate


async def _validator() -> Validate:
    global _validate
    if _validate is None:  # batches that arrive during the first import each wait for it (it is one)
        _validate = await asyncio.to_thread(_load)
    return _validate


async def check_batch(blob: bytes) -> None:
    """Raise ``ValueError`` naming the first event that is not in its validated form."""
    validate = await _validator()
    try:
        raw = orjson.loads(blob)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise ValueError("a batch is a list of events")
    for i, event in enumerate(raw):
        _own_fields(i, event)
    probe = [{k: "x" if k in _IDS else v for k, v in e.items() if k not in _ROUTING} for e in raw]
    try:
        canonical = validate(probe)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError; its location names the event
        raise ValueError(f"event refused: {_first_error(exc)}") from None
    for i, (event, checked) in enumerate(zip(raw, canonical, strict=True)):
        checked.update({k: event[k] for k in (*_IDS, *_ROUTING) if k in event})
        if "invalid" in checked or not _same(event, checked):
            raise ValueError(f"event {i} refused: not in its validated form")


def _own_fields(i: int, event: dict[str, Any]) -> None:
    """The fields the system adds or lengthens after the edge, checked by hand."""
    for name in _IDS:
        value = event.get(name, "x")
        if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
            raise ValueError(f"event {i} refused: {name} must be a string of 1 to {MAX_ID} characters")
    fp, vss = event.get("fp", ""), event.get("vss", [])
    if not isinstance(fp, str) or len(fp) > 64:
        raise ValueError(f"event {i} refused: fp must be a digest")
    if not (isinstance(vss, list) and len(vss) <= MAX_VSHARDS and all(_vshard(v) for v in vss)):
        raise ValueError(f"event {i} refused: vss must list virtual shards")


def _vshard(value: Any) -> bool:
    return type(value) is int and 0 <= value < MAX_VSHARDS


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    err = errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def _same(raw: Any, canonical: Any) -> bool:
    """``raw`` holds nothing that validation changed: every field it has (at any depth) has the
    value and JSON type validation gives it (fields it lacks take the defaults)."""
    if isinstance(raw, dict):
        return isinstance(canonical, dict) and all(
            k in canonical and _same(v, canonical[k]) for k, v in raw.items()
        )
    if isinstance(raw, list):
        return (
            isinstance(canonical, list)
            and len(raw) == len(canonical)
            and all(_same(a, b) for a, b in zip(raw, canonical, strict=True))
        )
    if isinstance(raw, bool) or isinstance(canonical, bool):
        return type(raw) is type(canonical) and raw == canonical
    if isinstance(raw, int) and isinstance(canonical, float):
        return raw == canonical  # JSON writes 0.0 as 0 in some encoders: the same number
    return type(raw) is type(canonical) and raw == canonical
