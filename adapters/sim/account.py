"""What a marketplace kind gives the local stack (``actors.local_stack``): demo accounts of its simulator.

The stack never names a kind. A kind joins it by adding ``adapters/<kind>/sim/account.py`` defining
``ACCOUNT``: a callable (usually the class) taking ``(channel_id, options, faults)`` and returning a
``SimAccount``: one simulator of the kind with fresh secrets (``options``: the simulator's keyword
arguments, ``faults``: its ``Faults`` or None). ``kinds()`` lists those files, ``account_type(kind)``
loads one. Nothing else in the tree changes.

A ``SimAccount`` speaks for its simulator:

- ``prefix``: how the stack names the kind's channels (``shop`` -> ``shop-1``, ``shop-2``...).
- ``simulator``: the simulator (its ``app`` is served by the stack; its ``store``, ``render_webhook``
  and ``accepts`` are what the simulated shoppers use: each sale's webhook signed as the kind signs it).
- ``channel(url, extras)``: the ``ChannelConfig`` of a channel of this kind whose every URL points at
  the simulator served at ``url``, credentials and webhook secret included, ``extras`` added.
- ``seed(channel, items)``: list ``items`` (``{"sku", "quantity"}``) on the simulator, replacing
  what it listed, and return the channel's catalog (SKU -> ids) exactly as the kind's outbound
  adapter's ``import_catalog`` would read it, so the stack can store it without an import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from adapters.sim.core import Faults
from engine.config import ChannelConfig


class SimAccount(Protocol):
    """One demo account of a kind: its simulator with fresh secrets (see the module docstring)."""

    kind: str
    prefix: str
    simulator: Any

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig: ...

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]: ...


AccountType = Callable[[str, Mapping[str, Any], Faults | None], SimAccount]


def kinds() -> list[str]:
    """Every kind with demo accounts: the ``adapters/<kind>/sim/account.py`` files."""
    root = Path(__file__).resolve().parents[1]
    return sorted(p.parents[1].name for p in root.glob("*/sim/account.py"))


def account_type(kind: str) -> AccountType:
    """The kind's ``ACCOUNT``; ``KeyError`` naming the kind (and the known ones) if it has none."""
    if kind not in kinds():
        raise KeyError(f"no simulated accounts for kind {kind!r} (one of {', '.join(kinds())})")
    made: AccountType = importlib.import_module(f"adapters.{kind}.sim.account").ACCOUNT
    return made


def prefix(kind: str) -> str:
    """The channel id prefix of the kind's accounts."""
    return str(getattr(account_type(kind), "prefix", kind))
