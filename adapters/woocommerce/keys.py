"""Keys of ``kind = "woocommerce"`` channels, typed; registered with the engine's config on import."""

from __future__ import annotations

from pydantic import Field

from engine.channel_keys import ChannelKeys, register


class WooCommerceKeys(ChannelKeys):
    """Keys of ``kind = "woocommerce"`` channels (``adapters.woocommerce``)."""

    query_string_auth: bool = False
    """Send ``consumer_key`` / ``consumer_secret`` as query parameters instead of HTTP Basic, for
    hosts that strip the ``Authorization`` header (WooCommerce accepts both over HTTPS)."""
    consumer_key: str | None = None
    consumer_secret: str | None = None
    """The REST API key pair (else ``access_token`` as ``"key:secret"``)."""
    max_batch: int | None = Field(None, ge=1, le=100)
    """Items per batch request (100, WooCommerce's default cap)."""
    catalog_page_size: int | None = Field(None, ge=1, le=100)
    reconcile_page_size: int | None = Field(None, ge=1, le=100)
    """Products or orders per page when reading (100)."""


register("woocommerce", WooCommerceKeys, secrets=("consumer_key", "consumer_secret"))
