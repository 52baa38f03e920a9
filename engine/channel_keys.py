"""Every key a channel's configuration may hold beyond the common ones, typed, per kind.

A channel's table in the config file is checked against ``keys_for(kind)`` (each kind registers its
model from its own package, ``adapters/<kind>/keys.py``): a key no model names
(``rate_limt``, ``defualt_buffer``) is refused as unknown, a value of the wrong type or out of
range is refused naming the key, so a misspelt or mistyped key stops ``serve`` at start-up instead
of leaving a default in force or failing inside a channel actor. Readers take the checked values
from the channel's extras (``ChannelConfig.model_extra``, or as attributes), as before; a key left
out stays absent and each reader applies its own default, named beside each field here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.buffer_rules import BufferRules


class ChannelKeys(BaseModel):
    """Keys every kind accepts; who reads each and its default."""

    model_config = ConfigDict(extra="forbid")

    # actors/channel.py and engine/channel_sync.py (the channel actor's pushes)
    buffer_rules: dict[str, Any] | None = None
    """``{"default": {rule}, "skus": {sku: {rule}}}`` (``engine.buffer_rules``); ``default_buffer``
    is the default rule's ``fixed`` when this has no ``default``."""
    max_attempts: int | None = Field(None, ge=1, le=1000)
    """Pushes of one SKU before it is dead-lettered (6)."""
    retry_base_s: float | None = Field(None, gt=0)
    """First retry delay (0.5), doubled per attempt up to ``retry_cap_s`` (30)."""
    retry_cap_s: float | None = Field(None, gt=0)
    source_guard_s: float | None = Field(None, ge=0)
    """How long a change the channel itself reported is trusted over a push (2)."""
    rate_safety: float | None = Field(None, gt=0, le=1)
    """Share of the rate budget used (0.9)."""
    max_in_flight: int | None = Field(None, ge=1, le=1000)
    """Requests to the channel at once (4)."""
    timeout_s: float | None = Field(None, gt=0)
    """HTTP timeout of a push (10)."""
    correction_reserve: float | None = Field(None, ge=0, le=1)
    """Share of the bucket a reconciliation correction must leave for live updates (0.5)."""
    cas_hear_wait_s: float | None = Field(None, ge=0)
    """How long a compare-and-set miss waits to hear of the channel's sale (1)."""
    cas_risky_s: float | None = Field(None, ge=0)
    cas_risky_batch: int | None = Field(None, ge=1)
    """SKUs answered stale within ``cas_risky_s`` (10) travel at most this many a request (5)."""
    # actors/supervisor.py and actors/reconcile_run.py (reconciliation)
    reconcile_every_s: float | None = Field(None, ge=0)
    """Scheduled reconciliation period (3600; 0 turns it off)."""
    reconcile_rate_share: float | None = Field(None, gt=0, le=1)
    """Share of the rate budget reconciliation's reads take (0.25)."""
    reconcile_lookback_s: float | None = Field(None, gt=0)
    """The first run's order window (86400)."""
    reconcile_overlap_s: float | None = Field(None, ge=0)
    """Orders re-listed before the watermark (300)."""

    @field_validator("buffer_rules")
    @classmethod
    def _rules(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        BufferRules.from_config(value)  # raises ValueError naming the bad rule key or value
        return value


KIND_KEYS: dict[str, type[ChannelKeys]] = {}
"""Per kind, the model its channels' keys are validated (and defaulted) by, as each kind's package
registers it (``register``); a kind no package registered takes ``ChannelKeys`` and keeps its other
keys unchecked (a kind without an adapter reads none of them)."""

SECRET_KEYS: set[str] = set()
"""Keys that must stay strings when they come from the environment (a numeric key is not a number),
every registered kind's."""


def register(kind: str, model: type[ChannelKeys], secrets: tuple[str, ...] = ()) -> None:
    """Make ``model`` the key model of ``kind`` (called by ``adapters/<kind>/keys.py`` on import:
    the engine names no kind, so adding one touches nothing outside its package)."""
    KIND_KEYS[kind] = model
    SECRET_KEYS.update(secrets)


def keys_for(kind: str) -> type[ChannelKeys]:
    return KIND_KEYS.get(kind, ChannelKeys)
