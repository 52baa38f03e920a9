"""TikTok Shop outbound: Update Inventory, absolute quantities, the SKUs of one product per call.

``POST /product/202309/products/{product_id}/inventory/update`` with ``{"skus": [{"id": sku_id,
"inventory": [{"warehouse_id", "quantity": N}]}]}`` (MARKETPLACES.md, TikTok Shop;
EcomPHP/tiktokshop-php src/Resources/Product.php ``updateInventory``). One product per call, so
``group`` splits a batch by product; ``per_call`` caps the SKUs of a call (100, or ``max_batch``:
unverified, TikTok's cap is not in the sources). No compare-and-set: the last write wins, the
channel actor serialises writes per SKU and sends the newest value.

Answers: ``code`` 0 can still carry per-SKU failures in ``data.errors[]`` (MARKETPLACES.md), so each
SKU is judged by the errors naming it (``error_sku``: ``detail.sku_id`` or ``sku_id``, unverified
shape); an error naming no SKU fails the whole call's SKUs. A throttle (``api.throttled``) and 5xx
are retried after ``Retry-After`` (else 1 s); a credential error drops the token and retries.
Rate: unpublished (``default_rate_guess``); set ``rate_limit`` to the shop's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from adapters.base import ListingUpdate, PushResult
from adapters.http_retry import retry_after
from adapters.tiktok import api, catalog
from adapters.tiktok.tokens import TikTokTokens, tokens_for
from engine.config import ChannelConfig

PATH = "/product/202309/products/{product_id}/inventory/update"
PER_CALL = 100
RATE_GUESS = (10.0, 10.0)


def per_call(channel: ChannelConfig) -> int:
    return int(getattr(channel, "max_batch", None) or PER_CALL)


def warehouse(channel: ChannelConfig, ids: Any) -> str:
    """The warehouse a SKU's quantity is set in: the channel's ``warehouse_id``, else the SKU's own."""
    chosen = getattr(channel, "warehouse_id", None) or (
        ids.get("warehouse_id") if hasattr(ids, "get") else None
    )
    if not chosen:
        raise ValueError("no warehouse_id: set warehouse_id or import the catalog")
    return str(chosen)


def error_sku(error: dict[str, Any]) -> str | None:
    """The SKU id a ``data.errors[]`` entry names (``detail.sku_id``, else ``sku_id``), or None."""
    detail = error.get("detail")
    found = detail.get("sku_id") if isinstance(detail, dict) else None
    found = found if found is not None else error.get("sku_id")
    return str(found) if found is not None else None


@dataclass
class TikTokOutbound:
    """The TikTok Shop ``OutboundAdapter``; ``for_channel`` binds the channel's tokens and sizes."""

    kind: str = "tiktok"
    max_batch: int = PER_CALL
    default_rate: tuple[float, float] = RATE_GUESS
    default_rate_guess: str = "TikTok Shop publishes no rate limit for Update Inventory in the sources"
    page_size: int = catalog.PAGE_SIZE
    tokens: TikTokTokens | None = None
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def for_channel(self, channel: ChannelConfig) -> TikTokOutbound:
        tokens = tokens_for(channel)
        tokens.kick()
        return replace(
            self,
            tokens=tokens,
            max_batch=per_call(channel),
            page_size=int(getattr(channel, "catalog_page_size", None) or self.page_size),
        )

    def cost(self, updates: list[ListingUpdate]) -> float:
        return 1.0

    def group(self, updates: list[ListingUpdate]) -> list[list[ListingUpdate]]:
        """Batches ``build`` accepts: one product each, at most ``max_batch`` SKUs."""
        by_product: dict[str, list[ListingUpdate]] = {}
        for update in updates:
            ids = update.ids
            key = str(ids.get("product_id") or "") if hasattr(ids, "get") else ""
            by_product.setdefault(key, []).append(update)  # no product: build refuses it alone
        return [
            batch[i : i + self.max_batch]
            for batch in by_product.values()
            for i in range(0, len(batch), self.max_batch)
        ]

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        if not 1 <= len(updates) <= self.max_batch:
            raise ValueError(f"an inventory update carries 1..{self.max_batch} SKUs, not {len(updates)}")
        products = {_product(u) for u in updates}
        if len(products) != 1:
            raise ValueError(f"updates span {len(products)} products; split them with group() first")
        token = (self.tokens or tokens_for(channel)).require()
        skus = [
            {
                "id": str(u.ids["sku_id"]),
                "inventory": [{"warehouse_id": warehouse(channel, u.ids), "quantity": u.quantity}],
            }
            for u in updates
        ]
        path = PATH.format(product_id=products.pop())
        return api.build(channel, token, "POST", path, body={"skus": skus})

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        code, message, data = api.envelope(response)
        status = response.status_code
        if api.throttled(status, code) or status >= 500:
            pause = retry_after(response) or (api.THROTTLE_PAUSE_S if status < 500 else None)
            return PushResult(retry=skus, retry_after_s=pause)
        if api.credential_error(status, code):
            if self.tokens is not None:
                self.tokens.forget(response.request.headers.get(api.TOKEN_HEADER, ""))
            return PushResult(retry=skus)
        if code is None and status == 200:
            return PushResult(retry=skus)  # not TikTok's envelope: nothing says it was written
        if status != 200 or code != 0:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status} code {code}: {message}"[:200]))
        return classify(data, updates)

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """SKU -> ``{"product_id", "sku_id", "warehouse_id", "listed"}`` for every product's SKUs."""
        out: dict[str, dict[str, Any]] = {}
        async for page in catalog.pages(client, channel, self.page_size, sleep=self.sleep):
            out.update(page)
        return out


def classify(data: dict[str, Any], updates: list[ListingUpdate]) -> PushResult:
    """Each SKU by the ``data.errors[]`` entries naming its SKU id; an entry naming none fails all."""
    by_id = {str(u.ids.get("sku_id")): u.sku for u in updates}
    failed: dict[str, str] = {}
    for error in data.get("errors") or []:
        if not isinstance(error, dict):
            continue
        reason = f"code {error.get('code')}: {error.get('message')}"[:200]
        named = error_sku(error)
        targets = [by_id[named]] if named in by_id else ([] if named else list(by_id.values()))
        for sku in targets:
            failed.setdefault(sku, reason)
    return PushResult(ok=[u.sku for u in updates if u.sku not in failed], failed=failed)


def _product(update: ListingUpdate) -> str:
    ids = update.ids
    product = ids.get("product_id") if hasattr(ids, "get") else None
    if not product or not ids.get("sku_id"):
        raise ValueError(f"no product_id/sku_id for {update.sku}: import the catalog")
    return str(product)
