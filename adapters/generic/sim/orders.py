"""Orders of the generic simulator, written in the configured shape: what ``inbound`` paths read.

An order is rendered by writing each field where the channel's paths say it is (``jsonpath.put``:
paths of keys only; a configuration locating fields by array index cannot be simulated), its status
as the first marketplace status ``statuses`` maps to the order's class, its time in ``time_format``.
Every change makes the order strictly later than its last version, at the format's resolution.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.generic.jsonpath import array_of, put
from adapters.generic.keys import InboundSpec, StatusClass, TimeFormat


@dataclass
class SimOrder:
    order_id: str
    created: float
    updated: float
    cls: StatusClass
    lines: list[list[Any]]
    """``[sku, units still claimed, units kept]`` per line."""


def time_value(t: float, fmt: TimeFormat) -> Any:
    if fmt == "unix_s":
        return int(t)
    if fmt == "unix_ms":
        return int(t * 1000)
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def later(previous: float, now: float, fmt: TimeFormat) -> float:
    """A time strictly after ``previous`` at the format's resolution (seconds or milliseconds)."""
    step = 1.0 if fmt == "unix_s" else 0.002
    return max(now, previous + step)


def status_name(spec: InboundSpec, cls: StatusClass) -> str | None:
    """The marketplace status the simulator sends for a class (the first ``statuses`` names)."""
    return next((name for name, c in spec.statuses.items() if c == cls), None)


def order_object(spec: InboundSpec, order: SimOrder) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    put(doc, spec.order_id, order.order_id)
    put(doc, spec.version, time_value(order.updated, spec.time_format))
    if spec.placed_at:
        put(doc, spec.placed_at, time_value(order.created, spec.time_format))
    if spec.status:
        put(doc, spec.status, status_name(spec, order.cls))
    lines = []
    for sku, quantity, kept in order.lines:
        line: dict[str, Any] = {}
        put(line, spec.sku, sku)
        put(line, spec.quantity, quantity)
        if spec.kept:
            put(line, spec.kept, kept)
        lines.append(line)
    put(doc, array_of(spec.lines), lines)
    return doc


def webhook_body(spec: InboundSpec, order: SimOrder) -> dict[str, Any]:
    """The delivery: the order where ``inbound.order`` says, a fresh event id where ``event_id`` says."""
    obj = order_object(spec, order)
    body: dict[str, Any] = obj if spec.order == "$" else {}
    if spec.order != "$":
        put(body, spec.order, obj)
    if spec.event_id:
        put(body, spec.event_id, f"evt-{uuid.uuid4().hex}")
    return body


def check_writable(spec: InboundSpec) -> None:
    """``ValueError`` when the simulator cannot write an order these paths read."""
    probe = SimOrder("1", 0.0, 0.0, "placed", [["S", 1, 0]])
    webhook_body(spec, probe)
    if spec.status and status_name(spec, "placed") is None:
        raise ValueError("inbound.statuses names no status for placed orders")
