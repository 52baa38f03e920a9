"""Reading a running ``LocalStack``: master and listed stock, what each store should list, convergence."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ray

from actors.local_stack.spec import Account
from actors.shard_client import ShardClient
from engine.channel_sync import rules_for


class StackReadings:
    """What ``LocalStack`` offers for checking a run; it fills the attributes declared here."""

    accounts: dict[str, Account]
    channels: dict[str, Any]
    initial: dict[str, int]
    shards: ShardClient | None

    def master(self) -> dict[str, int]:
        """Master available units per SKU, read from the shards."""
        assert self.shards is not None
        return {s: (r or {}).get("available", 0) for s, r in self.shards.get_many(list(self.initial)).items()}

    def listed(self, channel_id: str) -> dict[str, int]:
        """What the channel's simulator lists now, per SKU."""
        store = self.accounts[channel_id].store
        with store.lock:
            return {sku: item.quantity for sku, item in store.listings.items()}

    def expected(self, channel_id: str, master: dict[str, int]) -> dict[str, int]:
        """What the channel should list for ``master``: ``max(0, listed by its buffer rules)``, for
        the SKUs it lists."""
        account = self.accounts[channel_id]
        rules = rules_for(account.channel)
        return {sku: max(0, rules.listed(sku, a)) for sku, a in master.items() if sku in account.skus}

    def channel_stats(self) -> dict[str, dict[str, Any]]:
        return dict(
            zip(self.channels, ray.get([h.stats.remote() for h in self.channels.values()]), strict=True)
        )

    def idle(self) -> bool:
        """Every channel actor has nothing pending or in flight."""
        return all(ray.get([h.idle.remote() for h in self.channels.values()]))

    def divergence(self) -> dict[str, dict[str, tuple[int, int]]]:
        """Per channel, the SKUs whose listing differs from master's: ``{sku: (listed, expected)}``."""
        master = self.master()
        out = {}
        for cid in self.accounts:
            listed, expected = self.listed(cid), self.expected(cid, master)
            out[cid] = {s: (listed.get(s, -1), q) for s, q in expected.items() if listed.get(s) != q}
        return out

    def converged(self) -> bool:
        """Every channel idle and listing exactly what master's current stock calls for."""
        return self.idle() and not any(self.divergence().values())

    def wait_converged(self, timeout_s: float = 60.0, stable_s: float | None = 3.0) -> bool:
        """``settle`` and say whether every store converged."""
        return not self.settle(timeout_s, stable_s)

    def settle(
        self,
        timeout_s: float = 60.0,
        stable_s: float | None = 3.0,
        tick: Callable[[], None] | None = None,
        poll_s: float = 0.2,
    ) -> dict[str, dict[str, tuple[int, int]]]:
        """Wait until every store lists what master says and returns ``{}``; else the channels'
        ``divergence`` once ``timeout_s`` passed or, with ``stable_s``, once the channel actors have
        been idle that long with the same differences (nothing more will move by itself).
        ``tick`` runs every poll (live progress)."""
        end = time.monotonic() + timeout_s
        last: dict[str, dict[str, tuple[int, int]]] = {}
        stable_since = time.monotonic()
        while True:
            if tick is not None:
                tick()
            idle, diverged = self.idle(), {c: d for c, d in self.divergence().items() if d}
            if idle and not diverged:
                return {}
            if not idle or diverged != last:
                last, stable_since = diverged, time.monotonic()
            now = time.monotonic()
            if now > end or (stable_s is not None and now - stable_since > stable_s):
                return diverged
            time.sleep(poll_s)
