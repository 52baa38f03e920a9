"""``LocalStack``: simulators, store, shards, channel actors, gateway and shoppers on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray
import redis
import redis.asyncio as aioredis

from actors.gateway.app import create_app
from actors.gateway.server import BackgroundServer
from actors.local_stack.gateway_proc import GatewayProcess
from actors.local_stack.readings import StackReadings
from actors.local_stack.shoppers import ShopperLoop
from actors.local_stack.spec import (
    Account,
    StackSpec,
    build_config,
    make_account,
    new_account,
    seed_simulator,
)
from actors.runtime import ensure_channels, ensure_shards, kill_channels, kill_shards, start_ray
from actors.shard_client import ShardClient
from adapters.sim.core import serve_in_thread
from adapters.sim.shoppers import ShopperConfig
from engine.channel_records import Synced
from engine.channel_sync import rules_for
from engine.config import Config
from engine.routing import ShardMap
from engine.store.channel_store import ChannelStore
from engine.store.embedded import EmbeddedStore
from engine.store.keys import Keys

log = logging.getLogger(__name__)
SEED_VERSION = 1
"""Master version of a SKU after its first ``stock_set`` under a fresh key prefix."""


class LocalStack(StackReadings):
    """The whole pipeline on this machine, built from a ``StackSpec``; see the package docstring.

    After ``start()``: ``config`` (secrets included), ``gateway_url`` and ``admin_token`` (and
    ``gateway_pid``, this process unless the spec asks for a gateway process),
    ``accounts`` (by channel id: kind, simulator object, its ``store``, ``url``, channel config),
    ``shards`` (a ``ShardClient``), ``channels`` (actor handles by id), ``initial`` (master quantity
    per SKU). ``stop()`` undoes everything ``start()`` did, in reverse, and may be called twice.
    """

    def __init__(self, spec: StackSpec | None = None) -> None:
        self.spec = spec or StackSpec()
        self.accounts: dict[str, Account] = {}
        self.config: Config | None = None
        self.gateway_url = ""
        self.gateway_pid = os.getpid()
        self.admin_token = ""
        self.shards: ShardClient | None = None
        self.channels: dict[str, Any] = {}
        self.initial: dict[str, int] = {}
        self.shopper_loop: ShopperLoop | None = None
        self._undo: list[Callable[[], None]] = []

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Bring everything up; on failure, what was started is stopped again and the error raised."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        spec = self.spec
        self.initial = spec.quantities()
        catalogs = self._start_simulators()
        redis_url, prefix = self._start_store()
        self.config = build_config(spec, list(self.accounts.values()), redis_url, prefix)
        # Catalogs and "already listed" state go in before the actors start. Importing the catalog
        # through the channel's own API is what a real deployment does, but 5,000 Shopify variants
        # through the throttled GraphQL API take about 40 s (a bucket of 1,000 points restored at
        # 100/s, 252 points a page), so the stack stores the simulator's seeded ids directly.
        asyncio.run(self._store_channels(catalogs))
        self._start_actors()
        self._seed_master()
        self._start_gateway()
        self.shopper_loop = ShopperLoop()
        self._undo.append(self.shopper_loop.close)

    def _start_simulators(self) -> dict[str, dict[str, dict[str, Any]]]:
        catalogs = {}
        for cid, kind in self.spec.channel_ids():
            maker = new_account(self.spec, cid, kind)
            url, stop = serve_in_thread(maker.simulator.app)
            self._undo.append(stop)
            account = make_account(self.spec, maker, cid, url)
            catalogs[cid] = seed_simulator(account, self.spec.listed_quantities(cid, kind))
            self.accounts[cid] = account
        return catalogs

    def _start_store(self) -> tuple[str, str]:
        prefix = self.spec.key_prefix or f"stack{uuid.uuid4().hex[:10]}"
        if self.spec.redis_url is None:
            embedded = EmbeddedStore().start(notice_to=None)
            self._undo.append(embedded.stop)
            return embedded.url, prefix
        if self.spec.key_prefix is None:
            url = self.spec.redis_url
            self._undo.append(lambda: _delete_prefix(url, prefix))
        return self.spec.redis_url, prefix

    async def _store_channels(self, catalogs: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Each channel's catalog, and what it lists now: the seed's quantity at the seed's version,
        so the actors start synced (no push of the seed) and skip a sale's source channel at once."""
        assert self.config is not None
        client = aioredis.Redis.from_url(self.config.store.redis_url or "")
        keys = Keys(self.config.store.key_prefix)
        try:
            for cid, account in self.accounts.items():
                store = ChannelStore(client, keys, cid)
                await store.save_catalog(catalogs[cid])
                rules = rules_for(account.channel)
                await store.settle(
                    {
                        sku: Synced(SEED_VERSION, q, max(0, rules.listed(sku, q)))
                        for sku, q in self.initial.items()
                        if sku in account.skus
                    }
                )
        finally:
            await client.aclose()

    def _start_actors(self) -> None:
        assert self.config is not None
        config, url = self.config, self.config.store.redis_url or ""
        if not ray.is_initialized():
            start_ray(self.spec.ray_address, self.spec.ray_cpus)
            self._undo.append(ray.shutdown)
        self._undo.append(lambda: kill_channels(config))
        self._undo.append(self._close_channels)
        self._undo.append(lambda: kill_shards(config))
        # Both wait for their actors' processes to come up: start them side by side. The shards only
        # name the channel actors (fan-out looks them up when it first delivers), so order is free.
        with ThreadPoolExecutor(2) as pool:
            channels = pool.submit(ensure_channels, config, url)
            shards = pool.submit(ensure_shards, config, url, True)
            self.channels, handles = channels.result(), shards.result()
        self.shards = ShardClient(handles, ShardMap(config.engine.shards, config.engine.vshards))

    def _close_channels(self) -> None:
        with contextlib.suppress(Exception):
            ray.get([h.close.remote() for h in self.channels.values()], timeout=10)

    def _seed_master(self) -> None:
        """``stock_set`` every SKU through the shards, then check each landed at ``SEED_VERSION``."""
        assert self.shards is not None
        events = [
            {
                "kind": "stock_set",
                "key": f"seed-{sku}",
                "sku": sku,
                "quantity": q,
                "reason": "seed",
                "at": 0.0,
            }
            for sku, q in self.initial.items()
        ]
        for i in range(0, len(events), 1000):
            self.shards.submit(events[i : i + 1000])
        records = self.shards.get_many(list(self.initial))
        wrong = [s for s, r in records.items() if r is None or r["version"] != SEED_VERSION]
        if wrong:
            raise RuntimeError(f"{len(wrong)} SKUs were not fresh (e.g. {wrong[0]}): use a new key prefix")

    def _start_gateway(self) -> None:
        assert self.config is not None and self.shards is not None
        if self.spec.gateway == "process":
            child = GatewayProcess(self.config, ray.get_runtime_context().gcs_address)
            self._undo.append(child.stop)
            self.gateway_url, self.gateway_pid = child.url, child.proc.pid
        elif self.spec.gateway == "thread":
            server = BackgroundServer(create_app(self.config, self.shards)).start()
            self._undo.append(server.stop)
            self.gateway_url = server.url
        else:
            raise ValueError(f"gateway must be 'thread' or 'process', not {self.spec.gateway!r}")
        self.admin_token = self.config.gateway.admin_token.get_secret_value()

    def stop(self) -> None:
        """Stop shoppers, gateway, actors (detached ones are killed), store and simulators."""
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception:  # keep tearing down the rest
                log.exception("local stack: a stop step failed")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- shoppers ------------------------------------------------------------------------------------

    def start_shoppers(
        self,
        duration_s: float | None = None,
        max_orders: int | None = None,
        rate_per_s: float | None = None,
        **options: Any,
    ) -> None:
        """Shoppers on every simulator, sending webhooks to the gateway, for ``duration_s`` or
        ``max_orders`` each (or until ``stop_shoppers``). ``options`` override ``ShopperConfig`` fields."""
        assert self.shopper_loop is not None
        hot = self.spec.hot()
        configs = {}
        for n, (cid, _account) in enumerate(self.accounts.items()):
            fields: dict[str, Any] = {
                "rate_per_s": rate_per_s or self.spec.shopper_rate_per_s,
                "hot_skus": hot,
                "seed": n + 1,
                **self.spec.shopper_options,
                **options,
            }
            fields["gateway_url"] = self.webhook_url(cid)
            configs[cid] = ShopperConfig(**fields)
        hosts = {cid: a.simulator for cid, a in self.accounts.items()}
        self.shopper_loop.start(hosts, configs, duration_s, max_orders)

    def wait_shoppers(self, timeout_s: float | None = None) -> bool:
        """Block until every shopper run ended by itself; True if all did within ``timeout_s``."""
        assert self.shopper_loop is not None
        return self.shopper_loop.wait(timeout_s)

    def redeliver(self) -> int:
        """Re-send the webhooks of sales whose delivery failed (e.g. timed out under load); returns
        how many. Afterwards every sale carries master's decision (see ``ShopperLoop.redeliver``)."""
        assert self.shopper_loop is not None
        hosts = {cid: a.simulator for cid, a in self.accounts.items()}
        urls = {cid: self.webhook_url(cid) for cid in self.accounts}
        return self.shopper_loop.redeliver(hosts, urls)

    def stop_shoppers(self) -> None:
        assert self.shopper_loop is not None
        self.shopper_loop.stop()

    def webhook_url(self, channel_id: str) -> str:
        return f"{self.gateway_url}/webhooks/{channel_id}"


def _delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()
