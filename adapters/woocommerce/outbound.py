"""WooCommerce outbound: absolute stock through the REST v3 batch endpoints, catalog from products pages.

A batch request goes to one endpoint: ``POST /wp-json/wc/v3/products/batch`` for simple products,
``POST /wp-json/wc/v3/products/{product_id}/variations/batch`` for the variations of one product. So
``build()`` requires updates that share an endpoint; ``group()`` splits any list into such batches of
at most ``max_batch``. Each item is ``{"id", "manage_stock": true, "stock_quantity": N}``: WooCommerce
keeps ``stock_quantity`` only on products that manage stock.

Facts relied on: WooCommerce caps a batch at 100 items by default (filter
``woocommerce_rest_batch_items_limit``, HTTP 413 above it, from ``WC_REST_Controller::check_batch_limit``)
and answers every item in order, failed ones as ``{"id", "error": {"code", "message", "data"}}``.
Core has no rate limit; hosts add one, so ``default_rate`` (5 requests/s, burst 10) is a guess to
override per channel, and 429 + ``Retry-After`` is honoured.

Credentials: channel extras ``consumer_key`` and ``consumer_secret`` (HTTP Basic, so HTTPS only in
production), else ``access_token`` as ``"key:secret"``. Other extras: ``max_batch``, ``catalog_page_size``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.base import ListingUpdate, PushResult
from adapters.http_retry import backoff, retry_after
from engine.config import ChannelConfig

API = "/wp-json/wc/v3"


class CatalogImportError(RuntimeError):
    """The catalog could not be read (refused credentials, an error answer, retries exhausted)."""


def endpoint(update: ListingUpdate) -> str:
    """The batch path under ``/wp-json/wc/v3`` that can carry ``update``."""
    if update.ids.get("variation_id") is not None:
        return f"/products/{update.ids['product_id']}/variations/batch"
    return "/products/batch"


def item_id(update: ListingUpdate) -> int:
    """The id WooCommerce knows the listing by: the variation's for variations, else the product's."""
    return int(update.ids.get("variation_id") or update.ids["product_id"])


def auth_header(channel: ChannelConfig) -> dict[str, str]:
    key, secret = getattr(channel, "consumer_key", None), getattr(channel, "consumer_secret", None)
    if not key or not secret:
        key, _, secret = channel.access_token.get_secret_value().partition(":")
    if not key or not secret:
        raise ValueError(
            f"channel {channel.id}: set consumer_key and consumer_secret (or access_token 'key:secret')"
        )
    token = base64.b64encode(f"{_secret(key)}:{_secret(secret)}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": "application/json"}


def _secret(value: Any) -> str:
    """Extras may arrive as plain strings or as SecretStr."""
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value)


@dataclass
class WooCommerceOutbound:
    """The WooCommerce ``OutboundAdapter``: one batch request per endpoint, up to ``max_batch`` items.

    ``cost`` is one unit per request (budgets are requests/s). ``for_channel`` applies the channel's
    ``max_batch`` / ``catalog_page_size`` extras; ``sleep`` is injectable for tests.
    """

    kind: str = "woocommerce"
    max_batch: int = 100
    default_rate: tuple[float, float] = (5.0, 10.0)
    default_rate_guess: str = "WooCommerce core has no rate limit; hosts and firewalls set one"
    catalog_page_size: int = 100
    max_attempts: int = 10
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def for_channel(self, channel: ChannelConfig) -> WooCommerceOutbound:
        return replace(
            self,
            max_batch=int(getattr(channel, "max_batch", self.max_batch)),
            catalog_page_size=int(getattr(channel, "catalog_page_size", self.catalog_page_size)),
        )

    def cost(self, updates: list[ListingUpdate]) -> float:
        return 1.0

    def group(self, updates: list[ListingUpdate]) -> list[list[ListingUpdate]]:
        """Split into batches that ``build`` accepts: one endpoint each, at most ``max_batch`` long."""
        by_endpoint: dict[str, list[ListingUpdate]] = {}
        for update in updates:
            by_endpoint.setdefault(endpoint(update), []).append(update)
        return [
            batch[i : i + self.max_batch]
            for batch in by_endpoint.values()
            for i in range(0, len(batch), self.max_batch)
        ]

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        """One batch request; ValueError unless ``updates`` share one endpoint and fit ``max_batch``."""
        if not updates or len(updates) > self.max_batch:
            raise ValueError(f"a WooCommerce batch carries 1..{self.max_batch} updates, not {len(updates)}")
        paths = {endpoint(u) for u in updates}
        if len(paths) != 1:
            raise ValueError(f"updates span {len(paths)} endpoints; split them with group() first")
        if len({item_id(u) for u in updates}) != len(updates):
            raise ValueError("a WooCommerce batch must name each listing once (coalesce first)")
        items = [{"id": item_id(u), "manage_stock": True, "stock_quantity": u.quantity} for u in updates]
        url = f"{channel.base_url.rstrip('/')}{API}{paths.pop()}"
        headers = {**auth_header(channel), "Content-Type": "application/json"}
        return httpx.Request("POST", url, content=orjson.dumps({"update": items}), headers=headers)

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        if status == 429 or status >= 500:
            return PushResult(retry=skus, retry_after_s=retry_after(response))
        if not 200 <= status < 300:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {response.text[:200]}"))
        try:
            answered = orjson.loads(response.content).get("update") or []
        except (orjson.JSONDecodeError, AttributeError):
            return PushResult(retry=skus)
        by_id = {item.get("id"): item for item in answered if isinstance(item, dict)}
        result = PushResult()
        for update in updates:
            _classify(result, update.sku, by_id.get(item_id(update)))
        return result

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """``{sku: {"product_id"}}`` for simple products, ``{"product_id", "variation_id"}`` for variations.

        A variable product's own SKU is left out: its stock lives on the variations.
        """
        base, headers = f"{channel.base_url.rstrip('/')}{API}", auth_header(channel)
        out: dict[str, dict[str, Any]] = {}
        async for product in self._pages(client, f"{base}/products", headers):
            if product.get("type") == "variable":
                async for variation in self._pages(
                    client, f"{base}/products/{product['id']}/variations", headers
                ):
                    if variation.get("sku"):
                        out.setdefault(
                            variation["sku"], {"product_id": product["id"], "variation_id": variation["id"]}
                        )
            elif product.get("sku"):
                out.setdefault(product["sku"], {"product_id": product["id"]})
        return out

    async def _pages(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str]
    ) -> AsyncIterator[Any]:
        page, pages = 1, 1
        while page <= pages:
            response = await self._get(client, url, headers, {"per_page": self._per_page(), "page": page})
            rows = orjson.loads(response.content)
            if not isinstance(rows, list):
                raise CatalogImportError(f"expected a JSON list from {url}, got {response.text[:200]}")
            # Without X-WP-TotalPages (some proxies strip it), keep going while pages come back full.
            full = len(rows) == self._per_page()
            pages = int(response.headers.get("x-wp-totalpages", page + 1 if full else page))
            for row in rows:
                yield row
            if not rows:
                return
            page += 1

    def _per_page(self) -> int:
        """WordPress caps ``per_page`` at 100."""
        return max(1, min(100, self.catalog_page_size))

    async def _get(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, int]
    ) -> httpx.Response:
        for attempt in range(self.max_attempts):
            response = await client.get(url, params=params, headers=headers)
            if response.status_code == 429 or response.status_code >= 500:
                await self.sleep(retry_after(response) or backoff(attempt))
                continue
            if response.status_code != 200:
                raise CatalogImportError(
                    f"WooCommerce answered HTTP {response.status_code}: {response.text[:200]}"
                )
            return response
        raise CatalogImportError(f"gave up on {url} after {self.max_attempts} attempts")


def _classify(result: PushResult, sku: str, item: dict[str, Any] | None) -> None:
    """One batch item: missing from the answer -> retry; an error -> failed (retry if 429/5xx); else ok."""
    if item is None:
        result.retry.append(sku)
        return
    error = item.get("error")
    if not error:
        result.ok.append(sku)
        return
    status = int((error.get("data") or {}).get("status") or 400) if isinstance(error, dict) else 400
    if status == 429 or status >= 500:
        result.retry.append(sku)
    else:
        detail = f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else str(error)
        result.failed[sku] = detail
