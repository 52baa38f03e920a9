"""WooCommerce outbound: absolute stock through the REST v3 batch endpoints, catalog from products pages.

A batch request goes to one endpoint: ``POST /wp-json/wc/v3/products/batch`` for products (simple
ones, and variable parents that keep their variations' stock), ``POST
/wp-json/wc/v3/products/{product_id}/variations/batch`` for the variations of one product. So
``build()`` requires updates that share an endpoint; ``group()`` splits any list into such batches of
at most ``max_batch``. A product item is ``{"id", "manage_stock": true, "stock_quantity": N}``
(WooCommerce keeps ``stock_quantity`` only on products that manage stock). A variation item is
``{"id", "stock_quantity": N}``, with ``"manage_stock": true`` only when the catalog import saw the
variation manage no stock at all (ids ``enable_stock``): switching it on for a variation whose parent
manages stock would give it a count of its own and split the parent's shared pool
(``WC_REST_Product_Variations_Controller::prepare_object_for_database`` sets the flag as sent).

Catalog (``import_catalog``), following where core keeps a variation's stock
(``WC_Product_Variation::get_stock_managed_by_id``, view-context ``get_manage_stock`` /
``get_stock_quantity`` / ``get_sku``): a variation shown with ``manage_stock: "parent"`` maps to its
parent (``{"product_id"}``: pushes write the parent's stock), and so does a variation showing its
parent's SKU (it has none of its own), unless it keeps stock of its own, which leaves that SKU
ambiguous (several variations would share it) and out of the catalog; a variable parent managing
stock lists its own SKU the same way. Two SKUs whose stock is one parent's pool cannot be kept apart
(WooCommerce has one count for both): each maps to the parent and the last push wins.

Facts relied on: WooCommerce caps a batch at 100 items by default (filter
``woocommerce_rest_batch_items_limit``, HTTP 413 above it, from ``WC_REST_Controller::check_batch_limit``)
and answers every item in order, failed ones as ``{"id", "error": {"code", "message", "data"}}``.
Core has no rate limit; hosts add one, so ``default_rate`` (5 requests/s, burst 10) is a guess to
override per channel, and 429 + ``Retry-After`` is honoured.

Credentials: channel extras ``consumer_key`` and ``consumer_secret`` (HTTP Basic, so HTTPS only in
production), else ``access_token`` as ``"key:secret"``. Hosts that strip the ``Authorization`` header
need ``query_string_auth = true`` (a typed key of the woocommerce kind, ``engine.config``): the pair
then goes as ``consumer_key`` / ``consumer_secret`` query parameters, which WooCommerce accepts over
HTTPS (``WC_REST_Authentication::perform_basic_authentication``); such URLs carry the secret, so no
error message here shows a URL with its query. Other extras: ``max_batch``, ``catalog_page_size``.
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


def batch_item(update: ListingUpdate) -> dict[str, Any]:
    """One ``update`` item (see the module docstring for when ``manage_stock`` is sent)."""
    item: dict[str, Any] = {"id": item_id(update)}
    if update.ids.get("variation_id") is None or update.ids.get("enable_stock") is True:
        item["manage_stock"] = True
    item["stock_quantity"] = update.quantity
    return item


def credentials(channel: ChannelConfig) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters that authenticate a request to ``channel``.

    HTTP Basic by default; with the channel's ``query_string_auth`` the consumer key and secret go in
    the query string instead (for hosts that strip ``Authorization``).
    """
    key, secret = getattr(channel, "consumer_key", None), getattr(channel, "consumer_secret", None)
    if not key or not secret:
        key, _, secret = channel.access_token.get_secret_value().partition(":")
    if not key or not secret:
        raise ValueError(
            f"channel {channel.id}: set consumer_key and consumer_secret (or access_token 'key:secret')"
        )
    if getattr(channel, "query_string_auth", False) is True:
        return {"Accept": "application/json"}, {
            "consumer_key": _secret(key),
            "consumer_secret": _secret(secret),
        }
    token = base64.b64encode(f"{_secret(key)}:{_secret(secret)}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": "application/json"}, {}


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
        items = [batch_item(u) for u in updates]
        url = f"{channel.base_url.rstrip('/')}{API}{paths.pop()}"
        headers, params = credentials(channel)
        return httpx.Request(
            "POST",
            url,
            params=params,
            content=orjson.dumps({"update": items}),
            headers={**headers, "Content-Type": "application/json"},
        )

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
        """``{sku: ids}`` for every listing whose stock a push can set (see the module docstring).

        ``{"product_id"}`` for simple products and for stock a variable parent keeps;
        ``{"product_id", "variation_id"}`` (plus ``"enable_stock": true`` when it manages none) for a
        variation with stock of its own.
        """
        base = f"{channel.base_url.rstrip('/')}{API}"
        auth = credentials(channel)
        out: dict[str, dict[str, Any]] = {}
        async for product in self._pages(client, f"{base}/products", auth):
            if product.get("type") == "variable":
                variations = self._pages(client, f"{base}/products/{product['id']}/variations", auth)
                for sku, ids in catalog_entries(product, [v async for v in variations]):
                    out.setdefault(sku, ids)
            elif product.get("sku"):
                out.setdefault(product["sku"], {"product_id": product["id"]})
        return out

    async def _pages(
        self, client: httpx.AsyncClient, url: str, auth: tuple[dict[str, str], dict[str, str]]
    ) -> AsyncIterator[Any]:
        page, pages = 1, 1
        while page <= pages:
            response = await self._get(client, url, auth, {"per_page": self._per_page(), "page": page})
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
        self,
        client: httpx.AsyncClient,
        url: str,
        auth: tuple[dict[str, str], dict[str, str]],
        params: dict[str, int],
    ) -> httpx.Response:
        headers, auth_params = auth
        for attempt in range(self.max_attempts):
            response = await client.get(url, params={**params, **auth_params}, headers=headers)
            if response.status_code == 429 or response.status_code >= 500:
                await self.sleep(retry_after(response) or backoff(attempt))
                continue
            if response.status_code != 200:
                raise CatalogImportError(
                    f"WooCommerce answered HTTP {response.status_code}: {response.text[:200]}"
                )
            return response
        raise CatalogImportError(f"gave up on {url} after {self.max_attempts} attempts")


def catalog_entries(
    product: dict[str, Any], variations: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """``(sku, ids)`` for a variable product and its variations, stock where core keeps it."""
    pid, parent_sku = product["id"], product.get("sku") or ""
    pool = {"product_id": pid}
    out: list[tuple[str, dict[str, Any]]] = []
    if product.get("manage_stock") is True and parent_sku:
        out.append((parent_sku, pool))
    for variation in variations:
        sku, manage = variation.get("sku") or "", variation.get("manage_stock")
        if not sku:
            continue
        if manage == "parent":  # WC_Product_Variation::get_stock_managed_by_id: the parent's stock
            out.append((sku, pool))
        elif sku == parent_sku:  # no SKU of its own: it shows the parent's
            if manage is not True:
                out.append((sku, pool))
            # else: a count of its own under a shared SKU, ambiguous: left out
        else:
            ids: dict[str, Any] = {"product_id": pid, "variation_id": variation["id"]}
            if manage is not True:
                ids["enable_stock"] = True
            out.append((sku, ids))
    return out


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
