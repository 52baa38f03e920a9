"""What a local stack is made of: ``StackSpec``, and the simulators and config built from it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.shopify.outbound import gid
from adapters.shopify.sim.app import ShopifySimulator
from adapters.sim.core import Faults
from adapters.woocommerce.sim.app import WooCommerceSimulator
from engine.channel_sync import rules_for
from engine.config import ChannelConfig, Config, EngineConfig, GatewayConfig, StoreConfig

Simulator = ShopifySimulator | WooCommerceSimulator
KINDS = ("shopify", "woocommerce")


@dataclass
class StackSpec:
    """Everything a ``LocalStack`` needs to know; every field has a small default.

    - ``skus`` SKUs named ``sku_format.format(i)``, each starting at ``initial_quantity`` units (an
      int, or a function of the SKU's index); the first ``hot_skus`` are the hot ones shoppers favour.
    - ``shopify_accounts`` / ``woocommerce_accounts``: one simulator and one channel per account,
      ids ``shop-1``, ``woo-1``...
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

    def channel_ids(self) -> list[tuple[str, str]]:
        """``(channel id, kind)`` for every account, Shopify first."""
        return [(f"shop-{i + 1}", "shopify") for i in range(self.shopify_accounts)] + [
            (f"woo-{i + 1}", "woocommerce") for i in range(self.woocommerce_accounts)
        ]

    def per_channel(self, table: Mapping[str, Any], channel_id: str, kind: str) -> dict[str, Any]:
        """``table``'s entry for the kind, overridden by the entry for the id (both optional)."""
        return {**dict(table.get(kind) or {}), **dict(table.get(channel_id) or {})}


@dataclass
class Account:
    """One channel account: its simulator (in this process), where it is served, its channel config."""

    channel_id: str
    kind: str
    simulator: Simulator
    channel: ChannelConfig
    url: str = ""

    @property
    def store(self) -> Any:
        return self.simulator.store


def make_account(spec: StackSpec, channel_id: str, kind: str) -> Account:
    """A simulator with fresh secrets and the matching channel config (``base_url`` set once served)."""
    options = spec.per_channel(spec.simulator_options, channel_id, kind)
    faults = spec.faults.get(channel_id) or spec.faults.get(kind)
    webhook_secret = secrets.token_urlsafe(24)
    extras = spec.per_channel(spec.channel_extras, channel_id, kind)
    sim: Simulator
    if kind == "shopify":
        token = "shpat_" + secrets.token_hex(16)
        sim = ShopifySimulator(
            access_token=token,
            webhook_secret=webhook_secret,
            shop_domain=f"{channel_id}.myshopify.com",
            faults=faults,
            **options,
        )
        channel = ChannelConfig(
            id=channel_id,
            kind=kind,
            webhook_secret=webhook_secret,
            access_token=token,
            location_id=sim.location_id,
            **extras,
        )
    elif kind == "woocommerce":
        key, secret = "ck_" + secrets.token_hex(16), "cs_" + secrets.token_hex(16)
        sim = WooCommerceSimulator(
            consumer_key=key,
            consumer_secret=secret,
            webhook_secret=webhook_secret,
            source_url=f"https://{channel_id}.example/",
            faults=faults,
            **options,
        )
        channel = ChannelConfig(
            id=channel_id,
            kind=kind,
            webhook_secret=webhook_secret,
            consumer_key=key,
            consumer_secret=secret,
            **extras,
        )
    else:
        raise ValueError(f"no simulator for kind {kind!r} (one of {', '.join(KINDS)})")
    return Account(channel_id, kind, sim, channel)


def seed_simulator(account: Account, quantities: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """List every SKU at what the channel would list for the initial stock (its buffer rules applied);
    returns the channel catalog (SKU -> ids) in the form the adapter's catalog import produces."""
    rules = rules_for(account.channel)
    items = [{"sku": sku, "quantity": max(0, rules.listed(sku, q))} for sku, q in quantities.items()]
    ids = account.simulator.seed(items, reset=True)
    if account.kind != "shopify":
        return ids
    location = gid("Location", account.channel.location_id)  # type: ignore[attr-defined]
    return {
        sku: {
            "inventory_item_id": i["inventory_item_id"],
            "variant_id": gid("ProductVariant", i["variant_id"]),
            "location_id": location,
        }
        for sku, i in ids.items()
    }


def build_config(spec: StackSpec, accounts: list[Account], redis_url: str, key_prefix: str) -> Config:
    """The deployment's config: the store, a fresh admin token, the shards, one channel per account."""
    return Config(
        store=StoreConfig(redis_url=redis_url, key_prefix=key_prefix),
        gateway=GatewayConfig(port=0, admin_token=secrets.token_urlsafe(24)),
        engine=EngineConfig(shards=spec.shards),
        channels=[a.channel for a in accounts],
    )
