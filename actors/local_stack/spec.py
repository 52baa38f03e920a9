"""What a local stack is made of: ``StackSpec``, and the simulators and config built from it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.sim.account import SimAccount, account_type, kinds, prefix
from adapters.sim.core import Faults
from engine.channel_sync import rules_for
from engine.config import ChannelConfig, Config, EngineConfig, GatewayConfig, StoreConfig


def parse_channels(text: str) -> dict[str, int]:
    """``"shopify:2,amazon:1"`` -> ``{"shopify": 2, "amazon": 1}`` (a kind alone counts 1);
    ``ValueError`` naming an unknown kind (and the known ones), a repeated kind or a bad count."""
    known, out = kinds(), {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, _, count = part.partition(":")
        kind = kind.strip()
        if kind not in known:
            raise ValueError(f"unknown kind {kind!r} (one of {', '.join(known)})")
        if kind in out:
            raise ValueError(f"{kind} given twice")
        try:
            n = int(count) if count.strip() else 1
        except ValueError:
            raise ValueError(f"{kind}: count {count!r} is not a whole number") from None
        if n < 0:
            raise ValueError(f"{kind}: count {n} is negative")
        out[kind] = n
    if not any(out.values()):
        raise ValueError("no accounts: name at least one kind with a count of 1 or more")
    return out


@dataclass
class StackSpec:
    """Everything a ``LocalStack`` needs to know; every field has a small default.

    - ``skus`` SKUs named ``sku_format.format(i)``, each starting at ``initial_quantity`` units (an
      int, or a function of the SKU's index); the first ``hot_skus`` are the hot ones shoppers favour.
    - ``accounts``: how many accounts of each kind (``{"shopify": 2, "amazon": 1}``; any kind with an
      ``adapters/<kind>/sim/account.py``, see ``adapters.sim.account``): one simulator and one channel
      per account, ids ``<prefix>-<n>`` (``shop-1``, ``woo-1``, ``amz-1``, ``ebay-1``). When None,
      ``shopify_accounts`` / ``woocommerce_accounts`` say it (kept for the callers that set them).
    - ``listed_skus``: by kind or channel id, list only the first N SKUs there (the hot ones first),
      e.g. on a marketplace whose published rate cannot follow 5,000 SKUs in a short demo; the
      channel's catalog, convergence and lag cover only what it lists. Default: every SKU.
    - ``redis_url``: None runs the embedded store (``engine.store.embedded``) in this process.
      ``key_prefix``: None picks a fresh one (and ``stop()`` then deletes its keys from a real Redis).
    - ``channel_extras``: extra ``ChannelConfig`` keys by kind or by channel id (the id wins), e.g.
      ``{"shopify": {"rate_limit": {"per_second": 100, "burst": 1000}}, "woo-1": {"default_buffer": 2}}``.
    - ``simulator_options``: keyword arguments for the simulators by kind or id (``restore_rate``,
      ``rate_limit``...); ``faults``: ``Faults`` by kind or id.
    - ``shopper_rate_per_s`` per simulator and ``shopper_options`` (``ShopperConfig`` fields such as
      ``hot_share``, ``max_units``); shoppers start only when ``LocalStack.start_shoppers`` is called.
    - ``ray_address``: join that cluster; otherwise a running Ray is reused or a local one started.
    - ``gateway``: ``"thread"`` serves it on a thread of this process (light, for tests and the
      demo); ``"process"`` in a child process (``gateway_proc``), for load that needs its own core.
    """

    skus: int = 200
    initial_quantity: int | Callable[[int], int] = 20
    shopify_accounts: int = 1
    woocommerce_accounts: int = 1
    accounts: Mapping[str, int] | None = None
    listed_skus: Mapping[str, int] = field(default_factory=dict)
    hot_skus: int = 0
    redis_url: str | None = None
    key_prefix: str | None = None
    shards: int = 2
    channel_extras: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    simulator_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    faults: Mapping[str, Faults] = field(default_factory=dict)
    shopper_rate_per_s: float = 10.0
    shopper_options: Mapping[str, Any] = field(default_factory=dict)
    sku_format: str = "SKU-{:05d}"
    ray_address: str | None = None
    ray_cpus: int | None = None
    gateway: str = "thread"

    def sku_names(self) -> list[str]:
        return [self.sku_format.format(i) for i in range(self.skus)]

    def hot(self) -> list[str]:
        return self.sku_names()[: self.hot_skus]

    def quantities(self) -> dict[str, int]:
        """Initial master quantity per SKU."""
        q = self.initial_quantity
        return {sku: (q(i) if callable(q) else q) for i, sku in enumerate(self.sku_names())}

    def account_counts(self) -> dict[str, int]:
        """Accounts per kind: ``accounts`` when given, else the Shopify and WooCommerce counts."""
        if self.accounts is not None:
            return dict(self.accounts)
        return {"shopify": self.shopify_accounts, "woocommerce": self.woocommerce_accounts}

    def channel_ids(self) -> list[tuple[str, str]]:
        """``(channel id, kind)`` for every account, kinds in ``account_counts`` order."""
        return [
            (f"{prefix(kind)}-{i + 1}", kind) for kind, n in self.account_counts().items() for i in range(n)
        ]

    def listed_quantities(self, channel_id: str, kind: str) -> dict[str, int]:
        """Initial master quantity of the SKUs this channel lists (``listed_skus``: the first N)."""
        limit = self.listed_skus.get(channel_id, self.listed_skus.get(kind))
        quantities = self.quantities()
        return quantities if limit is None else dict(list(quantities.items())[: max(0, limit)])

    def per_channel(self, table: Mapping[str, Any], channel_id: str, kind: str) -> dict[str, Any]:
        """``table``'s entry for the kind, overridden by the entry for the id (both optional)."""
        return {**dict(table.get(kind) or {}), **dict(table.get(channel_id) or {})}


@dataclass
class Account:
    """One channel account: its simulator (in this process), where it is served, its channel config,
    the SKUs it lists (``skus``: the seeded ones) and the kind's ``SimAccount`` that made it."""

    channel_id: str
    kind: str
    simulator: Any
    channel: ChannelConfig
    url: str = ""
    skus: frozenset[str] = frozenset()
    maker: SimAccount | None = None

    @property
    def store(self) -> Any:
        return self.simulator.store


def new_account(spec: StackSpec, channel_id: str, kind: str) -> SimAccount:
    """The kind's simulator with fresh secrets (``simulator_options`` and ``faults`` applied), unserved."""
    options = spec.per_channel(spec.simulator_options, channel_id, kind)
    faults = spec.faults.get(channel_id) or spec.faults.get(kind)
    return account_type(kind)(channel_id, options, faults)


def make_account(spec: StackSpec, maker: SimAccount, channel_id: str, url: str) -> Account:
    """The account of ``maker``'s simulator served at ``url``: its channel config (``channel_extras``)."""
    extras = spec.per_channel(spec.channel_extras, channel_id, maker.kind)
    return Account(channel_id, maker.kind, maker.simulator, maker.channel(url, extras), url, maker=maker)


def seed_simulator(account: Account, quantities: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """List every SKU of ``quantities`` at what the channel would list for that stock (its buffer rules
    applied); returns the channel catalog (SKU -> ids) in the form the adapter's catalog import produces."""
    assert account.maker is not None
    rules = rules_for(account.channel)
    items = [{"sku": sku, "quantity": max(0, rules.listed(sku, q))} for sku, q in quantities.items()]
    account.skus = frozenset(quantities)
    return account.maker.seed(account.channel, items)


def build_config(spec: StackSpec, accounts: list[Account], redis_url: str, key_prefix: str) -> Config:
    """The deployment's config: the store, a fresh admin token, the shards, one channel per account."""
    return Config(
        store=StoreConfig(redis_url=redis_url, key_prefix=key_prefix),
        gateway=GatewayConfig(port=0, admin_token=secrets.token_urlsafe(24)),
        engine=EngineConfig(shards=spec.shards),
        channels=[a.channel for a in accounts],
    )
